"""What to ask TrustedForm for a lead, and the buyer's rules applied to what it answered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tf_retainer.decisions.answer import Decision
from tf_retainer.decisions.rules import NEEDS, Facts, RuleSet, Verdict, evaluate, refusal
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import Status
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.runtime.settings import Settings

# Rules that read insights or verify: with any of them in force, decide_first asks before retaining.
DECIDING_RULES = (*NEEDS, "page_scans", "consent_verified")
BILLED_OPERATIONS = ("match_lead", "retain", "verify")


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
    decide_first: bool
    probe: Ask  # decide_first's first call: everything the rules read, no retain
    retain_only: Ask  # its second call, for a lead the rules keep
    combined: Ask  # everything in one call


def plan(rules: RuleSet, settings: Settings) -> Plan:
    insights = tuple(sorted(rules.insights_properties() | set(settings.insights_properties)))
    scans, verify = rules.scans(), rules.verify()
    deciding = any(rules.active(name) for name in DECIDING_RULES)
    return Plan(
        decide_first=settings.retain_mode == "decide_first" and deciding,
        probe=Ask(match_lead=True, retain=False, insights=insights, scans=scans, verify=verify),
        # TrustedForm takes no retain without match_lead: the second call matches again (billed again).
        retain_only=Ask(match_lead=True, retain=True),
        combined=Ask(match_lead=True, retain=True, insights=insights, scans=scans, verify=verify),
    )


def facts_of(exchange: Exchange, lead: Lead, decision: Decision) -> Facts:
    body = _object(exchange.json())
    insights = _object(body.get("insights"))
    properties = facts_of_properties(exchange)
    match = decision.facts.lead_match
    return Facts(
        properties=properties,
        scans=_object(insights.get("scans")) or None,
        verify=_object(body.get("verify")) or None,
        masked=decision.facts.masked,
        match_success=match.success if match else None,
        age_at_arrival=_age_at_arrival(properties, lead, exchange),
        screens=dict(lead.screens or {}),
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def judge(rules: RuleSet, exchange: Exchange, lead: Lead, decision: Decision) -> tuple[Decision, list[Verdict]]:
    """The rules' verdicts on what TrustedForm answered; a refused lead's decision becomes a rejection."""
    verdicts = evaluate(rules, facts_of(exchange, lead, decision))
    refused = refusal(verdicts)
    if refused is None:
        return decision, verdicts
    return Decision(Status.REJECTED, refused.reason, facts=decision.facts), verdicts


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
