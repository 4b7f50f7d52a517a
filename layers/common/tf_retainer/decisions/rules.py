"""The buyer's intake rules: data, not code. A rule set says which leads the buyer keeps, judged on what
TrustedForm reports (insights, page scans, verify) before the buyer pays to retain.

Each rule is ``enforce`` (refuse the lead), ``shadow`` (record and count "would have refused", keep the
lead) or ``off``. A vendor's rule set overlays the default one rule by rule. Evaluation is pure: the same
facts always give the same verdicts, so stored exchanges can be replayed through a candidate rule set.

Only enforced rules are paid for: TrustedForm is asked for what they read (``NEEDS``, page scans,
verify, the lead match). A shadow rule is judged on what was asked anyway; one whose data nobody asked
for is not evaluated (``passed`` None, ``not_evaluated: data not fetched``), never a call or a property
bought for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tf_retainer.decisions import screen_rules
from tf_retainer.decisions.rule_base import Mode, Rule
from tf_retainer.decisions.screen_rules import DncRule, LineTypeRule, LitigatorRule, PhoneValidRule, ReassignedRule
from tf_retainer.domain.models import Reason

__all__ = ["Mode", "Rule"]

InputMethod = Literal["autofill", "paste", "typing", "pre-populated"]
OptInType = Literal["manual", "pre-selected", "non-interactive"]


class MaxAge(Rule):
    """The certificate was at most ``max_seconds`` old when the lead reached us (freshness)."""

    max_seconds: int = Field(gt=0)


class FormInputMethod(Rule):
    """Refuse a lead whose every input method is one of these (e.g. paste or autofill only)."""

    refused: list[InputMethod] = Field(min_length=1)


class Domains(Rule):
    """The form was on one of these domains (or their subdomains): a vendor's own sites."""

    allowed: list[str] = Field(min_length=1)


class ConfirmedOwner(Rule):
    """The TrustedForm account that owns the certificate is the vendor's registered one."""

    owner: str = Field(min_length=1)


class PageScans(Rule):
    required: list[str] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something_to_scan(self) -> PageScans:
        if not self.required and not self.forbidden:
            raise ValueError("page_scans needs required and/or forbidden text")
        return self


class ConsentVerified(Rule):
    """TrustedForm's verify: consent language approved, and the thresholds the buyer sets."""

    opt_in_types_allowed: list[OptInType] | None = None
    min_font_size_px: int | None = Field(default=None, gt=0)
    min_contrast_ratio: float | None = Field(default=None, gt=0)
    # Off by default: the FCC's one-to-one rule was vacated in 2025; some contracts still require it.
    one_to_one: bool = False
    advertiser_name: str | None = None

    @model_validator(mode="after")
    def _advertiser_for_one_to_one(self) -> ConsentVerified:
        if self.one_to_one and not self.advertiser_name:
            raise ValueError("one_to_one needs the buyer's advertiser_name")
        return self


class RuleSet(BaseModel):
    """Every rule is optional: absent means the default rule set's (or none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_age: MaxAge | None = None
    bot_detected: Rule | None = None
    form_input_method: FormInputMethod | None = None
    domains: Domains | None = None
    confirmed_owner: ConfirmedOwner | None = None
    page_scans: PageScans | None = None
    consent_verified: ConsentVerified | None = None
    masked_refused: Rule | None = None
    lead_match: Rule | None = None
    certificate_reuse: Literal["reject", "share"] | None = None
    # The screens of the lead's phone number (screen_rules.py): judged before TrustedForm is asked.
    litigator: LitigatorRule | None = None
    dnc: DncRule | None = None
    reassigned_number: ReassignedRule | None = None
    phone_valid: PhoneValidRule | None = None
    line_type: LineTypeRule | None = None

    def over(self, default: RuleSet) -> RuleSet:
        """This (a vendor's) rule set on top of the default: its rules replace the default's, one by one."""
        return default.model_copy(update={name: getattr(self, name) for name in self.model_fields_set})

    def active(self, name: str) -> Rule | None:
        rule = getattr(self, name)
        return rule if isinstance(rule, Rule) and rule.mode != "off" else None

    def enforced(self, name: str) -> Rule | None:
        rule = getattr(self, name)
        return rule if isinstance(rule, Rule) and rule.mode == "enforce" else None

    def insights_properties(self) -> set[str]:
        """The insights properties the enforced rules read (each returned property is billed)."""
        return {prop for name, properties in NEEDS.items() if self.enforced(name) for prop in properties}

    def screen_rules(self) -> list[str]:
        """The screen rules in force (shadow or enforce)."""
        return [name for name in screen_rules.REASONS if self.active(name)]

    def scans(self) -> dict[str, list[str]] | None:
        """The page scans an enforced ``page_scans`` asks for."""
        rule = self.enforced("page_scans")
        return {"required": rule.required, "forbidden": rule.forbidden} if isinstance(rule, PageScans) else None

    def verify(self) -> dict[str, Any] | None:
        """The verify an enforced ``consent_verified`` asks for."""
        rule = self.enforced("consent_verified")
        if not isinstance(rule, ConsentVerified):
            return None
        params = {
            "opt_in_types_allowed": rule.opt_in_types_allowed,
            "min_font_size_px_required": rule.min_font_size_px,
            "min_contrast_ratio_required": rule.min_contrast_ratio,
            "advertiser_name": rule.advertiser_name if rule.one_to_one else None,
        }
        return {key: value for key, value in params.items() if value is not None}


# The insights properties asked for each enforced rule (max_age's expires_at: the retain deadline; a
# failed match on a masked certificate is never a refusal, so the lead match reads is_masked too).
NEEDS = {
    "masked_refused": {"is_masked"},
    "max_age": {"age_seconds", "created_at", "expires_at"},
    "bot_detected": {"bot_detected"},
    "form_input_method": {"form_input_method"},
    "domains": {"domain", "page_url"},
    "confirmed_owner": {"confirmed_owner"},
    "lead_match": {"is_masked"},
    # Not judged on TrustedForm's answer: the consent date the call gate asks the reassigned-number check about.
    "reassigned_number": {"created_at"},
}
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
        return screen_rules.judge(name, rule, facts.screens)
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
