"""The law of the hour's data files (decisions/data) and locating a lead: every row sourced, every zone a real
IANA zone, every state a real code; the files ship inside the layer's package folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from zoneinfo import available_timezones

import pytest
import tf_retainer.decisions
from tf_retainer.decisions.calling import default_rules
from tf_retainer.decisions.location import area_code, area_codes, load, locate, state_code, states, zip3s

LAYER = Path(__file__).resolve().parents[2] / "layers" / "common"
DATA = Path(tf_retainer.decisions.__file__).parent / "data"
FILES = ("area_codes.json", "zip3.json", "states.json", "calling_rules.json")
URL = re.compile(r"https?://\S+")
ZONES = available_timezones()


def rows_with_source(value, path="") -> list[tuple[str, dict]]:
    """Every object in a data file that is a row: one carrying a source, or one that should."""
    found = []
    if isinstance(value, dict):
        if "source" in value or {"states", "zones"} <= value.keys() or "max_contacts" in value or "default" in value:
            found.append((path, value))
        for key, inner in value.items():
            found += rows_with_source(inner, f"{path}.{key}")
    return found


@pytest.mark.parametrize("name", FILES)
def test_every_data_file_has_a_version_and_every_row_a_source_url(name):
    data = load(name)
    assert isinstance(data["version"], str) and data["version"]
    rows = rows_with_source({key: value for key, value in data.items() if key not in ("sources",)})
    assert rows, name
    for path, row in rows:
        assert URL.fullmatch(row.get("source", "")), f"{name}{path} has no source URL"


def test_every_zone_is_an_iana_zone_and_every_state_a_known_code():
    codes = set(states())
    assert len(codes) == 56  # 50 states, DC, PR, VI, GU, MP, AS
    for code, row in states().items():
        assert row["zones"] and set(row["zones"]) <= ZONES, code
    for npa, row in area_codes().items():
        assert re.fullmatch(r"[2-9][0-8]\d", npa) and set(row["states"]) <= codes and set(row["zones"]) <= ZONES, npa
    for prefix, row in zip3s().items():
        assert re.fullmatch(r"\d{3}", prefix), prefix
        assert set(row["states"]) <= codes, prefix
        for zones in (*row["states"].values(), row.get("other_zones", [])):
            assert set(zones) <= ZONES, prefix
    assert set(default_rules().states) <= codes


def test_the_area_codes_cover_every_us_geographic_code_and_nothing_else():
    codes = area_codes()
    assert len(codes) >= 380
    assert {"212", "305", "907", "808", "787", "671", "684", "340", "670", "202"} <= codes.keys()
    assert not {"500", "800", "833", "844", "855", "866", "877", "888", "900", "204", "416", "876"} & codes.keys()
    assert codes["907"]["zones"] == ["America/Anchorage", "America/Adak"]
    assert codes["928"]["zones"] == ["America/Denver", "America/Phoenix"]  # the Navajo Nation keeps DST
    assert codes["602"]["zones"] == ["America/Phoenix"]
    assert set(codes["930"]["zones"]) == set(codes["812"]["zones"]) == {"America/New_York", "America/Chicago"}
    non_geographic = load("area_codes.json")["no_location"]
    assert {"800", "888", "500", "900"} <= non_geographic.keys()


def test_the_data_files_ship_with_the_layer():
    # sam build copies layers/common (the layer's ContentUri) whole: the data must live inside the package.
    assert DATA.is_relative_to(LAYER / "tf_retainer")
    for name in FILES:
        assert json.loads((DATA / name).read_text(encoding="utf-8")) == load(name)


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("(305) 555-0100", "305"),
        ("305.555.0100", "305"),
        ("3055550100", "305"),
        ("1-305-555-0100", "305"),
        ("+1 305 555 0100", "305"),
        ("+13055550100", "305"),
        ("305", "305"),
        ("555-0100", None),
        ("+44 20 7946 0958", None),
        ("105-555-0100", None),  # an area code never starts with 0 or 1
        ("305-155-0100", None),  # nor an exchange
        ("305-555-0100 ext 12", None),
        ("", None),
        (None, None),
    ],
)
def test_the_area_code_of_a_phone_number(phone, code):
    assert area_code(phone) == code


def test_state_and_zip_locate_a_lead_before_its_phone():
    miami = locate("FL", "33101-1234", "212-555-0100")
    assert miami is not None and (miami.states, miami.zones, miami.derived_from) == (
        ("FL",),
        ("America/New_York",),
        "state+zip",
    )
    assert locate(None, "33101", None).derived_from == "zip"
    texas = locate("Texas", None, None)
    assert texas is not None and texas.states == ("TX",) and set(texas.zones) == {"America/Chicago", "America/Denver"}
    by_phone = locate(None, None, "212-555-0100")
    assert by_phone is not None and by_phone.derived_from == "area_code" and by_phone.evidence == {"area_code": "212"}
    assert locate(None, None, "212") == by_phone  # the stored area code alone
    bad = locate("Atlantis", "1234", "212-555-0100")
    assert (
        bad is not None and bad.derived_from == "area_code" and {"state_ignored", "zip_ignored"} <= bad.evidence.keys()
    )
    assert state_code("fl") == "FL" and state_code("district of columbia") == "DC" and state_code("ON") is None


def test_a_zip_that_disagrees_with_the_state_brings_both_states_and_all_their_zones():
    both = locate("GA", "33101", None)
    assert both is not None and both.states == ("GA", "FL")
    assert "disagreement" in both.evidence
    panhandle = locate("AL", "32501", None)  # Pensacola, FL (Central)
    assert panhandle is not None and set(panhandle.states) == {"AL", "FL"}
    assert set(panhandle.zones) == {"America/New_York", "America/Chicago"}


def test_a_zip3_spanning_two_zones_lists_both_and_unknown_zips_locate_nothing():
    assert set(zip3s()["324"]["states"]["FL"]) == {"America/New_York", "America/Chicago"}
    assert locate(None, "09001", None) is None  # APO/FPO: military mail, no US location
    assert locate(None, "00000", None) is None
