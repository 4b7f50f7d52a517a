"""The Blacklist Alliance (litigator scrub) simulator over real HTTP, against
tests/contract/blacklist_alliance.json."""

from __future__ import annotations

import json

import pytest

from local.sims.blacklist_alliance import BlacklistAllianceSimulator, code_level
from tests.support.sims import KEY, check, client

NUMBER = "5125550142"


@pytest.fixture(scope="module")
def simulator():
    with BlacklistAllianceSimulator(api_keys=(KEY,)) as sim:
        yield sim


@pytest.fixture
def sim(simulator):
    simulator.reset()
    simulator.api_keys = frozenset({KEY})
    return simulator


@pytest.fixture
def c(sim):
    with client(sim) as c:
        yield c


def lookup(c, phone: str = NUMBER, ver: str = "v5", key: str = KEY):
    params = check(
        "blacklist_alliance", "requests/SimpleLookupQuery", {"key": key, "phone": phone, "ver": ver, "resp": "json"}
    )
    response = c.get("/lookup", params=params)
    assert response.status_code == 200, response.text
    return check("blacklist_alliance", "responses/Lookup/200", response.json())


def test_an_unscripted_number_is_good(c):
    answer = lookup(c)
    assert (answer["status"], answer["message"], answer["code"], answer["results"]) == ("success", "Good", "", 0)
    assert answer["phone"] == NUMBER and answer["wireless"] == 1 and answer["carrier"]["wireless"] == "Y"


def test_a_listed_number_is_blacklisted_with_its_feeds(c, sim):
    sim.script(NUMBER, codes=["prelitigation1", "plaintiff-primary"])
    answer = lookup(c)
    assert (answer["message"], answer["code"], answer["results"]) == (
        "Blacklisted",
        "prelitigation1,plaintiff-primary",
        1,
    )
    assert code_level(answer["code"].split(",")) == 30


@pytest.mark.parametrize(("codes", "level"), [([], 0), (["screamers"], 5), (["attorney-secondary", "screamers"], 15)])
def test_code_levels_are_activeprospects(codes, level):
    assert code_level(codes) == level


def test_the_carrier_arrives_with_v3(c, sim):
    sim.script(NUMBER, wireless=False, carrier_type="LANDLINE")
    assert "carrier" not in lookup(c, ver="v1")
    carrier = lookup(c, ver="v3")["carrier"]
    assert (carrier["type"], carrier["wireless"]) == ("LANDLINE", "N")


@pytest.mark.parametrize(
    "path",
    [
        f"/standard/api/v5/Lookup/key/{KEY}/phone/{NUMBER}/response/json",
        f"/standard/api/v3/lookup/key/{KEY}/response/json/phone/1{NUMBER}",
    ],
)
def test_the_standard_api_paths_answer_and_the_key_stays_out_of_the_log(c, sim, path):
    response = c.get(path)
    check("blacklist_alliance", "responses/Lookup/200", response.json())
    assert sim.counts() == {NUMBER: 1}
    assert KEY not in json.dumps(sim.requests) and "/key/[redacted]/" in sim.requests[0]["path"]


def test_a_leading_1_is_the_same_number(c, sim):
    lookup(c, "1" + NUMBER)
    lookup(c)
    assert sim.count(NUMBER) == 2


@pytest.mark.parametrize("key", ["wrong", ""])
def test_a_bad_key_is_api_key_not_found(c, sim, key):
    response = c.get("/lookup", params={"key": key, "phone": NUMBER})
    assert (response.status_code, response.text) == (401, "API Key Not Found")
    assert sim.count(NUMBER, status=401) == 1


@pytest.mark.parametrize(
    ("params", "status"),
    [({"phone": "12345"}, 400), ({"phone": NUMBER, "ver": "v4"}, 400), ({"phone": NUMBER, "resp": "xml"}, 400)],
)
def test_bad_input_is_refused(c, params, status):
    assert c.get("/lookup", params={"key": KEY, **params}).status_code == status


def test_raw_answers_the_message_alone(c, sim):
    sim.script(NUMBER, codes=["screamers"])
    assert c.get("/lookup", params={"key": KEY, "phone": NUMBER, "resp": "raw"}).text == "Blacklisted"
