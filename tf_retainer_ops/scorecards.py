"""Vendor scorecards: how good each vendor's leads were over a period, from the stored lead states.

The figures are tf_retainer.vendors.scorecard's (shared with the automatic suspension). No Scan: the vendors
come from the list index, each vendor's leads from the vendor index (gsi1, by received time); one query
(paginated) per vendor and nothing else is read.

    tf-retainer vendors report [--since 30d] [--until ...] [--vendor V] [--json]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tf_retainer.runtime.clock import iso
from tf_retainer.store.lead_table import LeadTable
from tf_retainer.vendors.scorecard import Scorecard, score

from .rules import parse_since
from .target import OpsError

if TYPE_CHECKING:
    from .cli import Context

# A run longer than this prints a progress line on stderr per vendor read.
PROGRESS_AFTER_SECONDS = 2.0


def scorecards(
    store: LeadTable,
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
        cards.append(score(vendor, store.index.vendor_leads(vendor, since=since, until=until)))
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
