"""The buyer's screen rules: what a screening provider's answer about the lead's phone number refuses, and
the consent-record rules: what Jornaya's audit of the lead's LeadiD token (its second consent record) refuses.

Each reads the lead's result of one screen (domain/screens.py), as found by a provider at intake or by the
call gate: ``litigator`` (the litigator screen, or DNC.com's scrub, which names litigators too), ``dnc``,
``reassigned_number``, ``phone_valid`` and ``line_type`` (the phone screen). Like every rule: ``enforce``,
``shadow`` or ``off``; a screen that was not answered (no provider, a provider down under fail_open, no US
number) is not judged (``passed`` None), never a refusal. ``max_age_days``: how old an answer the call gate
acts on before it asks again (at most 31: the national registry's rule for Do-Not-Call).

``jornaya`` judges the audit's overall colour (the buyer's audit profile at Jornaya sets each check's) and
refuses a token Jornaya does not vouch for (not issued, expired, queried too often, opted out);
``consent_records`` says which records a lead must carry: ``trustedform`` (its certificate), ``jornaya`` (a
LeadiD token Jornaya vouches for and does not audit red; a certificate optional), ``either`` (a certificate, or
else such a token) or ``both``. Only an enforced ``jornaya`` or ``either`` lets in a lead without a certificate
(leads/intake.py): it is kept on its token alone (leads/token_only.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tf_retainer.decisions.rule_base import Rule
from tf_retainer.domain.models import Reason
from tf_retainer.domain.screens import Screen, ScreenResult

DncList = Literal["national", "state", "internal"]
# Twilio Lookup's line types (Line Type Intelligence), the vocabulary of the phone screen's answers.
LineType = Literal[
    "landline", "mobile", "fixedVoip", "nonFixedVoip", "personal", "tollFree", "premium", "sharedCost", "uan",
    "voicemail", "pager", "unknown",
]  # fmt: skip
MAX_AGE_DAYS = 31
ALL_LISTS: tuple[DncList, ...] = ("national", "state", "internal")


class LitigatorRule(Rule):
    """Refuse a number on a litigator list; with Blacklist Alliance, only from this risk level (0-30:
    screamers 5 ... plaintiff-primary 30)."""

    min_risk_level: int = Field(default=0, ge=0, le=30)
    max_age_days: int = Field(default=MAX_AGE_DAYS, ge=1, le=MAX_AGE_DAYS)


class DncRule(Rule):
    """Refuse a number on these Do-Not-Call lists (and, if asked, a wireless number in a state that forbids
    solicitation to wireless numbers: WY, NJ, TX, LA, AZ)."""

    lists: list[DncList] = Field(default_factory=lambda: list(ALL_LISTS), min_length=1)
    wireless_prohibited_states: bool = False
    max_age_days: int = Field(default=MAX_AGE_DAYS, ge=1, le=MAX_AGE_DAYS)


class ReassignedRule(Rule):
    """Refuse a number disconnected since consent was given (the certificate's created_at). ``no_data``: what
    an answer without data (consent before the database's start, 27 January 2021) does."""

    no_data: Literal["pass", "refuse"] = "pass"
    max_age_days: int = Field(default=1, ge=1, le=MAX_AGE_DAYS)


class PhoneValidRule(Rule):
    """Refuse a number that is not valid, or (``refuse_inactive``) whose line is reported inactive."""

    refuse_inactive: bool = True


class LineTypeRule(Rule):
    refused: list[LineType] = Field(min_length=1)


Colour = Literal["green", "yellow", "red"]
COLOUR_RANK = {"green": 1, "yellow": 2, "red": 3}


class JornayaRule(Rule):
    """Refuse a lead whose LeadiD audit is worse than ``max_result`` (the colour Jornaya gives it under the
    buyer's audit profile), or whose token Jornaya does not vouch for. ``brand_names``: the brands the
    consent must name, sent with the audit (Jornaya's brand-name check, at most 30)."""

    max_result: Literal["green", "yellow"] = "yellow"
    brand_names: list[str] = Field(default_factory=list, max_length=30)

    @field_validator("brand_names")
    @classmethod
    def _sendable(cls, names: list[str]) -> list[str]:
        if any(not name.strip() or "|" in name or len(name) > 100 for name in names):
            raise ValueError("each brand name: 1-100 characters, no '|'")
        return names


Required = Literal["trustedform", "jornaya", "either", "both"]
# The values under which a lead without a TrustedForm certificate is taken (when the rule is enforced).
TOKEN_ALONE: frozenset[str] = frozenset({"jornaya", "either"})


class ConsentRecordsRule(Rule):
    """The consent records a lead must carry. ``trustedform``: its certificate. ``jornaya``: a LeadiD token that
    Jornaya vouches for and does not audit red (a certificate is optional, retained when given). ``either``: a
    certificate, or else such a token. ``both``: a certificate and such a token."""

    required: Required = "both"

    def reads_audit(self, *, certificate: bool) -> bool:
        """Whether this rule judges Jornaya's audit of a lead with (or without) a certificate."""
        return self.required in ("jornaya", "both") or (self.required == "either" and not certificate)

    def takes_token_alone(self) -> bool:
        """Whether a lead without a certificate is let in (kept on its token) under this rule."""
        return self.mode == "enforce" and self.required in TOKEN_ALONE


REASONS = {
    "litigator": Reason.LITIGATOR,
    "dnc": Reason.ON_DNC_LIST,
    "reassigned_number": Reason.NUMBER_REASSIGNED,
    "phone_valid": Reason.PHONE_INVALID,
    "line_type": Reason.LINE_TYPE_REFUSED,
    "consent_records": Reason.CONSENT_RECORD_MISSING,
    "jornaya": Reason.JORNAYA_AUDIT_FAILED,
}
# The screens each rule reads, in order of preference.
SCREENS: dict[str, tuple[Screen, ...]] = {
    "litigator": (Screen.LITIGATOR, Screen.DNC),
    "dnc": (Screen.DNC,),
    "reassigned_number": (Screen.REASSIGNED,),
    "phone_valid": (Screen.PHONE,),
    "line_type": (Screen.PHONE,),
    "consent_records": (Screen.LEADID,),
    "jornaya": (Screen.LEADID,),
}

Judged = tuple[bool | None, Reason, dict[str, Any]]


def screens_needed(rules: list[str], configured: set[Screen]) -> set[Screen]:
    """The screens to ask for these rules: for each, the first of its screens a provider answers."""
    return {next(s for s in SCREENS[name] if s in configured) for name in rules if set(SCREENS[name]) & configured}


def result_for(name: str, screens: dict[str, Any]) -> ScreenResult | None:
    """The answered result a rule reads (the first of its screens that was answered), else the first found."""
    found = [ScreenResult.model_validate(screens[s]) for s in SCREENS[name] if screens.get(s) is not None]
    return next((result for result in found if result.answered), found[0] if found else None)


def judge(
    name: str, rule: Rule, screens: dict[str, Any], *, leadid: bool | None = None, certificate: bool = True
) -> Judged:
    """``leadid``: whether the lead carries a LeadiD token (None: not known); ``certificate``: whether it
    carries a TrustedForm certificate."""
    reason = REASONS[name]
    if isinstance(rule, ConsentRecordsRule) and not rule.reads_audit(certificate=certificate):
        return True, reason, {"required": rule.required}
    if isinstance(rule, ConsentRecordsRule) and leadid is False:
        return False, reason, {"required": rule.required, "missing": "jornaya", "why": "no LeadiD token"}
    result = result_for(name, screens)
    if result is None:
        return None, reason, {}
    seen = {"screen": result.screen.value, "provider": result.provider.value, "checked_at": result.checked_at}
    if not result.answered:
        return None, reason, {**seen, "unanswered": result.error or "no answer"}
    passed, detail = _JUDGES[name](rule, result.findings)
    return passed, reason, {**seen, **detail}


def _litigator(rule: Any, f: dict[str, Any]) -> tuple[bool | None, dict[str, Any]]:
    if f.get("litigator") is None:
        return None, {}
    level = f.get("risk_level")
    listed = bool(f["litigator"]) and (level is None or level >= rule.min_risk_level)
    return not listed, {"codes": f.get("codes") or [], "risk_level": level}


def _dnc(rule: Any, f: dict[str, Any]) -> tuple[bool | None, dict[str, Any]]:
    if f.get("result_code") is None:
        return None, {}
    listed = [name for name in rule.lists if f.get(name)]
    prohibited = bool(rule.wireless_prohibited_states and f.get("wireless_prohibited_state"))
    detail = {"lists": listed, "result_code": f["result_code"], "wireless_prohibited_state": prohibited}
    return not listed and not prohibited, detail


def _reassigned(rule: Any, f: dict[str, Any]) -> tuple[bool | None, dict[str, Any]]:
    detail = {"reassigned": f.get("reassigned"), "consent_date": f.get("consent_date")}
    if f.get("reassigned") is None:
        return rule.no_data == "pass", {**detail, "no_data": True}
    return not f["reassigned"], {**detail, "safe_harbor": f.get("safe_harbor")}


def _phone_valid(rule: Any, f: dict[str, Any]) -> tuple[bool | None, dict[str, Any]]:
    if f.get("valid") is None:
        return None, {}
    inactive = rule.refuse_inactive and f.get("line_status") == "inactive"
    return bool(f["valid"]) and not inactive, {"valid": f["valid"], "line_status": f.get("line_status")}


def _line_type(rule: Any, f: dict[str, Any]) -> tuple[bool | None, dict[str, Any]]:
    if not f.get("line_type"):
        return None, {}
    return f["line_type"] not in rule.refused, {"line_type": f["line_type"]}


def _jornaya(rule: Any, f: dict[str, Any]) -> tuple[bool | None, dict[str, Any]]:
    if f.get("authentic") is None:
        return None, {}
    if not f["authentic"]:
        return False, {"not_authentic": f.get("not_authentic"), "result": "red"}
    colour = f.get("result")
    # consent_records judges the record (vouched for, not red); the jornaya rule, the buyer's threshold
    limit = COLOUR_RANK["yellow"] if isinstance(rule, ConsentRecordsRule) else COLOUR_RANK[rule.max_result]
    detail = {"result": colour, "failing": f.get("failing") or []}
    if f.get("brand_names_missing"):
        detail["brand_names_missing"] = f["brand_names_missing"]
    return COLOUR_RANK.get(str(colour), 3) <= limit, detail


_JUDGES = {
    "litigator": _litigator,
    "dnc": _dnc,
    "reassigned_number": _reassigned,
    "phone_valid": _phone_valid,
    "line_type": _line_type,
    "consent_records": _jornaya,
    "jornaya": _jornaya,
}
