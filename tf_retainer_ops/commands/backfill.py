"""`backfill FILE --vendor V`: past leads from a CSV retained through the intake path, resumable
(tf_retainer_ops.backfill_plan reads the file, tf_retainer_ops.backfill sends it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..backfill import Pace, Summary, check_vendor, run_backfill, service_deps, service_settings
from ..backfill_plan import read_plan
from ..context import Command, Context, now, positive_float, positive_int


def cmd_backfill(ctx: Context) -> int:
    path = Path(ctx.args.file)
    settings = service_settings(ctx.target)
    plan = read_plan(path, now=now(), settings=settings)
    check_vendor(ctx.vendor_keys, ctx.args.vendor)
    ctx.note(
        f"backfill {path.name} for {ctx.args.vendor}: {plan.rows} row(s): {len(plan.invalid)} invalid, "
        f"{len(plan.closed)} window closed (not sent), {len(plan.urgent)} inside 72 h (first), "
        f"{len(plan.later)} inside 90 days"
    )
    deps = service_deps(ctx.target, settings)
    summary = Summary.of(plan, ctx.args.vendor)
    try:
        run_backfill(
            deps,
            plan,
            summary,
            source=path.name,
            err=ctx.err,
            pace=Pace(ctx.args.rate),
            progress_every=ctx.args.progress_every,
        )
    finally:  # interrupted or not: what was done, and what a rerun will do
        deps.trustedform.close()
        _emit_summary(ctx, summary)
    return 1 if summary.stopped else 0


def _emit_summary(ctx: Context, summary: Summary) -> None:
    def human(_: Any) -> None:
        for line in summary.lines():
            ctx.print(line)

    ctx.emit(summary.to_dict(), human)


def _backfill_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="CSV with a header row: certificate URL, email and/or phone, lead_id, lead_date")
    parser.add_argument("--vendor", required=True, help="the vendor the leads came from (as its key would say)")
    parser.add_argument("--rate", type=positive_float, default=5.0, help="at most N leads a second (default 5)")
    parser.add_argument(
        "--progress-every", type=positive_int, default=100, help="a progress line every N leads (and every 10 s)"
    )


COMMANDS = (
    Command(
        ("backfill",),
        cmd_backfill,
        "retain past leads from a CSV file through the intake path (resumable)",
        _backfill_arguments,
    ),
)
