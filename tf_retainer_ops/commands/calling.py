"""`calling show|set|test`: the law of the hour the call gate applies (the shipped rules, with their sources,
under the buyer's override), like the intake rules: every change a new version, a family's mode flipped
(`--mode state_hours=shadow`), a backtest over the contacts reported before enforcing.

    calling show [--versions]                     the rules in force, row by row, and the override's versions
    calling set FILE | --mode FAMILY=MODE ...     a new override version (FILE: JSON, see docs/operations.md)
    calling test [--since 7d] [--file F] [--mode FAMILY=MODE]  replay reported contacts through a candidate
"""

from __future__ import annotations

import argparse
from typing import Any

from tf_retainer.decisions.backtest import backtest
from tf_retainer.decisions.calling import in_force
from tf_retainer.store.versions import RulesChanged

from ..calling import historic_contacts, parse_family_mode, read_override, report_dict, rule_lines, with_modes
from ..context import Command, Context, Group, argument, now, parse_since
from ..target import OpsError


def cmd_calling_show(ctx: Context) -> int:
    active = ctx.calling_rules.active()
    rules = in_force(active)
    versions = ctx.calling_rules.versions() if ctx.args.versions else []
    data = {
        "version": rules.version,
        "override": active.override.model_dump(mode="json", exclude_unset=True) if active else None,
        "rules": rules.model_dump(mode="json"),
        "versions": [{"version": v.version, "created_at": v.created_at, "actor": v.actor} for v in versions],
    }

    def human(_: Any) -> None:
        by = f" (buyer's override version {active.version}, by {active.actor} at {active.created_at})" if active else ""
        ctx.print(f"calling rules in force: {rules.version}{by}")
        for line in rule_lines(rules):
            ctx.print(line)
        if rules.not_modelled:
            ctx.print(f"not modelled: {rules.not_modelled}")
        for version in versions:
            ctx.print(f"  version {version.version}  {version.created_at}  by {version.actor}")

    ctx.emit(data, human)
    return 0


def cmd_calling_set(ctx: Context) -> int:
    if bool(ctx.args.file) == bool(ctx.args.mode):
        raise OpsError("calling set takes a FILE (or - for standard input), or --mode FAMILY=MODE, not both")
    current = ctx.calling_rules.active()
    override = (
        read_override(ctx.args.file)
        if ctx.args.file
        else with_modes(current.override if current else None, ctx.args.mode)
    )
    try:
        stored = ctx.calling_rules.publish(override, actor=ctx.actor, now=now())
    except RulesChanged as exc:
        raise OpsError("the calling override was changed by someone else meanwhile: nothing written", 1) from exc
    rules = in_force(stored)

    def human(_: Any) -> None:
        ctx.print(
            f"calling override version {stored.version} published and active ({rules.version}, by {stored.actor})"
        )
        for line in rule_lines(rules):
            ctx.print(line)
        ctx.print("the gate applies it within RULES_CACHE_SECONDS (60 s by default)")

    ctx.emit({"version": stored.version, "rules_version": rules.version}, human)
    return 0


def cmd_calling_test(ctx: Context) -> int:
    moment = now()
    since = parse_since(ctx.args.since, moment)
    until = parse_since(ctx.args.until, moment) if ctx.args.until else None
    current = ctx.calling_rules.active()
    rules = in_force(current)
    if ctx.args.file or ctx.args.mode:
        base = read_override(ctx.args.file) if ctx.args.file else (current.override if current else None)
        candidate = with_modes(base, ctx.args.mode) if ctx.args.mode else base
        assert candidate is not None  # a file was read
        rules = in_force(None).over(candidate.model_copy(update={"label": candidate.label or "candidate"}))
    contacts = historic_contacts(ctx.store, ctx.vendors(), since=since, until=until)
    report = backtest(rules, contacts)
    data = report_dict(report, show=ctx.args.show)

    def human(d: dict[str, Any]) -> None:
        received = f"leads received since {since:%Y-%m-%d %H:%M}"
        ctx.print(f"candidate {d['version']}: {d['contacts']} contact(s) reported for {received}")
        reasons = " ".join(f"{k}={v}" for k, v in d["by_reason"].items()) or "-"
        ctx.print(f"  would refuse:         {d['refused']}    {reasons}")
        ctx.print(f"  shadow, would refuse: {d['shadow_refused']}")
        ctx.print(f"  failures by rule:     {' '.join(f'{k}={v}' for k, v in d['by_rule'].items()) or '-'}")
        for row in d["flagged"]:
            verdict = "allowed" if row["allowed"] else f"refused:{row['reason']}"
            ctx.print(f"    {row['lead_id']}  {row['at']}  {row['channel']:<5} {verdict} {' '.join(row['shadow'])}")

    ctx.emit(data, human)
    return 0


def _set_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="the override as JSON (docs/operations.md), or - for standard input")
    parser.add_argument("--mode", action="append", type=parse_family_mode, metavar="FAMILY=MODE", help="flip a family")
    parser.add_argument("--actor", help="who publishes it (default: your user name)")


def _test_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", help="a candidate override (JSON) instead of the active one")
    parser.add_argument("--mode", action="append", type=parse_family_mode, metavar="FAMILY=MODE", help="flip a family")
    parser.add_argument("--since", default="7d", help="leads received since: 24h, 7d, 2w or an ISO date (default 7d)")
    parser.add_argument("--until", help="leads received until (same forms)")
    parser.add_argument("--show", type=int, default=20, help="contacts listed (default 20)")


COMMANDS = (
    Group(("calling",), "the law of the hour the call gate applies: calling hours, Sundays, holidays, caps"),
    Command(
        ("calling", "show"),
        cmd_calling_show,
        "the calling rules in force, with their sources",
        argument("--versions", action="store_true", help="list the override's versions"),
    ),
    Command(
        ("calling", "set"), cmd_calling_set, "publish a new version of the buyer's calling override", _set_arguments
    ),
    Command(("calling", "test"), cmd_calling_test, "replay reported contacts through a candidate", _test_arguments),
)
