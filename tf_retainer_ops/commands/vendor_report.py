"""`vendors report [--since 30d] [--until ...] [--vendor V]`: per-vendor scorecards over a period
(tf_retainer_ops.scorecards reads them)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from tf_retainer.runtime.clock import iso

from ..context import Command, Context, counts_text, parse_since
from ..scorecards import scorecards
from ..target import OpsError


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
            rules, expired = counts_text(c["rules_refused"]), counts_text(c["expired_by_reason"])
            ctx.print(f"{c['vendor']}: rules refused {rules}; expired {expired}")
        if c["screen_calls"]:
            ctx.print(f"{c['vendor']}: screens {c['screen_calls']} calls, ${c['screen_cost']:.4f}")
        if c["leadid_tokens"]:
            audits = counts_text(c["jornaya_results"]) if c["jornaya_results"] else "none audited"
            alone = f"; without a certificate {c['without_certificate']}, kept on the token {c['kept_on_token']}"
            alone = alone if c["without_certificate"] else ""
            ctx.print(f"{c['vendor']}: LeadiD tokens {c['leadid_tokens']}; Jornaya's audits {audits}{alone}")
    ctx.print("retained/match fail/masked: % of leads; reused: refused as reused; med. age: certificate age at intake")


def cmd_vendors_report(ctx: Context) -> int:
    now = datetime.now(UTC)
    since = parse_since(ctx.args.since, now)
    until = parse_since(ctx.args.until, now) if ctx.args.until else None
    known = ctx.vendors()
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


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", default="30d", help="leads received since: 30m, 24h, 7d, 2w or ISO (default 30d)")
    parser.add_argument("--until", help="and up to (same forms)")
    parser.add_argument("--vendor", help="only this vendor")


COMMANDS = (
    Command(("vendors", "report"), cmd_vendors_report, "per-vendor scorecards over a period", _report_arguments),
)
