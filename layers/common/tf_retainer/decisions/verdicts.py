"""The rules' verdicts on what TrustedForm (and the screens) said: pure, so stored answers can be
replayed through a candidate rule set (the backtest). A rule whose data was not asked for is not
evaluated (``passed`` None, ``not_evaluated: data not fetched``): a shadow rule never buys a call."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tf_retainer.decisions import screen_rules
from tf_retainer.decisions.rule_base import Mode, Rule
from tf_retainer.decisions.rules import ConfirmedOwner, ConsentVerified, Domains, FormInputMethod, MaxAge, RuleSet
from tf_retainer.domain.models import Reason

# What each rule is judged on: insights properties by name, "scans", "verify" and "match_lead" for those
# parts of an answer. A rule none of whose data was asked for is not evaluated (Facts.fetched).
READS = {
    "masked_refused": {"is_masked"},
    "max_age": {"age_seconds", "created_at"},
    "bot_detected": {"bot_detected"},
    "form_input_method": {"form_input_method"},
    "domains": {"domain", "page_url"},
    "confirmed_owner": {"confirmed_owner"},
    "page_scans": {"scans"},
    "consent_verified": {"verify"},
    "lead_match": {"match_lead"},
}
NOT_FETCHED = {"not_evaluated": "data not fetched"}
# The order refusals are reported in (the first enforced failure is the lead's reason): the screens first,
# judged before TrustedForm is asked (on the screens' results, not on what TrustedForm was asked for).
REASONS = {
    **screen_rules.REASONS,
    "masked_refused": Reason.MASKED_CERTIFICATE_REFUSED,
    "max_age": Reason.LEAD_TOO_OLD,
    "bot_detected": Reason.BOT_DETECTED,
    "form_input_method": Reason.FORM_INPUT_REFUSED,
    "domains": Reason.DOMAIN_NOT_ALLOWED,
    "confirmed_owner": Reason.OWNER_MISMATCH,
    "page_scans": Reason.SCAN_FAILED,
    "consent_verified": Reason.CONSENT_NOT_VERIFIED,
    "lead_match": Reason.LEAD_MATCH_FAILED,
}


@dataclass(frozen=True, slots=True)
class Facts:
    """What TrustedForm said about the session, as the rules read it (None: not reported)."""

    properties: dict[str, Any] = field(default_factory=dict)
    scans: dict[str, Any] | None = None
    verify: dict[str, Any] | None = None
    masked: bool | None = None
    match_success: bool | None = None
    age_at_arrival: float | None = None
    screens: dict[str, Any] = field(default_factory=dict)  # the lead's screen results, by screen
    leadid: bool | None = None  # whether the lead carries a LeadiD token (consent_records), None: not known
    certificate: bool = True  # whether the lead carries a TrustedForm certificate (consent_records: either)
    # What was asked for (READS' names), None when not known: a rule whose data was not asked for is not
    # evaluated rather than judged on an absence.
    fetched: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: str
    mode: Mode
    passed: bool | None  # None: not asked for, or not reported by TrustedForm (never a refusal)
    reason: Reason
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def refuses(self) -> bool:
        return self.passed is False and self.mode == "enforce"

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "mode": self.mode, "passed": self.passed, "reason": self.reason.value, **self.detail}


def evaluate(rules: RuleSet, facts: Facts) -> list[Verdict]:
    """A verdict for every active rule, in reporting order."""
    verdicts = []
    for name in REASONS:
        rule = rules.active(name)
        if rule is None:
            continue
        if facts.fetched is not None and name in READS and not READS[name] & facts.fetched:
            verdicts.append(Verdict(name, rule.mode, None, REASONS[name], dict(NOT_FETCHED)))
            continue
        passed, reason, detail = _judge(name, rule, facts)
        verdicts.append(Verdict(name, rule.mode, passed, reason, detail))
    return verdicts


def refusal(verdicts: list[Verdict]) -> Verdict | None:
    return next((verdict for verdict in verdicts if verdict.refuses), None)


def _judge(name: str, rule: Rule, facts: Facts) -> tuple[bool | None, Reason, dict[str, Any]]:
    props, reason = facts.properties, REASONS[name]
    if name in screen_rules.REASONS:
        return screen_rules.judge(name, rule, facts.screens, leadid=facts.leadid, certificate=facts.certificate)
    if name == "masked_refused":
        return (None if facts.masked is None else not facts.masked), reason, {}
    if name == "lead_match":
        # A masked certificate has no session to match: a failure there is expected, never a refusal.
        failed = facts.match_success is False and not facts.masked
        return (None if facts.match_success is None else not failed), reason, {}
    if isinstance(rule, MaxAge):
        if facts.age_at_arrival is None:
            return None, reason, {}
        age = round(facts.age_at_arrival)
        return age <= rule.max_seconds, reason, {"age_seconds": age, "max_seconds": rule.max_seconds}
    if name == "bot_detected":
        bot = props.get("bot_detected")
        return (None if bot is None else bot is not True), reason, {"bot_detected": bot}
    if isinstance(rule, FormInputMethod):
        methods = props.get("form_input_method")
        if not methods:
            return None, reason, {}
        return not set(methods) <= set(rule.refused), reason, {"form_input_method": methods}
    if isinstance(rule, Domains):
        return _domain_verdict(rule, props, reason)
    if isinstance(rule, ConfirmedOwner):
        owner = props.get("confirmed_owner")
        if owner is None:
            return None, reason, {}
        return _plain(owner) == _plain(rule.owner), reason, {"confirmed_owner": owner, "expected": rule.owner}
    if name == "page_scans":
        result = (facts.scans or {}).get("result") or {}
        if "success" not in result:
            return None, reason, {}
        missing = ((result.get("required") or {}).get("not_found")) or []
        found = ((result.get("forbidden") or {}).get("found")) or []
        return bool(result["success"]), reason, {"required_not_found": missing, "forbidden_found": found}
    return _consent_verdict(rule, facts, reason)


def _domain_verdict(rule: Domains, props: dict[str, Any], reason: Reason) -> tuple[bool | None, Reason, dict]:
    named = [props.get("domain"), urlsplit(props.get("page_url") or "").hostname]
    hosts = [str(host).lower().rstrip(".") for host in named if host]
    if not hosts:  # masked certificates hide the page: nothing to judge
        return None, reason, {}
    allowed = [entry.lower().rstrip(".") for entry in rule.allowed]
    ok = all(any(host == entry or host.endswith("." + entry) for entry in allowed) for host in hosts)
    return ok, reason, {"domain": props.get("domain"), "page_url": props.get("page_url")}


def _consent_verdict(rule: Rule, facts: Facts, reason: Reason) -> tuple[bool | None, Reason, dict[str, Any]]:
    result = (facts.verify or {}).get("result") or {}
    if not result or not isinstance(rule, ConsentVerified):
        return None, reason, {}
    asked = {
        "language_approved": True,
        "opt_in_types_satisfied": rule.opt_in_types_allowed is not None,
        "min_font_size_px_satisfied": rule.min_font_size_px is not None,
        "min_contrast_ratio_satisfied": rule.min_contrast_ratio is not None,
        "one_to_one": rule.one_to_one,
    }
    failed = sorted(check for check, wanted in asked.items() if wanted and result.get(check) is not True)
    languages = [entry.get("text") for entry in (facts.verify or {}).get("languages") or [] if isinstance(entry, dict)]
    return not failed, reason, {"failed_checks": failed, "consent_text": languages}


def _plain(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())
