"""The fault soak's second consent record (bench/soak.py ``--jornaya``): every lead also carries a Jornaya
LeadiD token, the buyer requires both records (``consent_records: both``, the ``jornaya`` rule enforced;
with ``--token-only``: ``either``, and a share of the leads carry no certificate, bench/soak_token_only.py),
and Jornaya's simulator misbehaves call by call as TrustedForm's does. What is checked, per lead, from the
simulator's request log against the lead's verified chain:

* every audit Jornaya received has a request on record written before it arrived (requests and audits are
  matched in time order: the recorded body is redacted, the simulator's is not), and an exchange holding
  Jornaya's answer (a status) written after it arrived (an error met, a timeout, may be written before the
  simulator stamps a late arrival: not judged);
* audited only as the rules say (``audits_token``): under ``either`` with the ``jornaya`` rule enforced, a
  lead with a certificate is audited for the ``jornaya`` rule, one without for both rules; were the
  ``jornaya`` rule off, a token beside a certificate would never be audited (an audit of it is a finding);
* evidence: every stored Jornaya exchange is an audit Jornaya received, and every audit received has its
  exchange, but for answers lost with their caller (a request on record, unanswered);
* billed twice: a token answered 200 more than once, other than after a call whose answer was lost or
  could not be read (the simulator's ``malformed``: a 200 whose body is cut, asked again by design);
* the outcome against the token's script: a token scripted red, where an enforced rule reads its audit
  (``refuses_red``), leaves its lead rejected by a Jornaya reason (``consent_record_missing`` or
  ``jornaya_audit_failed``; with ``--screens``, a screen of a listed number may refuse it first); a token
  not scripted red never leaves its lead refused by a Jornaya reason.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from bench.soak_audit import chain_summary

# Call-by-call answer mix of Jornaya's audits (the rest: the audit), and the tokens it audits red.
FAULT_MIX = (
    (0.20, ("server_error", "bad_gateway", "unavailable")),
    (0.05, ("hang",)),
    (0.05, ("throttled:1",)),
    (0.02, ("malformed",)),
)
RED_SHARE = 0.04
RULES = {"consent_records": {"required": "both"}, "jornaya": {"mode": "enforce"}}
# With --token-only: a certificate or else a token (bench/soak_token_only.py), Jornaya's audit enforced as above.
EITHER_RULES = {"consent_records": {"required": "either"}, "jornaya": {"mode": "enforce"}}
CLOCK_SLACK_SECONDS = 0.001
JORNAYA_REASONS = frozenset({"consent_record_missing", "jornaya_audit_failed"})


def _mode(rules: dict[str, Any], name: str) -> str:
    rule = rules.get(name)
    return "off" if rule is None else str(rule.get("mode", "enforce"))


def _records_read_audit(rules: dict[str, Any], *, certificate: bool) -> bool:
    required = (rules.get("consent_records") or {}).get("required", "both")
    return required in ("both", "jornaya") or (required == "either" and not certificate)


def audits_token(rules: dict[str, Any], *, certificate: bool) -> bool:
    """Whether the buyer's ``rules`` have a lead's token audited (docs/providers.md): an active ``jornaya`` rule,
    or an active ``consent_records`` rule that reads the audit (``both``, ``jornaya``; ``either`` for a lead
    without a certificate, whose token is its only record)."""
    records = _mode(rules, "consent_records") != "off" and _records_read_audit(rules, certificate=certificate)
    return records or _mode(rules, "jornaya") != "off"


def refuses_red(rules: dict[str, Any], *, certificate: bool) -> bool:
    """Whether an enforced rule refuses a lead whose token is audited red."""
    records = _mode(rules, "consent_records") == "enforce" and _records_read_audit(rules, certificate=certificate)
    return records or _mode(rules, "jornaya") == "enforce"


def tokens(count: int) -> list[str]:
    return [str(uuid.uuid4()).upper() for _ in range(count)]


def draw_faults(rng: random.Random, mix: tuple[tuple[float, tuple[str, ...]], ...], max_faults: int) -> list[str]:
    """A subject's faults, drawn call by call from ``mix`` (share, kinds) until its answer (the rest of the mix),
    at most ``max_faults``; then ``ok``."""
    faults: list[str] = []
    while len(faults) < max_faults:
        roll, threshold = rng.random(), 0.0
        drawn = None
        for share, kinds in mix:
            threshold += share
            if roll < threshold:
                drawn = rng.choice(kinds)
                break
        if drawn is None:
            break
        faults.append(drawn)
    return [*faults, "ok"]


def draw_script(rng: random.Random, max_faults: int) -> tuple[list[str], dict[str, Any]]:
    """A token's faults (then its audit) and its facts (a few are audited red: a disclosure mismatch)."""
    faults = draw_faults(rng, FAULT_MIX, max_faults)
    facts = {"disclosure": "mismatch"} if rng.random() < RED_SHARE else {}
    return faults, facts


def script_tokens(sim_url: str, scripts: dict[str, tuple[list[str], dict[str, Any]]]) -> None:
    with httpx.Client(base_url=sim_url, timeout=30, trust_env=False) as sim:
        for token, (faults, facts) in scripts.items():
            sim.post(f"/_simulator/tokens/{token}", json={"faults": faults, "facts": facts}).raise_for_status()


def publish_rules(provisioned: Any, dynamodb: Any, rules: dict[str, Any] | None = None) -> None:
    """The buyer's default rule set: ``rules`` (by default RULES: both records required, Jornaya's audit
    enforced)."""
    from tf_retainer.decisions.rules import RuleSet
    from tf_retainer.store.rule_sets import RuleStore

    store = RuleStore(provisioned.table_name, client=dynamodb)
    store.publish("*", RuleSet.model_validate(rules or RULES), actor="soak", now=datetime.now().astimezone())


@dataclass
class Plan:
    """What the soak posted of Jornaya: each lead's token (by index), the tokens scripted red, the indices of
    the leads posted without a certificate (``--token-only``), the buyer's rules."""

    tokens: list[str]
    red: set[str]
    without_certificate: set[int]
    rules: dict[str, Any]


def plan(rng: random.Random, leads: int, max_faults: int, without_certificate: set[int]) -> tuple[Plan, dict[str, Any]]:
    """A token for every lead and its script (token -> (faults, facts)); the rules: ``both`` records, or
    ``either`` when some leads come without a certificate (bench/soak_token_only.py)."""
    drawn = tokens(leads)
    scripts = {token: draw_script(rng, max_faults) for token in drawn}
    red = {token for token, (_, facts) in scripts.items() if facts}
    rules = EITHER_RULES if without_certificate else RULES
    return Plan(drawn, red, without_certificate, rules), scripts


def audits_by_token(sim_url: str) -> dict[str, list[dict[str, Any]]]:
    with httpx.Client(timeout=120, trust_env=False) as http:
        requests = http.get(f"{sim_url}/_simulator/requests").json()
    by_token: dict[str, list[dict[str, Any]]] = {}
    for request in requests:
        if (request.get("route") or "").lower() == "/singlequery":
            for token in request.get("subjects") or []:
                by_token.setdefault(token, []).append(request)
    return by_token


@dataclass
class JornayaAudit:
    calls: int = 0
    calls_by_status: dict[str, int] = field(default_factory=dict)
    calls_without_request: int = 0
    calls_without_request_leads: list[str] = field(default_factory=list)
    evidence_gaps: int = 0
    evidence_gap_leads: list[str] = field(default_factory=list)
    billed_twice: int = 0
    billed_twice_leads: list[str] = field(default_factory=list)
    answers_before_calls: int = 0  # an exchange holding Jornaya's answer, written before the audit arrived
    answers_before_calls_leads: list[str] = field(default_factory=list)
    unexpected_audits: int = 0  # audits of a token the rules do not have audited
    unexpected_audit_leads: list[str] = field(default_factory=list)
    red: int = 0  # tokens scripted red whose audit an enforced rule reads
    refused: int = 0  # leads refused by a Jornaya reason
    wrongly_kept: int = 0  # a red token's lead not refused by a Jornaya reason (nor by another allowed)
    wrongly_kept_leads: list[str] = field(default_factory=list)
    wrongly_refused: int = 0  # a lead refused by a Jornaya reason, its token not red
    wrongly_refused_leads: list[str] = field(default_factory=list)
    repeats_after_lost_answers: int = 0
    unreadable_answers: int = 0  # 200s whose body could not be read (asked again: the audit is still owed)
    lost_answers: int = 0
    # What stands behind each token billed twice (the figures' JSON): its audits matched to its requests; and
    # the chain of each answer stored before its audit arrived.
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.calls_without_request
            or self.evidence_gaps
            or self.billed_twice
            or self.answers_before_calls
            or self.unexpected_audits
            or self.wrongly_kept
            or self.wrongly_refused
        )

    def line(self, label: str = "Jornaya") -> str:
        return (
            f"  {label:<16} {self.calls} audits {self.calls_by_status}; without a stored request "
            f"{self.calls_without_request} {self.calls_without_request_leads[:5]}; answers stored before the audit "
            f"arrived {self.answers_before_calls} {self.answers_before_calls_leads[:5]}; evidence gaps "
            f"{self.evidence_gaps} {self.evidence_gap_leads[:5]}; billed twice {self.billed_twice} "
            f"{self.billed_twice_leads[:5]} (repeats after a lost answer {self.repeats_after_lost_answers}, "
            f"after an unreadable one {self.unreadable_answers}; lost answers {self.lost_answers}); audits the "
            f"rules do not ask for {self.unexpected_audits} {self.unexpected_audit_leads[:5]}\n"
            f"                   red tokens {self.red}, leads refused by Jornaya's reasons {self.refused}; kept "
            f"wrongly {self.wrongly_kept} {self.wrongly_kept_leads[:5]}, refused wrongly {self.wrongly_refused} "
            f"{self.wrongly_refused_leads[:5]}"
        )


def audit_lead(audit: JornayaAudit, lead_id: str, made: list[dict[str, Any]], entries: list[Any]) -> None:
    """One lead's audits at Jornaya (``made``) against its verified chain ``entries``."""
    exchanges = [x for entry in entries for x in entry.exchanges if x.get("provider") == "jornaya"]
    answered = {x.get("call_id") for x in exchanges}
    # When each answer (an exchange holding Jornaya's status) was written.
    answered_at = {
        x.get("call_id"): _when(entry.at)
        for entry in entries
        for x in entry.exchanges
        if x.get("provider") == "jornaya" and (x.get("response") or {}).get("status") is not None
    }
    answer_status = {x.get("call_id"): (x.get("response") or {}).get("status") for x in exchanges}
    calls = [(_when(entry.at), str(call["call_id"])) for entry in entries for call in entry.calls]
    own = {str(call["call_id"]) for entry in entries for call in entry.calls if call.get("provider") == "jornaya"}
    recorded = sorted((pair for pair in calls if pair[1] in own), key=lambda pair: pair[0])
    stored = Counter((x.get("response") or {}).get("status") for x in exchanges)
    audit.calls += len(made)
    free = list(recorded)
    lost_before = paid = lost = 0
    timeline: list[dict[str, Any]] = []
    for request in sorted(made, key=lambda r: r["time"]):
        arrived = _when(request["time"]).timestamp() + CLOCK_SLACK_SECONDS
        # The request written last before the audit arrived, answered as Jornaya answered it if one is: one
        # caller at a time holds the lead, so an earlier request still free is one never sent (its caller told
        # the store failed after writing it, or killed), not this audit's (matching the earliest free one paired
        # each later audit with the request before its own, seen in the 1,000-lead soak under AWS faults).
        before = [pair for pair in free if pair[0].timestamp() <= arrived]
        same = (pair for pair in reversed(before) if answer_status.get(pair[1]) == request.get("status"))
        match = next(same, None) or (before[-1] if before else None)
        if match is None:
            audit.calls_without_request += 1
            audit.calls_without_request_leads.append(f"{lead_id}: an audit at {request['time']} not on record")
        else:
            free.remove(match)
            written = answered_at.get(match[1])
            if written is not None and written.timestamp() < arrived - 2 * CLOCK_SLACK_SECONDS:
                audit.answers_before_calls += 1
                found = f"{lead_id}: {match[1]} answered {written.isoformat()}, arrived {request['time']}"
                audit.answers_before_calls_leads.append(found)
                audit.details.append(
                    {"lead": lead_id, "answer_before_audit": match[1], "chain": chain_summary(entries)}
                )
        unanswered = match is not None and match[1] not in answered
        lost += unanswered
        # A 200 the chain holds as something else (a timeout: Jornaya answered after our call's deadline) is an
        # answer lost on the way, as much as one whose caller died: asking again is the design, not a double
        # billing (a false alarm of this audit before, which read only an exchange's absence as a loss).
        late = match is not None and not unanswered and answer_status.get(match[1]) != request.get("status")
        timeline.append(
            {
                "time": request["time"],
                "status": request.get("status"),
                "fault": request.get("fault"),
                "call_id": match[1] if match else None,
                "exchange_status": answer_status.get(match[1]) if match else None,
                "answered": not unanswered if match else None,
            }
        )
        if request.get("status") == 200 and request.get("fault") == "malformed":
            audit.unreadable_answers += 1
        elif request.get("status") == 200:
            paid += 1
            if paid > 1:
                if lost_before:
                    lost_before -= 1
                    audit.repeats_after_lost_answers += 1
                else:
                    audit.billed_twice += 1
                    audit.billed_twice_leads.append(lead_id)
                    audit.details.append({"lead": lead_id, "audits": timeline, "chain": chain_summary(entries)})
            lost_before += unanswered or late
    audit.lost_answers += lost
    statuses = Counter(request.get("status") for request in made)
    statuses.subtract(stored)
    if any(n < 0 for n in statuses.values()) or sum(statuses.values()) > lost:
        audit.evidence_gaps += 1
        kept = sorted(stored.elements(), key=str)
        audit.evidence_gap_leads.append(f"{lead_id}: audits {[r.get('status') for r in made]} vs stored {kept}")


def judge_outcome(
    audit: JornayaAudit,
    lead_id: str,
    state: dict[str, Any],
    made: list[dict[str, Any]],
    *,
    red: bool,
    audited: bool,
    refuses: bool,
    other_reasons: frozenset[str] = frozenset(),
) -> None:
    """One token lead's final ``state`` against its token's script (``red``) and the rules (``audited``: they have
    its token audited; ``refuses``: an enforced rule refuses it red); ``made``: the audits of its token Jornaya
    received. ``other_reasons``: what else may refuse it first (a screen of a listed number). A lead not final
    is left to the soak's count of lost leads."""
    if not audited and made:
        audit.unexpected_audits += 1
        audit.unexpected_audit_leads.append(f"{lead_id}: {len(made)} audit(s)")
    status, reason = state.get("status"), state.get("reason")
    if status not in ("retained", "rejected", "expired"):
        return
    by_jornaya = status == "rejected" and reason in JORNAYA_REASONS
    audit.refused += by_jornaya
    if audited and refuses and red:
        audit.red += 1
        if not (status == "rejected" and reason in JORNAYA_REASONS | other_reasons):
            audit.wrongly_kept += 1
            audit.wrongly_kept_leads.append(f"{lead_id}: {status} {reason}, its token red")
    elif by_jornaya:
        audit.wrongly_refused += 1
        audit.wrongly_refused_leads.append(f"{lead_id}: refused {reason}, its token not red")


def finish(audit: JornayaAudit, by_token: dict[str, list[dict[str, Any]]], tokens: list[str] | None = None) -> None:
    """The audits' statuses: of ``tokens`` (by default every token audited)."""
    made = by_token.values() if tokens is None else (by_token.get(token, []) for token in tokens)
    audit.calls_by_status = dict(Counter(str(r.get("status")) for requests in made for r in requests))


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
