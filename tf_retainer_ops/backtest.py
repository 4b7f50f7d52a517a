"""The backtest of a candidate rule set (`rules test`): stored leads replayed through it, and what is in
force for a vendor (the deployment's policies under the default rule set under the vendor's own).

A backtest never calls TrustedForm: it judges each lead on the first TrustedForm answer stored with it
(the one that carried insights / verify), exactly as the live path did (judgement.facts_from, evaluate); a
lead without a certificate on its stored screen results (Jornaya's audit of its token) alone.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from tf_retainer.decisions import judgement, screen_rules
from tf_retainer.decisions.rulebook import DEFAULT_SCOPE, from_settings
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.decisions.verdicts import REASONS, Verdict, evaluate, refusal
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import Status
from tf_retainer.runtime.settings import Settings

from .rule_sets import describe_errors
from .target import OpsError, Target

if TYPE_CHECKING:
    from tf_retainer.store.lead_table import LeadTable
    from tf_retainer.store.rule_sets import RuleStore

# What each rule reads: what a stored answer (TrustedForm's, or a screen's) must carry to judge it.
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
    # The screen rules read the lead's own screen results (stored when a screen rule ran, shadow or enforced).
    "litigator": "the litigator screen's answer (a litigator or dnc rule in shadow first)",
    "dnc": "the Do-Not-Call screen's answer (a dnc rule in shadow first)",
    "reassigned_number": "the reassigned-number check, asked at call time only",
    "phone_valid": "the phone screen's answer (a phone_valid or line_type rule in shadow first)",
    "line_type": "the phone screen's answer (a phone_valid or line_type rule in shadow first)",
    "jornaya": "Jornaya's audit of the lead's LeadiD token (a jornaya rule in shadow first)",
    "consent_records": "Jornaya's audit of the lead's LeadiD token (a jornaya rule in shadow first)",
}
RULE_REASONS = frozenset(reason.value for reason in REASONS.values())
# The template's parameters for the policies every rule set overlays (rulebook.from_settings).
POLICY_PARAMETERS = {
    "MaskedCertificatePolicy": "masked_certificate_policy",
    "LeadMatchPolicy": "lead_match_policy",
    "CertificateReusePolicy": "certificate_reuse_policy",
}


@dataclass(frozen=True, slots=True)
class Policies:
    settings: Settings
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self.settings, name) for name in POLICY_PARAMETERS.values()} | {"source": self.source}

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.as_dict().items() if k != "source") + f" ({self.source})"


def deployment_policies(target: Target) -> Policies:
    """MASKED_CERTIFICATE_POLICY, LEAD_MATCH_POLICY, CERTIFICATE_REUSE_POLICY as deployed: a stack's
    parameters, otherwise this shell's environment, otherwise the template's defaults."""
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


# --- the replay ---------------------------------------------------------------------------------------


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
    """The answer the live path judged: TrustedForm's first 200 that carried insights or verify (decide_first's
    probe, or the combined call), else its first 200. A screen's exchange (it names its ``provider``) never:
    its answer is in the lead's screen results."""
    answered = [
        ex
        for ex in exchanges
        if ex.get("provider") is None and isinstance(ex.get("response"), dict) and ex["response"].get("status") == 200
    ]
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
        if record is not None and record.lead.cert_id is None:
            result.add(record.lead, token_verdicts(rules, record.lead))
            continue
        item = judged_exchange(record.exchanges) if record else None
        if record is None or item is None:
            result.no_answer[live_outcome(lead)] += 1
            continue
        exchange = exchange_of(item)
        if not isinstance(exchange.json(), dict):
            result.no_answer["unreadable answer"] += 1
            continue
        # The facts as the live path read them (a rule whose data the call did not ask for: not evaluated).
        result.add(record.lead, evaluate(rules, judgement.facts_from([exchange], record.lead)))
    return result


def token_verdicts(rules: RuleSet, lead: Lead) -> list[Verdict]:
    """A lead without a certificate (kept on its LeadiD token), judged as the live path judged it: on its
    stored screen results, Jornaya's audit among them; the rules that read TrustedForm's answers do not apply
    (leads/token_only.py records them as not evaluated), so they are neither judged nor counted unjudged."""
    return [
        verdict for verdict in evaluate(rules, judgement.facts_from([], lead)) if verdict.rule in screen_rules.REASONS
    ]


def backtest(
    leads: LeadTable,
    rule_sets: RuleStore,
    scope: str,
    candidate: RuleSet,
    policies: Policies,
    *,
    vendors: list[str],
    since: datetime,
    until: datetime | None,
) -> list[dict[str, Any]]:
    """Each vendor's replay: a candidate default rule set under every vendor's own, or a candidate vendor's
    set over the default one in force."""
    default = None if scope == DEFAULT_SCOPE else (rule_sets.active(DEFAULT_SCOPE) or None)
    replays = []
    for vendor in [scope] if scope != DEFAULT_SCOPE else vendors:
        if scope == DEFAULT_SCOPE:
            own = rule_sets.active(vendor)
            rules = overlay(policies, candidate, own.rules if own else None)
        else:
            rules = overlay(policies, default.rules if default else None, candidate)
        replays.append(replay_vendor(leads, vendor, rules, policies, since=since, until=until).as_dict())
    return replays


def totals(replays: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("leads", "replayed", "not_replayed", "would_refuse", "could_not_judge", "changed")
    return {key: sum(replay[key] for replay in replays) for key in keys}
