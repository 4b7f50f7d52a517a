"""The screens: what an outside provider says about a lead's phone number (a TCPA litigator, on a Do-Not-Call
list, reassigned since consent was given, a dead or refused line), as the service keeps it.

A screen asks about the number in clear (no provider takes a fingerprint), so the number is handled only in
memory: a provider's request and answer are kept with every form of the number replaced by ``[phone]``, and
the number is known in the store only by its ``number_key`` (a keyed token of its E.164 form under the
consumer key, domain/keyring.py: an unkeyed hash of a phone number is reversed by brute force; it keys the
per-number results every lead shares) and, sealed with a KMS key, to screen it again later.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tf_retainer.domain.keyring import Keyring

PHONE_PLACEHOLDER = "[phone]"
# A NANP number: area code and exchange start 2-9 (what every US screen takes; others are not screened).
_NANP = re.compile(r"[2-9]\d{2}[2-9]\d{6}")
_NOT_DIGIT = re.compile(r"\D")


class Screen(StrEnum):
    LITIGATOR = "litigator"  # a known TCPA litigator (or attorney) on the number
    DNC = "dnc"  # national, state or the buyer's internal Do-Not-Call list (and wireless facts)
    REASSIGNED = "reassigned_number"  # disconnected since the consent date (FCC Reassigned Numbers Database)
    PHONE = "phone"  # validity, line type, whether the line is active
    # Not of the number: the lead's second consent record, its Jornaya LeadiD token audited (domain/leadid.py)
    LEADID = "leadid"

    @property
    def of_number(self) -> bool:
        """Whether the screen asks about the lead's phone number (the others ask about the lead itself)."""
        return self is not Screen.LEADID


class Provider(StrEnum):
    BLACKLIST_ALLIANCE = "blacklist_alliance"
    DNCSCRUB = "dncscrub"
    TWILIO_LOOKUP = "twilio_lookup"
    JORNAYA = "jornaya"


# Which providers can answer each screen (a buyer picks one per screen: SCREENS in the settings).
PROVIDERS_FOR: dict[Screen, tuple[Provider, ...]] = {
    Screen.LITIGATOR: (Provider.BLACKLIST_ALLIANCE, Provider.DNCSCRUB),
    Screen.DNC: (Provider.DNCSCRUB,),
    Screen.REASSIGNED: (Provider.DNCSCRUB, Provider.TWILIO_LOOKUP),
    Screen.PHONE: (Provider.TWILIO_LOOKUP,),
    Screen.LEADID: (Provider.JORNAYA,),
}


def national_number(phone: str | None) -> str | None:
    """The 10-digit NANP number in a phone field (a leading 1 or +1 dropped), or None when there is none."""
    if not phone:
        return None
    digits = _NOT_DIGIT.sub("", phone)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if _NANP.fullmatch(digits) else None


def number_key(keyring: Keyring, national: str) -> str:
    """What identifies a number in the store: a keyed token of its E.164 form (its own purpose: never equal to
    the consumer index's token of the same number's fingerprint)."""
    return keyring.token("screen-number", "+1" + national)


def number_forms(national: str) -> tuple[str, ...]:
    """Every way a provider's request or answer may spell the number, longest first (what is redacted)."""
    npa, nxx, line = national[:3], national[3:6], national[6:]
    return (
        f"%2B1{national}",
        f"+1{national}",
        f"({npa}) {nxx}-{line}",
        f"({npa})%20{nxx}-{line}",
        f"{npa}-{nxx}-{line}",
        f"1{national}",
        national,
    )


def redact_number(text: str, national: str) -> str:
    for form in number_forms(national):
        text = text.replace(form, PHONE_PLACEHOLDER)
    return text


class ScreenResult(BaseModel):
    """One screen of one number, as a lead keeps it (``Lead.screens``) and as the per-number results keep it.

    ``answered`` False: the provider failed and its fault policy let the lead go on (``fail_open``); the
    rule could not judge it. ``call_id`` names the call in ``source_lead_id``'s evidence chain (this lead's
    own when it is None); a result taken from another lead's call cost this lead nothing."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    screen: Screen
    provider: Provider
    checked_at: str
    answered: bool = True
    findings: dict[str, Any] = Field(default_factory=dict)
    # reassigned_number: the date consent was given, the date the database was asked about (the safe harbour).
    consent_date: str | None = None
    call_id: str | None = None
    source_lead_id: str | None = None
    cost: float = 0.0
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        """What the history and a verdict show of it."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"screen"})


def answered_in(events: list[dict[str, Any]]) -> dict[str, ScreenResult]:
    """The screens answered in these history events (``screened``), by screen name, the last of each."""
    found: dict[str, ScreenResult] = {}
    for event in events:
        if event.get("type") == "screened":
            result = ScreenResult.model_validate(event.get("detail") or {})
            if result.answered:
                found[result.screen.value] = result
    return found
