"""What to ask TrustedForm for a lead, and the buyer's rules applied to what it answered."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tf_retainer.decisions.answer import Decision
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.decisions.screen_rules import REASONS as SCREEN_RULES
from tf_retainer.decisions.verdicts import REASONS, Facts, Verdict, evaluate, refusal
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import Status
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.runtime.settings import Settings

# Rules that read insights, scans or verify: with one of them enforced, decide_first asks before retaining.
# The deployment's policies (masked_refused, lead_match) alone never call for a first call: they are judged
# on the retain's own answer, as always (a second round trip and a second match for every kept lead would
# cost more than the retains of the few leads they refuse); with a first call made anyway, they are
# judged on it, before anything is retained.
# Nor do the screen rules: they are judged on the screens, before TrustedForm is asked at all.
DECIDING_RULES = tuple(name for name in REASONS if name not in ("masked_refused", "lead_match", *SCREEN_RULES))
BILLED_OPERATIONS = ("match_lead", "retain", "verify")
Mode = Literal["decide_first", "combined"]


@dataclass(frozen=True, slots=True)
class Ask:
    """The operations of one call."""

    match_lead: bool
    retain: bool
    insights: tuple[str, ...] = ()
    scans: dict[str, list[str]] | None = None
    verify: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    mode: Mode  # how this lead is asked: the setting, once the rules in force are known
    probe: Ask  # decide_first's first call: what the enforced rules read, no retain
    retain_only: Ask  # its second call, for a lead the rules keep
    combined: Ask  # everything in one call

    @property
    def decide_first(self) -> bool:
        return self.mode == "decide_first"


def plan(rules: RuleSet, settings: Settings) -> Plan:
    """What to ask TrustedForm: only what the enforced rules read (and the deployment's INSIGHTS_PROPERTIES);
    a shadow rule never adds a call, an operation or a property. RETAIN_MODE=decide_first asks first only
    when an enforced rule decides before the retain; otherwise one call (combined)."""
    insights = tuple(sorted(rules.insights_properties() | set(settings.insights_properties)))
    scans, verify = rules.scans(), rules.verify()
    deciding = any(rules.enforced(name) for name in DECIDING_RULES)
    # The match only when it decides (an enforced lead_match: LEAD_MATCH_POLICY=reject, or a rule set's).
    match_decides = rules.enforced("lead_match") is not None
    return Plan(
        mode="decide_first" if settings.retain_mode == "decide_first" and deciding else "combined",
        probe=Ask(match_lead=match_decides, retain=False, insights=insights, scans=scans, verify=verify),
        # TrustedForm takes no retain without match_lead: the second call always matches (billed again if
        # the first call matched too).
        retain_only=Ask(match_lead=True, retain=True),
        combined=Ask(match_lead=True, retain=True, insights=insights, scans=scans, verify=verify),
    )


def facts_from(exchanges: Sequence[Exchange], lead: Lead) -> Facts:
    """What the attempt's answers (its 200s) said, as the rules read it: each fact from the earliest answer
    that reported it, and what those calls asked for (unknown when a call's request is not on record)."""
    properties: dict[str, Any] = {}
    scans: dict[str, Any] | None = None
    verify: dict[str, Any] | None = None
    match: bool | None = None
    age: float | None = None
    fetched: set[str] | None = set()
    for exchange in exchanges:
        body = exchange.json()
        if exchange.status != 200 or not isinstance(body, dict):
            continue
        insights = _object(body.get("insights"))
        own = facts_of_properties(exchange)
        properties.update({k: v for k, v in own.items() if v is not None and properties.get(k) is None})
        scans = scans or _object(insights.get("scans")) or None
        verify = verify or _object(body.get("verify")) or None
        result = _object(_object(body.get("match_lead")).get("result")).get("success")
        match = result if match is None and isinstance(result, bool) else match
        age = _age_at_arrival(own, lead, exchange) if age is None else age
        asked = _asked(exchange)
        fetched = None if fetched is None or asked is None else fetched | asked
    masked = properties.get("is_masked")
    return Facts(
        properties=properties,
        scans=scans,
        verify=verify,
        masked=masked if isinstance(masked, bool) else None,
        match_success=match,
        age_at_arrival=age,
        fetched=frozenset(fetched) if fetched is not None else None,
        screens=dict(lead.screens or {}),
        leadid=lead.leadid_token is not None,
        certificate=lead.cert_id is not None,
    )


def _asked(exchange: Exchange) -> set[str] | None:
    """What one call asked for, in READS' names, from its request as recorded (None: not on record)."""
    try:
        body = json.loads(exchange.request.get("body") or "")
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    insights = _object(body.get("insights"))
    properties = insights.get("properties")
    asked = {str(name) for name in properties} if isinstance(properties, list) else set()
    asked |= {part for part in ("match_lead", "verify") if part in body}
    return asked | ({"scans"} if insights.get("scans") else set())


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def judge(
    rules: RuleSet, exchanges: Sequence[Exchange], lead: Lead, decision: Decision
) -> tuple[Decision, list[Verdict]]:
    """The rules' verdicts on what TrustedForm answered; a refused lead's decision becomes a rejection."""
    verdicts = evaluate(rules, facts_from(exchanges, lead))
    refused = refusal(verdicts)
    if refused is None:
        return decision, verdicts
    return Decision(Status.REJECTED, refused.reason, facts=decision.facts), verdicts


def review(rules: RuleSet, exchanges: Sequence[Exchange], lead: Lead, verdicts: list[Verdict]) -> list[Verdict]:
    """After decide_first's retain: the shadow rules judged again on every answer of the attempt (a shadow
    lead_match on the retain's match); the enforced verdicts stand as they decided."""
    again = {verdict.rule: verdict for verdict in evaluate(rules, facts_from(exchanges, lead))}
    return [verdict if verdict.mode == "enforce" else again.get(verdict.rule, verdict) for verdict in verdicts]


def deadline_from(exchange: Exchange, lead: Lead, settings: Settings) -> str | None:
    """The retain window TrustedForm reports (insights expires_at, or created_at + the window) less the
    safety margin, when it answered with either; None otherwise (the lead's bound stands)."""
    properties = facts_of_properties(exchange)
    margin = timedelta(minutes=settings.deadline_safety_minutes)
    if isinstance(properties.get("expires_at"), str):
        return iso(parse_iso(properties["expires_at"]) - margin)
    if isinstance(properties.get("created_at"), str) and lead.cert_kind == "web":
        return iso(parse_iso(properties["created_at"]) + timedelta(hours=settings.retain_window_hours) - margin)
    return None


def billed_operations(exchange: Exchange) -> int:
    """What one call cost: each operation answered, insights per property returned."""
    if exchange.status != 200:
        return 0
    try:
        asked = json.loads(exchange.request.get("body") or "{}")
    except ValueError:
        return 0
    properties = facts_of_properties(exchange)
    return sum(1 for op in BILLED_OPERATIONS if op in asked) + sum(1 for v in properties.values() if v is not None)


def facts_of_properties(exchange: Exchange) -> dict[str, Any]:
    return _object(_object(_object(exchange.json()).get("insights")).get("properties"))


def _age_at_arrival(properties: dict[str, Any], lead: Lead, exchange: Exchange) -> float | None:
    received = parse_iso(lead.received_at)
    if isinstance(properties.get("created_at"), str):
        return max(0.0, (received - parse_iso(properties["created_at"])).total_seconds())
    age = properties.get("age_seconds")
    if isinstance(age, int | float) and not isinstance(age, bool):
        called = datetime.fromisoformat(exchange.started_at)
        return max(0.0, float(age) - (called - received).total_seconds())
    return None
