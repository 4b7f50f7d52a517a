"""tf-retainer rules: the buyer's intake rule sets (layers/common/tf_retainer/rules.py).

    rules show [--vendor V] [--version N] [--versions]   the active set (or one version), the overlay in force
    rules set [--vendor V] FILE|-                        publish a new version from JSON (or YAML)
    rules set [--vendor V] --mode RULE=MODE ...          a new version with one rule's mode flipped
    rules test [--vendor V] [--version N | --file F] [--mode RULE=MODE] [--since 7d]
                                                         replay stored exchanges through a candidate

A backtest never calls TrustedForm: it judges each lead on the first TrustedForm answer stored with it
(the one that carried insights / verify), exactly as the live path did (judgement.facts_of, evaluate).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from pydantic import BaseModel, ValidationError
from tf_retainer.decisions import judgement
from tf_retainer.decisions.answer import decide
from tf_retainer.decisions.rulebook import DEFAULT_SCOPE, RuleSetVersion, from_settings
from tf_retainer.decisions.rules import REASONS, Rule, RuleSet, Verdict, evaluate, refusal
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import Status
from tf_retainer.runtime.clock import iso
from tf_retainer.runtime.settings import Settings
from tf_retainer.store.rule_sets import RulesChanged

from .target import OpsError

if TYPE_CHECKING:
    from tf_retainer.store.lead_table import LeadTable

    from .cli import Context

MODES = ("enforce", "shadow", "off")
# Rules with a mode (certificate_reuse is a policy: reject or share).
MODE_RULES = tuple(name for name in RuleSet.model_fields if name != "certificate_reuse")
# What each rule reads from TrustedForm's answer: what a stored answer must carry to judge it.
NEEDS_TEXT = {
    "masked_refused": "insights is_masked",
    "max_age": "insights created_at or age_seconds",
    "bot_detected": "insights bot_detected",
    "form_input_method": "insights form_input_method",
    "domains": "insights domain / page_url (hidden on a masked certificate)",
    "confirmed_owner": "insights confirmed_owner",
    "page_scans": "insights scans",
    "consent_verified": "verify",
    "lead_match": "match_lead result",
}
RULE_REASONS = frozenset(reason.value for reason in REASONS.values())
# The template's parameters for the policies every rule set overlays (rulebook.from_settings).
POLICY_PARAMETERS = {
    "MaskedCertificatePolicy": "masked_certificate_policy",
    "LeadMatchPolicy": "lead_match_policy",
    "CertificateReusePolicy": "certificate_reuse_policy",
}
SINCE = re.compile(r"^(\d+(?:\.\d+)?)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_LEAD_LINES = 20


class RulesInvalid(Exception):
    """A rule set that does not validate: one line per error, each naming the field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _rule_models() -> dict[str, type[BaseModel]]:
    models = {}
    for name, info in RuleSet.model_fields.items():
        for arg in get_args(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                models[name] = arg
    return models


RULE_MODELS = _rule_models()


# --- reading and validating a rule set ---------------------------------------------------------------


def read_rule_set(source: str, *, stdin: Any = None) -> RuleSet:
    """A rule set from a JSON (or, with pyyaml, YAML) file, or ``-`` for standard input; RulesInvalid
    with every error when it does not validate."""
    name = "standard input" if source == "-" else source
    try:
        text = (stdin or sys.stdin).read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise OpsError(f"cannot read {name}: {exc.strerror or exc}") from exc
    return parse_rule_set(text, yaml_ok=source == "-" or source.endswith((".yaml", ".yml")))


def parse_rule_set(text: str, *, yaml_ok: bool = False) -> RuleSet:
    try:
        data = json.loads(text)
    except ValueError as exc:
        data = _yaml(text) if yaml_ok else None
        if data is None:
            raise RulesInvalid([f"(file): not valid JSON: {exc}"]) from exc
    if not isinstance(data, dict):
        raise RulesInvalid(['(file): a rule set is a JSON object of rules, e.g. {"bot_detected": {"mode": "shadow"}}'])
    nulls = [name for name, value in data.items() if value is None and name in RuleSet.model_fields]
    if nulls:
        # The store leaves None out of an item: an explicit null would silently vanish from the version.
        raise RulesInvalid(
            [
                f'{name}: null is not kept by the store; to turn the rule off write its object with "mode": "off"'
                for name in nulls
            ]
        )
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RulesInvalid(describe_errors(exc)) from exc


def _yaml(text: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def describe_errors(exc: ValidationError) -> list[str]:
    """pydantic's errors as one line each: ``field.path: what is wrong (got value)``."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        where = ".".join(loc) or "(rule set)"
        kind, given = error["type"], error.get("input")
        if kind == "extra_forbidden" and len(loc) == 1:
            message = f"unknown rule (known: {', '.join(RuleSet.model_fields)})"
        elif kind == "extra_forbidden":
            model = RULE_MODELS.get(loc[0])
            known = ", ".join(model.model_fields) if model else "?"
            message = f"unknown field of {loc[0]} (known: {known})"
        elif kind == "model_type":
            message = 'should be an object, e.g. {"mode": "shadow", ...}'
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        if kind not in ("extra_forbidden", "missing") and not isinstance(given, dict):
            message += f" (got {json.dumps(given, default=str)})"
        lines.append(f"{where}: {message}")
    return lines


def parse_mode(text: str) -> tuple[str, str]:
    rule, sep, mode = text.partition("=")
    rule, mode = rule.strip(), mode.strip()
    if not sep or rule not in MODE_RULES or mode not in MODES:
        raise argparse.ArgumentTypeError(
            f"expected RULE=MODE, RULE one of {', '.join(MODE_RULES)}; MODE {'|'.join(MODES)}"
        )
    return rule, mode


def flip(rules: RuleSet, changes: list[tuple[str, str]], *, where: str) -> RuleSet:
    """The rule set with each named rule's mode changed (a rule with no parameters may be added)."""
    data = rules.model_dump(mode="json", exclude_unset=True)
    for rule, mode in changes:
        if data.get(rule) is None:
            model = RULE_MODELS.get(rule)
            if model is not Rule:
                raise OpsError(f"{rule} is not in {where}: set it (with its parameters) from a file first")
            data[rule] = {}
        data[rule]["mode"] = mode
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:  # not expected: a mode is always valid
        raise RulesInvalid(describe_errors(exc)) from exc


# --- the deployment's policies and the overlay ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policies:
    settings: Settings
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self.settings, name) for name in POLICY_PARAMETERS.values()} | {"source": self.source}

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.as_dict().items() if k != "source") + f" ({self.source})"


def deployment_policies(ctx: Context) -> Policies:
    """MASKED_CERTIFICATE_POLICY, LEAD_MATCH_POLICY, CERTIFICATE_REUSE_POLICY as deployed: a stack's
    parameters, otherwise this shell's environment, otherwise the template's defaults."""
    target = ctx.target
    values: dict[str, Any] = {"table_name": target.table_name, "retry_queue_url": "-", "trustedform_secret_id": "-"}
    source = "template defaults"
    if target.stack_name:
        stacks = target.client("cloudformation").describe_stacks(StackName=target.stack_name)["Stacks"]
        for parameter in stacks[0].get("Parameters", []):
            if parameter["ParameterKey"] in POLICY_PARAMETERS:
                values[POLICY_PARAMETERS[parameter["ParameterKey"]]] = parameter["ParameterValue"]
        source = f"stack {target.stack_name} parameters"
    else:
        for name in POLICY_PARAMETERS.values():
            if os.environ.get(name.upper()):
                values[name] = os.environ[name.upper()]
                source = "environment"
    try:
        return Policies(Settings.model_validate(values), source)
    except ValidationError as exc:
        raise OpsError(f"deployment policies ({source}): {'; '.join(describe_errors(exc))}") from exc


def overlay(policies: Policies, default: RuleSet | None, vendor: RuleSet | None) -> RuleSet:
    """What applies to a vendor's leads: the deployment's policies <- the default set <- the vendor's."""
    rules = from_settings(policies.settings)
    for layer in (default, vendor):
        if layer is not None:
            rules = layer.over(rules)
    return rules


def rule_lines(rules: RuleSet) -> list[str]:
    lines = []
    for name in RuleSet.model_fields:
        value = getattr(rules, name)
        if value is None:
            continue
        if isinstance(value, Rule):
            params = value.model_dump(mode="json", exclude={"mode"}, exclude_none=True)
            text = " ".join(f"{k}={json.dumps(v)}" for k, v in params.items())
            lines.append(f"  {name:<19} {value.mode:<8} {text}".rstrip())
        else:
            lines.append(f"  {name:<19} {value}")
    return lines or ["  (no rules)"]


def stored_dict(stored: RuleSetVersion, *, active: int | None = None) -> dict[str, Any]:
    data = {
        "scope": stored.scope,
        "version": stored.version,
        "label": stored.label,
        "created_at": stored.created_at,
        "actor": stored.actor,
        "rules": stored.rules.model_dump(mode="json", exclude_unset=True),
    }
    if active is not None:
        data["active"] = stored.version == active
    return data


# --- the backtest ------------------------------------------------------------------------------------


def exchange_of(item: dict[str, Any]) -> Exchange:
    """A stored exchange (as LeadTable.read_lead returns it) back into the client's Exchange."""
    response = item.get("response")
    body = response.get("body") if isinstance(response, dict) else None
    try:
        parsed = json.loads(body) if isinstance(body, str) else None
    except ValueError:  # not JSON, or clipped (MAX_STORED_BODY)
        parsed = None
    return Exchange(
        attempt=int(item.get("attempt") or 0),
        started_at=str(item["started_at"]),
        duration_ms=float(item.get("duration_ms") or 0),
        request=item.get("request") or {},
        response=response,
        error=item.get("error"),
        error_detail=item.get("error_detail"),
        _json=parsed,
    )


def _asked(item: dict[str, Any]) -> set[str]:
    try:
        body = json.loads((item.get("request") or {}).get("body") or "{}")
    except ValueError:
        return set()
    return set(body) if isinstance(body, dict) else set()


def judged_exchange(exchanges: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The answer the live path judged: the first 200 that carried insights or verify (decide_first's
    probe, or the combined call), else the first 200."""
    answered = [ex for ex in exchanges if isinstance(ex.get("response"), dict) and ex["response"].get("status") == 200]
    probing = [ex for ex in answered if _asked(ex) & {"insights", "verify"}]
    chosen = probing or answered
    return chosen[0] if chosen else None


def live_outcome(lead: Lead) -> str:
    """``refused:<reason>`` when a rule refused the lead live, otherwise what became of it."""
    if lead.status is Status.REJECTED and lead.reason is not None and lead.reason.value in RULE_REASONS:
        return f"refused:{lead.reason.value}"
    return lead.status.value if lead.reason is None else f"{lead.status.value}:{lead.reason.value}"


@dataclass
class VendorReplay:
    vendor: str
    rules: RuleSet
    leads: int = 0
    replayed: int = 0
    no_answer: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    shadow: Counter[str] = field(default_factory=Counter)
    unjudged: Counter[str] = field(default_factory=Counter)
    unjudged_leads: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    details: list[dict[str, Any]] = field(default_factory=list)

    def add(self, lead: Lead, verdicts: list[Verdict]) -> None:
        self.replayed += 1
        refused = refusal(verdicts)
        candidate = f"refused:{refused.reason.value}" if refused else "kept"
        for verdict in verdicts:
            if verdict.passed is False and verdict.mode == "shadow":
                self.shadow[verdict.reason.value] += 1
        unjudged = [verdict.rule for verdict in verdicts if verdict.passed is None]
        self.unjudged.update(unjudged)
        self.unjudged_leads += bool(unjudged)
        if refused:
            self.refused[refused.reason.value] += 1
        live = live_outcome(lead)
        was_refused = live.startswith("refused:")
        change = None
        if was_refused and not refused:
            change = "refused->kept"
        elif refused and not was_refused:
            change = "kept->refused"
        elif refused and live != candidate:
            change = "reason changed"
        if change:
            self.changes[change] += 1
        if refused or change or unjudged:
            detail: dict[str, Any] = {
                "lead_id": lead.lead_id,
                "received_at": lead.received_at,
                "live": live,
                "candidate": candidate,
            }
            if refused:
                detail["detail"] = {"rule": refused.rule, **refused.detail}
            self.details.append(detail | {"change": change, "unjudged": unjudged})

    def as_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "leads": self.leads,
            "replayed": self.replayed,
            "not_replayed": sum(self.no_answer.values()),
            "not_replayed_by_outcome": dict(self.no_answer.most_common()),
            "would_refuse": sum(self.refused.values()),
            "would_refuse_by_reason": dict(self.refused.most_common()),
            "shadow_would_refuse_by_reason": dict(self.shadow.most_common()),
            "could_not_judge": self.unjudged_leads,
            "could_not_judge_by_rule": {
                rule: {"leads": n, "needs": NEEDS_TEXT.get(rule, rule)} for rule, n in self.unjudged.most_common()
            },
            "changed": sum(self.changes.values()),
            "changes": dict(self.changes.most_common()),
            "leads_detail": self.details,
        }


def replay_vendor(
    store: LeadTable, vendor: str, rules: RuleSet, policies: Policies, *, since: datetime, until: datetime | None
) -> VendorReplay:
    result = VendorReplay(vendor, rules)
    for lead in store.index.vendor_leads(vendor, since=since, until=until):
        result.leads += 1
        record = store.reader.read_lead(lead.lead_id)
        item = judged_exchange(record.exchanges) if record else None
        if record is None or item is None:
            result.no_answer[live_outcome(lead)] += 1
            continue
        exchange = exchange_of(item)
        if not isinstance(exchange.json(), dict):
            result.no_answer["unreadable answer"] += 1
            continue
        # The facts as the live path read them: retaining=False makes any 200 an answer to judge.
        decision = decide(exchange, policies.settings, retaining=False)
        facts = judgement.facts_of(exchange, record.lead, decision)
        result.add(record.lead, evaluate(rules, facts))
    return result


def parse_since(text: str, now: datetime) -> datetime:
    match = SINCE.match(text.strip())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: float(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise OpsError(f"--since {text!r}: expected 30m, 24h, 7d, 2w or an ISO date/time") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# --- commands ----------------------------------------------------------------------------------------


def _scope(ctx: Context) -> str:
    """The default rule set, or a known vendor's."""
    vendor = ctx.args.vendor
    if vendor is None:
        return DEFAULT_SCOPE
    if vendor == DEFAULT_SCOPE or vendor not in _vendors(ctx):
        raise OpsError(f"no vendor {vendor} (tf-retainer vendors list)")
    return str(vendor)


def _vendors(ctx: Context) -> list[str]:
    return sorted({key.vendor for key in ctx.vendor_keys.list()})


def _where(scope: str) -> str:
    return "the default rule set" if scope == DEFAULT_SCOPE else f"{scope}'s rule set"


def cmd_rules_show(ctx: Context) -> int:
    store, scope = ctx.rule_store, _scope(ctx)
    active = store.active(scope)
    shown = active
    if ctx.args.version is not None:
        shown = store.version(scope, ctx.args.version)
        if shown is None:
            raise OpsError(f"{_where(scope)} has no version {ctx.args.version}", 1)
    policies = deployment_policies(ctx)
    default = active if scope == DEFAULT_SCOPE else store.active(DEFAULT_SCOPE)
    vendor = active if scope != DEFAULT_SCOPE else None
    labels = [stored.label for stored in (default, vendor) if stored is not None]
    data: dict[str, Any] = {
        "scope": scope,
        "active_version": active.version if active else None,
        "shown": stored_dict(shown) if shown else None,
        "effective": {
            "applies_to": "every vendor without its own rule set" if scope == DEFAULT_SCOPE else f"{scope}'s leads",
            "version": "+".join(labels) or "settings",
            "rules": overlay(policies, default.rules if default else None, vendor.rules if vendor else None).model_dump(
                mode="json", exclude_none=True
            ),
            "policies": policies.as_dict(),
        },
    }
    if ctx.args.versions:
        data["versions"] = [stored_dict(s, active=active.version if active else None) for s in store.versions(scope)]

    def human(_: Any) -> None:
        if ctx.args.versions:
            ctx.print(f"{_where(scope)}: {len(data['versions'])} version(s)")
            ctx.print(f"  {'version':<8} {'created':<28} actor")
            for row in data["versions"]:
                mark = "  (active)" if row["active"] else ""
                ctx.print(f"  {row['version']:<8} {row['created_at']:<28} {row['actor'] or '-'}{mark}")
            return
        if shown is None:
            ctx.print(f"{_where(scope)}: none (nothing stored: the rules below come from the deployment)")
        else:
            state = "active" if active and shown.version == active.version else f"not active: {active_text(active)}"
            ctx.print(f"{_where(scope)}: version {shown.version} ({state}), {shown.created_at} by {shown.actor or '-'}")
            for line in rule_lines(shown.rules):
                ctx.print(line)
        effective = data["effective"]
        ctx.print(f"in force for {effective['applies_to']} ({effective['version']}, over {policies.describe()}):")
        for line in rule_lines(RuleSet.model_validate(effective["rules"])):
            ctx.print(line)

    ctx.emit(data, human)
    return 0


def active_text(active: RuleSetVersion | None) -> str:
    return f"version {active.version} is" if active else "none is"


def cmd_rules_set(ctx: Context) -> int:
    args = ctx.args
    if bool(args.file) == bool(args.mode):
        raise OpsError("rules set takes a FILE (or - for standard input), or --mode RULE=MODE, not both")
    store, scope = ctx.rule_store, _scope(ctx)
    current = store.active(scope)
    where = _where(scope)
    try:
        if args.file:
            rules = read_rule_set(args.file)
        else:
            if current is None:
                raise OpsError(f"{where} has no version yet: set it from a file first")
            rules = flip(current.rules, args.mode, where=where)
    except RulesInvalid as exc:
        for line in exc.errors:
            ctx.note(f"tf-retainer: {line}")
        ctx.note(f"tf-retainer: {len(exc.errors)} error(s): nothing written")
        return 2
    if current is not None and rules == current.rules and rules.model_fields_set == current.rules.model_fields_set:
        ctx.note(f"note: {where} is already that (version {current.version}): nothing written")
        ctx.emit(stored_dict(current), lambda _: ctx.print(f"{where}: version {current.version} unchanged"))
        return 0
    try:
        stored = store.publish(scope, rules, actor=args.actor or _actor(), now=datetime.now(UTC))
    except RulesChanged as exc:
        raise OpsError(
            f"{where} was changed by someone else meanwhile: nothing written, look and try again", 1
        ) from exc
    data = stored_dict(stored)

    def human(_: Any) -> None:
        ctx.print(f"{where}: version {stored.version} published and active ({stored.label}, by {stored.actor})")
        for line in rule_lines(stored.rules):
            ctx.print(line)
        ctx.print("intake applies it within RULES_CACHE_SECONDS (60 s by default)")

    ctx.emit(data, human)
    return 0


def _actor() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "operator"


def cmd_rules_test(ctx: Context) -> int:
    args = ctx.args
    if args.version is not None and args.file:
        raise OpsError("rules test takes --version or --file, not both")
    store, scope = ctx.rule_store, _scope(ctx)
    where = _where(scope)
    active = store.active(scope)
    if args.file:
        try:
            candidate = read_rule_set(args.file)
        except RulesInvalid as exc:
            for line in exc.errors:
                ctx.note(f"tf-retainer: {line}")
            return 2
        label = f"{args.file} as {where}"
    else:
        stored = active if args.version is None else store.version(scope, args.version)
        if stored is not None:
            candidate, label = stored.rules, stored.label
        elif args.version is None:  # nothing stored: the rules in force without it
            candidate, label = RuleSet(), f"{where}: none stored"
        else:
            raise OpsError(f"{where} has no version {args.version}", 1)
    if args.mode:
        candidate = flip(candidate, args.mode, where=label)
        label += " with " + " ".join(f"{rule}={mode}" for rule, mode in args.mode)
    now = datetime.now(UTC)
    since = parse_since(args.since, now)
    until = parse_since(args.until, now) if args.until else None
    policies = deployment_policies(ctx)
    default_rules = None if scope == DEFAULT_SCOPE else (store.active(DEFAULT_SCOPE) or None)
    vendors = [scope] if scope != DEFAULT_SCOPE else _vendors(ctx)
    replays = []
    for vendor in vendors:
        if scope == DEFAULT_SCOPE:
            own = store.active(vendor)
            rules = overlay(policies, candidate, own.rules if own else None)
        else:
            rules = overlay(policies, default_rules.rules if default_rules else None, candidate)
        replays.append(replay_vendor(ctx.store, vendor, rules, policies, since=since, until=until).as_dict())
    totals = {
        key: sum(r[key] for r in replays)
        for key in ("leads", "replayed", "not_replayed", "would_refuse", "could_not_judge", "changed")
    }
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
        "total": totals,
    }
    ctx.emit(data, lambda d: _print_backtest(ctx, d, show_leads=args.leads))
    return 0


def _counts(counts: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in counts.items()) or "-"


def _print_backtest(ctx: Context, data: dict[str, Any], *, show_leads: bool) -> None:
    ctx.print(f"candidate {data['candidate']['label']}, over {ctx_policies(data)}")
    period = f"since {data['since']}" + (f" until {data['until']}" if data["until"] else "")
    ctx.print(f"leads received {period}, replayed from their stored TrustedForm answers (no TrustedForm call)")
    if not data["vendors"]:
        ctx.print("no vendors")
    for r in data["vendors"]:
        ctx.print(
            f"{r['vendor']}: {r['leads']} lead(s), {r['replayed']} replayed, "
            f"{r['not_replayed']} without a TrustedForm answer to replay"
            + (f" ({_counts(r['not_replayed_by_outcome'])})" if r["not_replayed"] else "")
        )
        ctx.print(f"  would refuse:         {r['would_refuse']:<4} {_counts(r['would_refuse_by_reason'])}")
        ctx.print(f"  shadow, would refuse:      {_counts(r['shadow_would_refuse_by_reason'])}")
        unjudged = " ".join(
            f"{rule}={v['leads']} (needs {v['needs']})" for rule, v in r["could_not_judge_by_rule"].items()
        )
        ctx.print(f"  could not judge:      {r['could_not_judge']:<4} {unjudged or '-'}")
        ctx.print(f"  outcome changes:      {r['changed']:<4} {_counts(r['changes'])}")
        listed = [d for d in r["leads_detail"] if d["change"] or d["candidate"] != "kept"]
        if show_leads or r["changed"]:
            shown = listed if show_leads else [d for d in listed if d["change"]]
            for d in shown[:MAX_LEAD_LINES]:
                ctx.print(f"    {d['lead_id']}  {d['received_at']}  live {d['live']} -> {d['candidate']}")
            if len(shown) > MAX_LEAD_LINES:
                ctx.print(f"    ... {len(shown) - MAX_LEAD_LINES} more (--json lists them all)")
    t = data["total"]
    ctx.print(
        f"total: {t['leads']} lead(s), {t['replayed']} replayed, {t['would_refuse']} would be refused, "
        f"{t['could_not_judge']} not fully judged, {t['changed']} outcome(s) would change"
    )


def ctx_policies(data: dict[str, Any]) -> str:
    policies = dict(data["policies"])
    source = policies.pop("source")
    return f"the deployment's policies {_counts(policies)} ({source})"


# --- wiring ------------------------------------------------------------------------------------------


def add_rules_commands(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """``rules show|set|test`` under the main parser (``command`` is cli.build_parser's helper)."""
    rules = commands.add_parser("rules", help="the buyer's intake rule sets").add_subparsers(
        dest="rules_command", required=True
    )
    show = command(rules, "show", cmd_rules_show, "the active rule set, its version, and what is in force")
    show.add_argument("--vendor", help="a vendor's own rule set (default: the default rule set)")
    show.add_argument("--version", type=_version, help="this stored version instead of the active one")
    show.add_argument("--versions", action="store_true", help="list the versions (version, created_at, actor)")

    set_ = command(rules, "set", cmd_rules_set, "publish a new version of a rule set (a file, or --mode)")
    set_.add_argument("file", nargs="?", help="JSON rule set (YAML if pyyaml is installed), - for standard input")
    set_.add_argument("--vendor", help="a vendor's own rule set (default: the default rule set)")
    set_.add_argument(
        "--mode", action="append", type=parse_mode, metavar="RULE=MODE", help="flip one rule to enforce|shadow|off"
    )
    set_.add_argument("--actor", help="who made the change (default: your user name)")

    test = command(rules, "test", cmd_rules_test, "backtest a candidate rule set on stored leads (no TrustedForm)")
    test.add_argument("--vendor", help="a candidate for this vendor's rule set (replays only its leads)")
    test.add_argument("--version", type=_version, help="a stored version as the candidate (default: the active one)")
    test.add_argument("--file", help="a rule set file as the candidate")
    test.add_argument(
        "--mode", action="append", type=parse_mode, metavar="RULE=MODE", help="the candidate with a rule's mode flipped"
    )
    test.add_argument("--since", default="7d", help="leads received since: 30m, 24h, 7d, 2w or ISO (default 7d)")
    test.add_argument("--until", help="and up to (same forms)")
    test.add_argument("--leads", action="store_true", help="list every lead the candidate refuses")


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("a version number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("versions start at 1")
    return value
