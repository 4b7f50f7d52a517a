"""Vendor scorecards: how good a vendor's leads were, as figures computed from their stored states (pure:
no store, no clock). The operator's `tf-retainer vendors report` and the automatic suspension
(auto_suspend.py) both score with :func:`score`."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from tf_retainer.decisions.verdicts import REASONS as RULE_REASONS
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import Reason, Status
from tf_retainer.runtime.clock import parse_iso

# Refusals by the buyer's session and screen rules (max_age, bot_detected, litigator, dnc, ...). Masked,
# lead match and reuse refusals have columns of their own.
SESSION_RULE_REASONS = frozenset(RULE_REASONS.values()) - {
    Reason.MASKED_CERTIFICATE_REFUSED,
    Reason.LEAD_MATCH_FAILED,
    Reason.CERTIFICATE_REUSED,
}


@dataclass
class Scorecard:
    vendor: str
    leads: int = 0
    retained: int = 0
    rejected: int = 0
    expired: int = 0
    open: int = 0
    # TrustedForm answered a lead match and it failed (masked certificates excluded: they never match).
    match_failures: int = 0
    masked: int = 0
    # Leads refused because another lead holds their certificate (or, without one, their LeadiD token); and
    # every lead that came with a record another lead held (refused, or shared under CERTIFICATE_REUSE_POLICY).
    reused_refused: int = 0
    reuse_attempts: int = 0
    rules_refused: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    expired_by_reason: dict[str, int] = field(default_factory=dict)
    # received_at minus the certificate's created_at, for the leads TrustedForm told us it of.
    median_certificate_age_seconds: float | None = None
    certificate_ages_known: int = 0
    tf_operations: int = 0
    # The screens of the leads' numbers at intake (the call gate's own calls are in the ScreenCalls and
    # ScreenCost metrics): the calls the vendor's leads paid for (an answer shared from another lead's call
    # costs nothing) and their dollars, as SCREEN_COSTS priced them.
    screen_calls: int = 0
    screen_cost: float = 0.0
    # The second consent record: leads that carried a Jornaya LeadiD token, and Jornaya's audits of them by
    # result (green, yellow, red; not_authentic: a token Jornaya does not vouch for); leads that came without
    # a certificate, and those of them retained (kept on their token alone).
    leadid_tokens: int = 0
    jornaya_results: dict[str, int] = field(default_factory=dict)
    without_certificate: int = 0
    kept_on_token: int = 0

    def percent(self, count: int) -> float | None:
        return round(100 * count / self.leads, 1) if self.leads else None

    @property
    def decided(self) -> int:
        """Leads with a final outcome (retained, rejected, expired); an open lead is not judged yet."""
        return self.retained + self.rejected + self.expired

    def percent_of_decided(self, count: int) -> float | None:
        return round(100 * count / self.decided, 1) if self.decided else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decided"] = self.decided
        data["retained_pct"] = self.percent(self.retained)
        data["match_failure_pct"] = self.percent(self.match_failures)
        data["masked_pct"] = self.percent(self.masked)
        return data


def score(vendor: str, leads: Iterable[Lead]) -> Scorecard:
    """One vendor's figures over its leads (pure: the CLI and the tests share it)."""
    card = Scorecard(vendor=vendor)
    ages: list[float] = []
    rejected: Counter[str] = Counter()
    expired: Counter[str] = Counter()
    audited: Counter[str] = Counter()
    for lead in leads:
        card.leads += 1
        card.tf_operations += lead.tf_operations
        paid = [result.cost for result in (lead.screens or {}).values() if result.cost]
        card.screen_calls += len(paid)
        card.screen_cost += sum(paid)
        card.leadid_tokens += lead.leadid_token is not None
        card.without_certificate += lead.cert_id is None
        card.kept_on_token += lead.cert_id is None and lead.status is Status.RETAINED
        audit = (lead.screens or {}).get("leadid")
        if audit is not None and audit.answered:
            authentic = audit.findings.get("authentic")
            audited[str(audit.findings.get("result")) if authentic else "not_authentic"] += 1
        if lead.status is Status.RETAINED:
            card.retained += 1
        elif lead.status is Status.REJECTED:
            card.rejected += 1
            rejected[lead.reason.value if lead.reason else "none"] += 1
        elif lead.status is Status.EXPIRED:
            card.expired += 1
            expired[lead.reason.value if lead.reason else "none"] += 1
        else:
            card.open += 1
        if lead.masked:
            card.masked += 1
        elif lead.lead_match is not None and lead.lead_match.success is False:
            card.match_failures += 1
        if lead.reason in (Reason.CERTIFICATE_REUSED, Reason.LEADID_REUSED):
            card.reused_refused += 1
        if lead.owner_lead_id or lead.shared_with_lead_id:
            card.reuse_attempts += 1
        if lead.created_at:
            ages.append((parse_iso(lead.received_at) - parse_iso(lead.created_at)).total_seconds())
    card.rejected_by_reason = dict(rejected.most_common())
    card.expired_by_reason = dict(expired.most_common())
    card.rules_refused = {reason: n for reason, n in card.rejected_by_reason.items() if reason in SESSION_RULE_REASONS}
    card.screen_cost = round(card.screen_cost, 4)
    card.jornaya_results = dict(audited.most_common())
    card.certificate_ages_known = len(ages)
    card.median_certificate_age_seconds = round(statistics.median(ages), 1) if ages else None
    return card
