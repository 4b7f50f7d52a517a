"""Where a lead is, for the law of the hour: its state(s) and IANA time zone(s), and what that was derived from.

Sources, in order: the lead's ``state`` and ``zip`` fields when the vendor sent them (validated), else the
area code of its phone. The tables are data shipped in ``decisions/data`` (each with its version and sources):
``states.json`` (every state's zones), ``zip3.json`` (the first three digits of a ZIP code -> states and zones)
and ``area_codes.json`` (US geographic area codes -> state and zones, from NANPA). A code or ZIP not in a table
answers "no location", never a guess.

When several zones apply (an area code or ZIP3 that spans two, a state given without a ZIP), every one of them
is kept: the calling window is the one allowed in all of them.

A ZIP whose ZIP3 is not in the given state: we cannot tell which field is wrong, so both count. The location
is every state named (the given one and the ZIP's) with every zone of each, so every rule of both applies and
the window is the one allowed everywhere; ``evidence`` says they disagree.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tf_retainer.domain.lead import Place

DerivedFrom = Literal["state", "zip", "state+zip", "area_code", "assumed"]

_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")
_AREA_CODE = re.compile(r"[2-9][0-8]\d")  # a NANP area code: N, then 0-8, then X
_NATIONAL = re.compile(r"([2-9][0-8]\d)[2-9]\d{6}")  # NPA + NXX + XXXX
_PHONE_CHARACTERS = re.compile(r"[\d\s()+.\-]+")


def load(name: str) -> dict[str, Any]:
    """One of the package's data files (``decisions/data/<name>``), parsed."""
    text = resources.files("tf_retainer.decisions").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def states() -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = load("states.json")["states"]
    return rows


@lru_cache(maxsize=1)
def zip3s() -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = load("zip3.json")["zip3"]
    return rows


@lru_cache(maxsize=1)
def area_codes() -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = load("area_codes.json")["codes"]
    return rows


@lru_cache(maxsize=1)
def _state_names() -> dict[str, str]:
    return {_plain(row["name"]): code for code, row in states().items()}


class Location(BaseModel):
    """The states and time zones whose rules apply to a lead, and the evidence for them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    states: tuple[str, ...]
    zones: tuple[str, ...]
    derived_from: DerivedFrom
    evidence: dict[str, str]


def area_code(phone: str | None) -> str | None:
    """The area code of a US/NANP phone number, or None when it is not one.

    Accepts national and international spellings with any punctuation: ``(305) 555-0100``, ``305.555.0100``,
    ``1-305-555-0100``, ``+1 305 555 0100``; a bare area code (``305``) is returned as is. The service stores
    this, never the full number. Only the number's shape is checked here: whether the code is a US geographic
    one is ``locate``'s question.
    """
    if phone is None or not _PHONE_CHARACTERS.fullmatch(phone.strip() or "x"):
        return None
    digits = re.sub(r"\D", "", phone)
    if _AREA_CODE.fullmatch(digits):
        return digits
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    matched = _NATIONAL.fullmatch(digits)
    return matched.group(1) if matched else None


def state_code(state: str | None) -> str | None:
    """A USPS state code from a code or a full name (``FL``, ``fl``, ``Florida``); None when not a US state,
    DC or an inhabited territory."""
    if not state or not state.strip():
        return None
    text = state.strip()
    if text.upper() in states():
        return text.upper()
    return _state_names().get(_plain(text))


def zip3(zip_code: str | None) -> str | None:
    """The first three digits of a 5-digit ZIP or ZIP+4 that the table knows; None otherwise."""
    matched = _ZIP.fullmatch((zip_code or "").strip())
    return matched.group(1)[:3] if matched and matched.group(1)[:3] in zip3s() else None


def locate(state: str | None, zip_code: str | None, phone: str | None) -> Location | None:
    """The lead's location: from ``state``/``zip_code`` when given and valid, else from the phone's area code
    (``phone`` may be a full number or the stored 3-digit area code). None when nothing locates the lead."""
    code, prefix = state_code(state), zip3(zip_code)
    evidence = {
        name: value for name, value in (("state", state), ("zip", zip_code)) if value is not None and str(value).strip()
    }
    if state and code is None:
        evidence["state_ignored"] = "not a US state, DC or territory"
    if zip_code and str(zip_code).strip() and prefix is None:
        evidence["zip_ignored"] = "not a known US ZIP code"
    if code and prefix:
        return _state_and_zip(code, prefix, evidence)
    if prefix:
        row = zip3s()[prefix]
        zones = _zones_of_zip3(row, None)
        return Location(states=tuple(row["states"]), zones=zones, derived_from="zip", evidence=evidence)
    if code:
        return Location(states=(code,), zones=tuple(states()[code]["zones"]), derived_from="state", evidence=evidence)
    npa = area_code(phone)
    listed = area_codes().get(npa or "")
    if npa is None or listed is None:
        return None
    evidence["area_code"] = npa
    return Location(
        states=tuple(listed["states"]), zones=tuple(listed["zones"]), derived_from="area_code", evidence=evidence
    )


# A lead's extra fields that may name its state and ZIP (compared lower-case), first found wins.
STATE_FIELDS = ("state", "state_code")
ZIP_FIELDS = ("zip", "zip_code", "zipcode", "postal_code")


def place_from(fields: dict[str, Any], phone: str | None) -> Place | None:
    """``place_of`` from a lead's extra fields (``state``, ``zip`` and their usual spellings) and its phone."""
    lowered = {name.lower(): value for name, value in fields.items()}
    state = next((lowered[name] for name in STATE_FIELDS if lowered.get(name) is not None), None)
    zip_code = next((lowered[name] for name in ZIP_FIELDS if lowered.get(name) is not None), None)
    return place_of(state, zip_code, phone)


def place_of(state: Any, zip_code: Any, phone: str | None) -> Place | None:
    """What intake keeps of where the consumer is: the vendor's state (as a USPS code) and ZIP (five digits)
    when they are valid, and the phone's area code. Never the number; None when nothing is known."""
    code = state_code(state) if isinstance(state, str) else None
    if isinstance(zip_code, int) and not isinstance(zip_code, bool) and 0 <= zip_code <= 99999:
        zip_code = f"{zip_code:05d}"  # a ZIP sent as a JSON number lost its leading zeros
    matched = _ZIP.fullmatch(zip_code.strip()) if isinstance(zip_code, str) else None
    place = Place(state=code, zip=matched.group(1) if matched else None, area_code=area_code(phone))
    return place if place.state or place.zip or place.area_code else None


def locate_place(place: Place | None) -> Location | None:
    """The location of a lead from what intake kept of it."""
    return locate(place.state, place.zip, place.area_code) if place is not None else None


def _state_and_zip(code: str, prefix: str, evidence: dict[str, str]) -> Location:
    row = zip3s()[prefix]
    if code in row["states"]:
        zones = _zones_of_zip3(row, code)
        return Location(states=(code,), zones=zones, derived_from="state+zip", evidence=evidence)
    # They disagree: both count (every rule of both states, every zone of both).
    named = (code, *row["states"])
    zones = _merge(tuple(states()[code]["zones"]), _zones_of_zip3(row, None))
    evidence["disagreement"] = f"ZIP {prefix}xx is in {', '.join(row['states'])}, not {code}: both apply"
    return Location(states=named, zones=zones, derived_from="state+zip", evidence=evidence)


def _zones_of_zip3(row: dict[str, Any], state: str | None) -> tuple[str, ...]:
    if state is not None:
        return tuple(row["states"][state])
    return _merge(*(tuple(zones) for zones in row["states"].values()), tuple(row.get("other_zones", ())))


def _merge(*groups: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        seen.update(dict.fromkeys(group))
    return tuple(seen)


def _plain(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.casefold())
