"""The buyer's intake rules: data, not code. A rule set says which leads the buyer keeps, judged on what
TrustedForm reports (insights, page scans, verify) before the buyer pays to retain.

Each rule is ``enforce`` (refuse the lead), ``shadow`` (record and count "would have refused", keep the
lead) or ``off``. A vendor's rule set overlays the default one rule by rule. Evaluation is pure: the same
facts always give the same verdicts, so stored exchanges can be replayed through a candidate rule set.

Only enforced rules are paid for: TrustedForm is asked for what they read (``NEEDS``, page scans,
verify, the lead match). A shadow rule is judged on what was asked anyway; one whose data nobody asked
for is not evaluated (``passed`` None, ``not_evaluated: data not fetched``), never a call or a property
bought for it. The verdicts themselves: ``decisions/verdicts.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tf_retainer.decisions import screen_rules
from tf_retainer.decisions.rule_base import Mode, Rule
from tf_retainer.decisions.screen_rules import (
    ConsentRecordsRule,
    DncRule,
    JornayaRule,
    LineTypeRule,
    LitigatorRule,
    PhoneValidRule,
    ReassignedRule,
)

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
    # The second consent record (screen_rules.py): Jornaya's audit of the lead's LeadiD token, before TrustedForm.
    consent_records: ConsentRecordsRule | None = None
    jornaya: JornayaRule | None = None

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

    def screen_rules(self, *, certificate: bool = True) -> list[str]:
        """The screen rules in force (shadow or enforce) that need a screen for a lead with (or without) a
        certificate (consent_records: trustedform needs none, nor either for a lead with a certificate)."""
        records = self.active("consent_records")
        needless = isinstance(records, ConsentRecordsRule) and not records.reads_audit(certificate=certificate)
        names = [name for name in screen_rules.REASONS if self.active(name)]
        return [name for name in names if not (needless and name == "consent_records")]

    def claims_tokens(self) -> bool:
        """Whether the vendor's leads claim their LeadiD token beside their certificate (one lead per token):
        consent_records enforced with ``jornaya``, ``either`` or ``both``, which rely on tokens."""
        rule = self.enforced("consent_records")
        return isinstance(rule, ConsentRecordsRule) and rule.required != "trustedform"

    def takes_token_alone(self) -> bool:
        """Whether a lead without a TrustedForm certificate is taken: consent_records enforced with ``jornaya``
        or ``either`` (a shadow rule never lets in a lead enforcement would refuse)."""
        rule = self.enforced("consent_records")
        return isinstance(rule, ConsentRecordsRule) and rule.takes_token_alone()

    def brand_names(self) -> list[str]:
        """The brands the active jornaya rule asks Jornaya about."""
        rule = self.active("jornaya")
        return list(rule.brand_names) if isinstance(rule, JornayaRule) else []

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
