"""The fault soak's second consent record (bench/soak.py ``--jornaya``): every lead also carries a Jornaya
LeadiD token, the buyer requires both records (``consent_records: both``, the ``jornaya`` rule enforced),
and Jornaya's simulator misbehaves call by call as TrustedForm's does. What is checked, per lead, from the
simulator's request log against the lead's verified chain:

* every audit Jornaya received has a request on record written before it arrived (requests and audits are
  matched in time order: the recorded body is redacted, the simulator's is not);
* evidence: every stored Jornaya exchange is an audit Jornaya received, and every audit received has its
  exchange, but for answers lost with their caller (a request on record, unanswered);
* billed twice: a token answered 200 more than once, other than after a call whose answer was lost or
  could not be read (the simulator's ``malformed``: a 200 whose body is cut, asked again by design).
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
CLOCK_SLACK_SECONDS = 0.001


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
    repeats_after_lost_answers: int = 0
    unreadable_answers: int = 0  # 200s whose body could not be read (asked again: the audit is still owed)
    lost_answers: int = 0
    # What stands behind each token billed twice (the figures' JSON): its audits matched to its requests.
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.calls_without_request or self.evidence_gaps or self.billed_twice)

    def line(self) -> str:
        return (
            f"  Jornaya          {self.calls} audits {self.calls_by_status}; without a stored request "
            f"{self.calls_without_request} {self.calls_without_request_leads[:5]}; evidence gaps "
            f"{self.evidence_gaps} {self.evidence_gap_leads[:5]}; billed twice {self.billed_twice} "
            f"{self.billed_twice_leads[:5]} (repeats after a lost answer {self.repeats_after_lost_answers}, "
            f"after an unreadable one {self.unreadable_answers}; lost answers {self.lost_answers})"
        )


def audit_lead(audit: JornayaAudit, lead_id: str, made: list[dict[str, Any]], entries: list[Any]) -> None:
    """One lead's audits at Jornaya (``made``) against its verified chain ``entries``."""
    exchanges = [x for entry in entries for x in entry.exchanges if x.get("provider") == "jornaya"]
    answered = {x.get("call_id") for x in exchanges}
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
        match = next((pair for pair in free if pair[0].timestamp() <= arrived), None)
        if match is None:
            audit.calls_without_request += 1
            audit.calls_without_request_leads.append(f"{lead_id}: an audit at {request['time']} not on record")
        else:
            free.remove(match)
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


def finish(audit: JornayaAudit, by_token: dict[str, list[dict[str, Any]]]) -> None:
    audit.calls_by_status = dict(Counter(str(r.get("status")) for made in by_token.values() for r in made))


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
