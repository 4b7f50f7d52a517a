"""`rules show|set|test`: the buyer's intake rule sets (tf_retainer.decisions.rules), read and written through
the rule store; a file is read by tf_retainer_ops.rule_sets, a candidate backtested by .backtest.

    rules show [--vendor V] [--version N] [--versions]   the active set (or one version), the overlay in force
    rules set [--vendor V] FILE|-                        publish a new version from JSON (or YAML)
    rules set [--vendor V] --mode RULE=MODE ...          a new version with one rule's mode flipped
    rules test [--vendor V] [--version N | --file F] [--mode RULE=MODE] [--since 7d]
                                                         replay stored exchanges through a candidate
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from tf_retainer.decisions.rulebook import DEFAULT_SCOPE, RuleSetVersion
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.runtime.clock import iso
from tf_retainer.store.rule_sets import RulesChanged

from ..backtest import Policies, backtest, deployment_policies, overlay, totals
from ..context import Command, Context, Group, counts_text, parse_since
from ..rule_sets import RulesInvalid, flip, parse_mode, read_rule_set, rule_lines, scope_of, stored_dict, where
from ..target import OpsError

MAX_LEAD_LINES = 20


def _scope(ctx: Context) -> str:
    return scope_of(ctx.args.vendor, ctx.vendors)


def _invalid(ctx: Context, exc: RulesInvalid) -> None:
    for line in exc.errors:
        ctx.note(f"tf-retainer: {line}")


# --- rules show ------------------------------------------------------------------------------------


def cmd_rules_show(ctx: Context) -> int:
    store, scope = ctx.rule_store, _scope(ctx)
    active = store.active(scope)
    shown = active
    if ctx.args.version is not None:
        shown = store.version(scope, ctx.args.version)
        if shown is None:
            raise OpsError(f"{where(scope)} has no version {ctx.args.version}", 1)
    policies = deployment_policies(ctx.target)
    default = active if scope == DEFAULT_SCOPE else store.active(DEFAULT_SCOPE)
    vendor = active if scope != DEFAULT_SCOPE else None
    labels = [stored.label for stored in (default, vendor) if stored is not None]
    in_force = overlay(policies, default.rules if default else None, vendor.rules if vendor else None)
    data: dict[str, Any] = {
        "scope": scope,
        "active_version": active.version if active else None,
        "shown": stored_dict(shown) if shown else None,
        "effective": {
            "applies_to": "every vendor without its own rule set" if scope == DEFAULT_SCOPE else f"{scope}'s leads",
            "version": "+".join(labels) or "settings",
            "rules": in_force.model_dump(mode="json", exclude_none=True),
            "policies": policies.as_dict(),
        },
    }
    if ctx.args.versions:
        data["versions"] = [stored_dict(s, active=active.version if active else None) for s in store.versions(scope)]
    ctx.emit(data, lambda _: _print_show(ctx, data, scope, shown, active, policies))
    return 0


def _print_show(
    ctx: Context,
    data: dict[str, Any],
    scope: str,
    shown: RuleSetVersion | None,
    active: RuleSetVersion | None,
    policies: Policies,
) -> None:
    if ctx.args.versions:
        ctx.print(f"{where(scope)}: {len(data['versions'])} version(s)")
        ctx.print(f"  {'version':<8} {'created':<28} actor")
        for row in data["versions"]:
            mark = "  (active)" if row["active"] else ""
            ctx.print(f"  {row['version']:<8} {row['created_at']:<28} {row['actor'] or '-'}{mark}")
        return
    if shown is None:
        ctx.print(f"{where(scope)}: none (nothing stored: the rules below come from the deployment)")
    else:
        state = "active" if active and shown.version == active.version else f"not active: {_active_text(active)}"
        ctx.print(f"{where(scope)}: version {shown.version} ({state}), {shown.created_at} by {shown.actor or '-'}")
        for line in rule_lines(shown.rules):
            ctx.print(line)
    effective = data["effective"]
    ctx.print(f"in force for {effective['applies_to']} ({effective['version']}, over {policies.describe()}):")
    for line in rule_lines(RuleSet.model_validate(effective["rules"])):
        ctx.print(line)


def _active_text(active: RuleSetVersion | None) -> str:
    return f"version {active.version} is" if active else "none is"


# --- rules set -------------------------------------------------------------------------------------


def cmd_rules_set(ctx: Context) -> int:
    args = ctx.args
    if bool(args.file) == bool(args.mode):
        raise OpsError("rules set takes a FILE (or - for standard input), or --mode RULE=MODE, not both")
    store, scope = ctx.rule_store, _scope(ctx)
    current = store.active(scope)
    there = where(scope)
    try:
        if args.file:
            rules = read_rule_set(args.file)
        else:
            if current is None:
                raise OpsError(f"{there} has no version yet: set it from a file first")
            rules = flip(current.rules, args.mode, where=there)
    except RulesInvalid as exc:
        _invalid(ctx, exc)
        ctx.note(f"tf-retainer: {len(exc.errors)} error(s): nothing written")
        return 2
    if current is not None and rules == current.rules and rules.model_fields_set == current.rules.model_fields_set:
        ctx.note(f"note: {there} is already that (version {current.version}): nothing written")
        ctx.emit(stored_dict(current), lambda _: ctx.print(f"{there}: version {current.version} unchanged"))
        return 0
    try:
        stored = store.publish(scope, rules, actor=ctx.actor, now=datetime.now(UTC))
    except RulesChanged as exc:
        raise OpsError(
            f"{there} was changed by someone else meanwhile: nothing written, look and try again", 1
        ) from exc

    def human(_: Any) -> None:
        ctx.print(f"{there}: version {stored.version} published and active ({stored.label}, by {stored.actor})")
        for line in rule_lines(stored.rules):
            ctx.print(line)
        ctx.print("intake applies it within RULES_CACHE_SECONDS (60 s by default)")

    ctx.emit(stored_dict(stored), human)
    return 0


# --- rules test ------------------------------------------------------------------------------------


def cmd_rules_test(ctx: Context) -> int:
    args = ctx.args
    if args.version is not None and args.file:
        raise OpsError("rules test takes --version or --file, not both")
    scope = _scope(ctx)
    try:
        candidate, label = _candidate(ctx, scope)
    except RulesInvalid as exc:
        _invalid(ctx, exc)
        return 2
    now = datetime.now(UTC)
    since = parse_since(args.since, now)
    until = parse_since(args.until, now) if args.until else None
    policies = deployment_policies(ctx.target)
    vendors = [scope] if scope != DEFAULT_SCOPE else ctx.vendors()
    replays = backtest(ctx.store, ctx.rule_store, scope, candidate, policies, vendors=vendors, since=since, until=until)
    data = {
        "candidate": {
            "label": label,
            "scope": scope,
            "rules": candidate.model_dump(mode="json", exclude_unset=True),
        },
        "since": iso(since),
        "until": iso(until) if until else None,
        "policies": policies.as_dict(),
        "vendors": replays,
        "total": totals(replays),
    }
    ctx.emit(data, lambda d: _print_backtest(ctx, d, show_leads=args.leads))
    return 0


def _candidate(ctx: Context, scope: str) -> tuple[RuleSet, str]:
    """The rule set to test (--file, --version, or the active one; --mode flips) and its label."""
    args, store, there = ctx.args, ctx.rule_store, where(scope)
    active = store.active(scope)
    if args.file:
        candidate, label = read_rule_set(args.file), f"{args.file} as {there}"
    else:
        stored = active if args.version is None else store.version(scope, args.version)
        if stored is not None:
            candidate, label = stored.rules, stored.label
        elif args.version is None:  # nothing stored: the rules in force without it
            candidate, label = RuleSet(), f"{there}: none stored"
        else:
            raise OpsError(f"{there} has no version {args.version}", 1)
    if args.mode:
        candidate = flip(candidate, args.mode, where=label)
        label += " with " + " ".join(f"{rule}={mode}" for rule, mode in args.mode)
    return candidate, label


def _print_backtest(ctx: Context, data: dict[str, Any], *, show_leads: bool) -> None:
    ctx.print(f"candidate {data['candidate']['label']}, over {_policies_text(data)}")
    period = f"since {data['since']}" + (f" until {data['until']}" if data["until"] else "")
    ctx.print(
        f"leads received {period}, replayed from their stored TrustedForm answers (no TrustedForm call; "
        "a lead without a certificate, from its stored Jornaya audit)"
    )
    if not data["vendors"]:
        ctx.print("no vendors")
    for replay in data["vendors"]:
        _print_replay(ctx, replay, show_leads=show_leads)
    t = data["total"]
    ctx.print(
        f"total: {t['leads']} lead(s), {t['replayed']} replayed, {t['would_refuse']} would be refused, "
        f"{t['could_not_judge']} not fully judged, {t['changed']} outcome(s) would change"
    )


def _print_replay(ctx: Context, r: dict[str, Any], *, show_leads: bool) -> None:
    ctx.print(
        f"{r['vendor']}: {r['leads']} lead(s), {r['replayed']} replayed, "
        f"{r['not_replayed']} without a TrustedForm answer to replay"
        + (f" ({counts_text(r['not_replayed_by_outcome'])})" if r["not_replayed"] else "")
    )
    ctx.print(f"  would refuse:         {r['would_refuse']:<4} {counts_text(r['would_refuse_by_reason'])}")
    ctx.print(f"  shadow, would refuse:      {counts_text(r['shadow_would_refuse_by_reason'])}")
    unjudged = " ".join(f"{rule}={v['leads']} (needs {v['needs']})" for rule, v in r["could_not_judge_by_rule"].items())
    ctx.print(f"  could not judge:      {r['could_not_judge']:<4} {unjudged or '-'}")
    ctx.print(f"  outcome changes:      {r['changed']:<4} {counts_text(r['changes'])}")
    listed = [d for d in r["leads_detail"] if d["change"] or d["candidate"] != "kept"]
    if show_leads or r["changed"]:
        shown = listed if show_leads else [d for d in listed if d["change"]]
        for d in shown[:MAX_LEAD_LINES]:
            ctx.print(f"    {d['lead_id']}  {d['received_at']}  live {d['live']} -> {d['candidate']}")
        if len(shown) > MAX_LEAD_LINES:
            ctx.print(f"    ... {len(shown) - MAX_LEAD_LINES} more (--json lists them all)")


def _policies_text(data: dict[str, Any]) -> str:
    policies = dict(data["policies"])
    source = policies.pop("source")
    return f"the deployment's policies {counts_text(policies)} ({source})"


# --- the command table ---------------------------------------------------------------------------


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("a version number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("versions start at 1")
    return value


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vendor", help="a vendor's own rule set (default: the default rule set)")
    parser.add_argument("--version", type=_version, help="this stored version instead of the active one")
    parser.add_argument("--versions", action="store_true", help="list the versions (version, created_at, actor)")


def _set_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="JSON rule set (YAML if pyyaml is installed), - for standard input")
    parser.add_argument("--vendor", help="a vendor's own rule set (default: the default rule set)")
    parser.add_argument(
        "--mode", action="append", type=parse_mode, metavar="RULE=MODE", help="flip one rule to enforce|shadow|off"
    )
    parser.add_argument("--actor", help="who made the change (default: your user name)")


def _test_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vendor", help="a candidate for this vendor's rule set (replays only its leads)")
    parser.add_argument("--version", type=_version, help="a stored version as the candidate (default: the active one)")
    parser.add_argument("--file", help="a rule set file as the candidate")
    parser.add_argument(
        "--mode", action="append", type=parse_mode, metavar="RULE=MODE", help="the candidate with a rule's mode flipped"
    )
    parser.add_argument("--since", default="7d", help="leads received since: 30m, 24h, 7d, 2w or ISO (default 7d)")
    parser.add_argument("--until", help="and up to (same forms)")
    parser.add_argument("--leads", action="store_true", help="list every lead the candidate refuses")


COMMANDS = (
    Group(("rules",), "the buyer's intake rule sets"),
    Command(
        ("rules", "show"), cmd_rules_show, "the active rule set, its version, and what is in force", _show_arguments
    ),
    Command(("rules", "set"), cmd_rules_set, "publish a new version of a rule set (a file, or --mode)", _set_arguments),
    Command(
        ("rules", "test"),
        cmd_rules_test,
        "backtest a candidate rule set on stored leads (no TrustedForm)",
        _test_arguments,
    ),
)
