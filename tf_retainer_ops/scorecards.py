"""Vendor scorecards: how good each vendor's leads were over a period, from the stored lead states.

No Scan: the vendors come from the list index, each vendor's leads from the vendor index (gsi1, by
received time); one query (paginated) per vendor and nothing else is read.

    tf-retainer vendors report [--since 30d] [--until ...] [--vendor V] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tf_retainer.clock import iso, parse_iso
from tf_retainer.lead import Lead
from tf_retainer.models import Reason, Status
from tf_retainer.rules import REASONS as RULE_REASONS
from tf_retainer.store.leads import LeadStore

from .rules import parse_since
from .target import OpsError

if TYPE_CHECKING:
    from .cli import Context

# Refusals by the buyer's session rules (max_age, bot_detected, ...). Masked, lead match and reuse
# refusals have columns of their own.
SESSION_RULE_REASONS = frozenset(RULE_REASONS.values()) - {
    Reason.MASKED_CERTIFICATE_REFUSED,
    Reason.LEAD_MATCH_FAILED,
    Reason.CERTIFICATE_REUSED,
}
# A run longer than this prints a progress line on stderr per vendor read.
PROGRESS_AFTER_SECONDS = 2.0


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
    # Leads refused because another lead holds their certificate; and every lead that came with a
    # certificate another lead held (refused, or shared under CERTIFICATE_REUSE_POLICY=share).
    reused_refused: int = 0
    reuse_attempts: int = 0
    rules_refused: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    expired_by_reason: dict[str, int] = field(default_factory=dict)
    # received_at minus the certificate's created_at, for the leads TrustedForm told us it of.
    median_certificate_age_seconds: float | None = None
    certificate_ages_known: int = 0
    tf_operations: int = 0

    def percent(self, count: int) -> float | None:
        return round(100 * count / self.leads, 1) if self.leads else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
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
    for lead in leads:
        card.leads += 1
        card.tf_operations += lead.tf_operations
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
        if lead.reason is Reason.CERTIFICATE_REUSED:
            card.reused_refused += 1
        if lead.owner_lead_id or lead.shared_with_lead_id:
            card.reuse_attempts += 1
        if lead.created_at:
            ages.append((parse_iso(lead.received_at) - parse_iso(lead.created_at)).total_seconds())
    card.rejected_by_reason = dict(rejected.most_common())
    card.expired_by_reason = dict(expired.most_common())
    card.rules_refused = {reason: n for reason, n in card.rejected_by_reason.items() if reason in SESSION_RULE_REASONS}
    card.certificate_ages_known = len(ages)
    card.median_certificate_age_seconds = round(statistics.median(ages), 1) if ages else None
    return card


def scorecards(
    store: LeadStore,
    vendors: list[str],
    *,
    since: datetime,
    until: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    progress_after_seconds: float = PROGRESS_AFTER_SECONDS,
) -> list[Scorecard]:
    """Every vendor's scorecard; once the run has taken ``progress_after_seconds``, a progress line per
    vendor read (a quick run stays quiet)."""
    started = time.monotonic()
    cards, read = [], 0
    for n, vendor in enumerate(vendors, 1):
        cards.append(score(vendor, store.vendor_leads(vendor, since=since, until=until)))
        read += cards[-1].leads
        if progress and time.monotonic() - started >= progress_after_seconds:
            progress(f"vendors read: {n}/{len(vendors)} ({vendor}), {read} lead(s) so far")
    return cards


# --- the command ---------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:g}%"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in counts.items()) or "-"


COLUMNS = (
    ("vendor", 20),
    ("leads", 7),
    ("retained", 9),
    ("match fail", 11),
    ("masked", 8),
    ("reused", 7),
    ("reuse att", 10),
    ("rules", 6),
    ("expired", 8),
    ("med. age", 9),
    ("TF ops", 7),
)


def print_report(ctx: Context, data: dict[str, Any]) -> None:
    period = f"since {data['since']}" + (f" until {data['until']}" if data["until"] else "")
    ctx.print(f"vendor scorecards, leads received {period}")
    if not data["vendors"]:
        ctx.print("no vendors")
        return
    ctx.print(" ".join(f"{title:<{width}}" for title, width in COLUMNS).rstrip())
    for c in data["vendors"]:
        cells = (
            c["vendor"],
            c["leads"],
            _pct(c["retained_pct"]),
            _pct(c["match_failure_pct"]),
            _pct(c["masked_pct"]),
            c["reused_refused"],
            c["reuse_attempts"],
            sum(c["rules_refused"].values()),
            c["expired"],
            _age(c["median_certificate_age_seconds"]),
            c["tf_operations"],
        )
        ctx.print(" ".join(f"{cell!s:<{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True)).rstrip())
    for c in data["vendors"]:
        if c["rules_refused"] or c["expired_by_reason"]:
            rules, expired = _counts(c["rules_refused"]), _counts(c["expired_by_reason"])
            ctx.print(f"{c['vendor']}: rules refused {rules}; expired {expired}")
    ctx.print("retained/match fail/masked: % of leads; reused: refused as reused; med. age: certificate age at intake")


def cmd_vendors_report(ctx: Context) -> int:
    now = datetime.now(UTC)
    since = parse_since(ctx.args.since, now)
    until = parse_since(ctx.args.until, now) if ctx.args.until else None
    known = sorted({key.vendor for key in ctx.vendor_keys.list()})
    if ctx.args.vendor is not None and ctx.args.vendor not in known:
        raise OpsError(f"no vendor {ctx.args.vendor} (tf-retainer vendors list)", code=1)
    vendors = [ctx.args.vendor] if ctx.args.vendor else known
    cards = scorecards(ctx.store, vendors, since=since, until=until, progress=ctx.note)
    data = {
        "since": iso(since),
        "until": iso(until) if until else None,
        "vendors": [card.as_dict() for card in cards],
    }
    ctx.emit(data, lambda d: print_report(ctx, d))
    return 0


def add_report_command(vendors: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """``vendors report`` under ``vendors`` (``command`` is cli.build_parser's helper)."""
    report = command(vendors, "report", cmd_vendors_report, "per-vendor scorecards over a period")
    report.add_argument("--since", default="30d", help="leads received since: 30m, 24h, 7d, 2w or ISO (default 30d)")
    report.add_argument("--until", help="and up to (same forms)")
    report.add_argument("--vendor", help="only this vendor")
