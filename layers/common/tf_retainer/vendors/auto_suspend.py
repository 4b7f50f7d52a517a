"""Automatic vendor suspension, off by default: a vendor whose leads fall below the deployment's
thresholds is suspended as an operator would suspend it (`tf-retainer vendors suspend`), and stays
suspended until an operator resumes it. Nothing here ever resumes a vendor.

AutoSuspendFunction runs :func:`evaluate` once a day. Each vendor with a key not yet suspended is scored
(scorecard.score, as `vendors report` scores) over its leads received in the last
AUTO_SUSPEND_WINDOW_DAYS and after its last resume, so an operator's resume is not undone on the leads
that caused the suspension: one vendor-index Query per vendor, no Scan. Only decided leads count
(retained, rejected, expired): leads left pending by a TrustedForm outage say nothing of the vendor.
With at least AUTO_SUSPEND_MIN_LEADS of them, a retained % below the floor or a lead match failure %
above the ceiling suspends every key of the vendor, with a reason naming the figure and the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tf_retainer.ports.leads import LeadIndex
from tf_retainer.ports.vendors import VendorKey, VendorKeys
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.runtime.observability import Metric, count, logger
from tf_retainer.runtime.settings import Settings
from tf_retainer.vendors.scorecard import Scorecard, score

# Who the suspension is recorded as (the key's `suspended.by`, its history event's actor).
ACTOR = "auto-suspend"


@dataclass(frozen=True)
class Breach:
    """A figure past its threshold: what the suspension's reason and event say."""

    figure: str  # "retained_pct" or "match_failure_pct", of the decided leads
    value: float
    threshold: float
    setting: str

    def describe(self) -> str:
        if self.figure == "retained_pct":
            return f"retained {self.value:g}% < {self.threshold:g}% ({self.setting})"
        return f"lead match failed {self.value:g}% > {self.threshold:g}% ({self.setting})"


@dataclass
class VendorResult:
    vendor: str
    since: str
    decided: int
    retained_pct: float | None
    match_failure_pct: float | None
    suspended_keys: int = 0
    reason: str | None = None


@dataclass
class Evaluation:
    enabled: bool
    vendors: list[VendorResult] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)  # vendors suspended by this run
    already_suspended: int = 0  # vendors not evaluated: every usable key already refused


def breach(card: Scorecard, settings: Settings) -> Breach | None:
    """The first threshold the vendor's decided leads cross, or None (too few of them, or within both)."""
    if card.decided < settings.auto_suspend_min_leads:
        return None
    floor = settings.auto_suspend_below_retained_percent
    retained = card.percent_of_decided(card.retained)
    if floor > 0 and retained is not None and retained < floor:
        return Breach("retained_pct", retained, floor, "AUTO_SUSPEND_BELOW_RETAINED_PERCENT")
    ceiling = settings.auto_suspend_above_match_failure_percent
    failed = card.percent_of_decided(card.match_failures)
    if ceiling > 0 and failed is not None and failed > ceiling:
        return Breach("match_failure_pct", failed, ceiling, "AUTO_SUSPEND_ABOVE_MATCH_FAILURE_PERCENT")
    return None


def evaluate(leads: LeadIndex, vendor_keys: VendorKeys, settings: Settings, *, now: datetime) -> Evaluation:
    """Score every vendor still accepted and suspend those past a threshold. Off (nothing read) while
    both thresholds are 0."""
    if not settings.auto_suspend_enabled:
        return Evaluation(enabled=False)
    result = Evaluation(enabled=True)
    window_start = now - timedelta(days=settings.auto_suspend_window_days)
    by_vendor: dict[str, list[VendorKey]] = {}
    for key in vendor_keys.list():
        by_vendor.setdefault(key.vendor, []).append(key)
    for vendor, keys in sorted(by_vendor.items()):
        unsuspended = [key for key in keys if key.suspended is None]
        if not any(key.active for key in unsuspended):
            result.already_suspended += 1  # suspended (or every key revoked): nothing to decide
            continue
        resumed = max((key.resumed_at for key in keys if key.resumed_at), default=None)
        since = max(window_start, parse_iso(resumed)) if resumed else window_start
        card = score(vendor, leads.vendor_leads(vendor, since=since))
        outcome = VendorResult(
            vendor=vendor,
            since=iso(since),
            decided=card.decided,
            retained_pct=card.percent_of_decided(card.retained),
            match_failure_pct=card.percent_of_decided(card.match_failures),
        )
        result.vendors.append(outcome)
        crossed = breach(card, settings)
        if crossed is not None:
            _suspend(vendor_keys, unsuspended, outcome, crossed, now=now)
            if outcome.suspended_keys:
                result.suspended.append(vendor)
    logger.info(
        "automatic suspension evaluated",
        extra={
            "vendors_evaluated": len(result.vendors),
            "vendors_suspended": len(result.suspended),
            "already_suspended": result.already_suspended,
        },
    )
    return result


def _suspend(
    vendor_keys: VendorKeys, keys: list[VendorKey], outcome: VendorResult, crossed: Breach, *, now: datetime
) -> None:
    """Every key of the vendor not suspended yet (revoked ones too, as `vendors suspend` does), each only
    if it is still as read: an operator's suspension or resume meanwhile wins."""
    outcome.reason = f"automatic: {crossed.describe()} over {outcome.decided} decided leads since {outcome.since}"
    detail = {
        "figure": crossed.figure,
        "value": crossed.value,
        "threshold": crossed.threshold,
        "decided": outcome.decided,
        "since": outcome.since,
    }
    for key in keys:
        if vendor_keys.set_suspended(
            key.key_hash, suspended=True, reason=outcome.reason, actor=ACTOR, now=now, seen=key, detail=detail
        ):
            outcome.suspended_keys += 1
    if outcome.suspended_keys:
        count(Metric.VENDORS_AUTO_SUSPENDED)
        # The vendor's name and figures only: nothing of any lead.
        logger.warning(
            "vendor suspended automatically",
            extra={"vendor": outcome.vendor, "keys": outcome.suspended_keys, **detail},
        )
