"""A consumer's revocation racing a contact report and the call gate on the same lead (issue 23), in many
Lambda containers released together (harness.LambdaPool) against one moto server; and a revocation in a
batch, posted with a buyer-system key, racing the intake of that consumer's leads (``batch_round``).

One round: a fresh lead, retained and contactable by call; then, all at once, the revocation posted twice
(the same id: an SMS platform sending its STOP again), contact reports for the lead, and dialers polling the
gate for a call. What must hold, whatever the interleaving:

- once a POST /revocations was answered 2xx (acknowledged), no gate answer that started after that says
  ``contactable: true`` (each dialer keeps asking until a few of its questions started after it);
- the lead's chain verifies and holds the revocation's ``consent_revoked`` entry exactly once, and every
  acknowledged contact report exactly once;
- one of the two posts recorded the revocation (201, applied to the one lead in its invocation), the other
  was answered ``repeated``; nothing answered 5xx.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.concurrency import Backend, LambdaPool, Outcome, Task
from tests.support.stack import lead

REVOKERS = 2  # the same revocation posted by two containers at once
CONTACTS = 2  # contact reports for the lead in the same round
MAX_CHECKS = 12  # questions one dialer asks in a round at most
AFTER = 2  # a dialer stops once this many of its questions started after the acknowledgement
# States without rules of their own (the federal window only), spanning UTC-11 to UTC+10: at any hour
# one of them is inside its calling window.
CANDIDATE_STATES = ("NY", "IL", "CO", "CA", "AK", "HI", "AS", "PR", "GU")
MARGIN = timedelta(minutes=20)  # the chosen state must still allow calls this long after the choice
DAY_QUARTERS = 4 * 24


def open_state(now: datetime) -> tuple[str, datetime | None]:
    """A state whose calling window is open for MARGIN from now, and None; else (between about 10:40 and
    12:00 UTC no US state or territory may be called) one open for MARGIN from the first quarter hour ahead
    that has one, and that instant: the dialers' clock (a container's clock fixed there), well after any
    revocation of the round, so the gate reads the law of that hour and every revocation as past."""
    from tf_retainer.decisions.calling import default_rules
    from tf_retainer.decisions.contact import check_contact
    from tf_retainer.decisions.location import locate

    rules = default_rules()
    for quarters in range(DAY_QUARTERS):
        at = now + timedelta(minutes=15 * quarters)
        for code in CANDIDATE_STATES:
            location = locate(code, None, None)
            if all(check_contact(rules, location, moment, "call", []).allowed for moment in (at, at + MARGIN)):
                return code, (at if quarters else None)
    raise AssertionError(f"no candidate state may be called in the day from {now.isoformat()}")


@dataclass
class RoundResult:
    lead_id: str
    acknowledged: float  # time.time() of the first 2xx answer to the revocation
    checks: list[dict[str, Any]]
    outcomes: list[Outcome]
    problems: list[str] = field(default_factory=list)

    @property
    def after(self) -> list[dict[str, Any]]:
        return [check for check in self.checks if check["started"] > self.acknowledged]

    def summary(self) -> str:
        before = Counter(str(check["contactable"]) for check in self.checks if check not in self.after)
        after = Counter(f"{check['contactable']} {check['reason']}" for check in self.after)
        answers = Counter(f"{outcome.kind} {outcome.status}" for outcome in self.outcomes if outcome.kind != "gates")
        lines = [f"lead {self.lead_id}: {dict(answers)}; gate before the ack {dict(before)}, after {dict(after)}"]
        return "\n".join(lines + [f"  PROBLEM: {problem}" for problem in self.problems])


def race_round(
    backend: Backend, pool: LambdaPool, state: str, dialed_at: datetime | None, number: int, phone: str
) -> RoundResult:
    from local.simulator import make_web_cert_id

    key, tag = backend.vendor_key, uuid.uuid4().hex[:10]
    body = lead(make_web_cert_id(), lead_id=f"race-{tag}", email=f"race-{tag}@example.com", phone=phone)
    [posted] = pool.run([Task("post", {"key": key, "body": {**body, "state": state}})], together=False)
    if posted.status != 201:
        raise AssertionError(f"the lead was not retained: {posted.status} {posted.body} {posted.error}")
    lead_id = str(posted.lead_id)
    gates = {"key": key, "lead_id": lead_id, "channel": "call", "max_checks": 1, "after": AFTER}
    if dialed_at is not None:
        gates["clock"] = dialed_at.isoformat()
    [first] = pool.run([Task("gates", gates)], together=False)
    if first.body[0]["contactable"] is not True:
        raise AssertionError(f"the lead is not contactable before the race: {first.body}")

    stop = {"id": f"STOP-{tag}", "phone": phone, "via": "sms", "message": "STOP", "channels": ["call", "text"]}
    tasks = [Task("revoke", {"key": key, "body": stop}) for _ in range(REVOKERS)]
    tasks += [
        Task("contact", {"key": key, "lead_id": lead_id, "body": {"channel": "call", "contact_id": f"c{number}-{i}"}})
        for i in range(CONTACTS)
    ]
    dialers = pool.size - len(tasks)
    tasks += [Task("gates", {**gates, "max_checks": MAX_CHECKS})] * dialers
    outcomes = pool.run(tasks)

    revokes = [outcome for outcome in outcomes if outcome.kind == "revoke"]
    acks = [outcome.ended for outcome in revokes if 200 <= outcome.status < 300]
    checks = [check for outcome in outcomes if outcome.kind == "gates" for check in outcome.body or []]
    result = RoundResult(lead_id, min(acks) if acks else float("inf"), checks, outcomes)
    expect = result.problems.append
    failed = [f"{o.kind} {o.status} {o.error or o.body}" for o in outcomes if o.is_5xx]
    failed += [f"gate {check['status']}" for check in checks if check["status"] != 200]
    if failed:
        expect(f"{len(failed)} 5xx or failed answers: {failed[:3]}")
    statuses = sorted((o.status, (o.body or {}).get("status")) for o in revokes)
    if statuses != [(200, "repeated"), (201, "recorded")]:
        expect(f"the two posts of the revocation were answered {statuses}")
    open_after = [check for check in result.after if check["contactable"] is not False]
    if open_after:
        expect(f"{len(open_after)} gate answer(s) started after the acknowledgement said {open_after[0]}")
    if any(check["reason"] != "consent_revoked" for check in result.after):
        expect(f"gate reasons after the acknowledgement: {Counter(c['reason'] for c in result.after)}")
    if len(result.after) < dialers:  # every dialer asked at least once after it (else the round proves little)
        expect(f"only {len(result.after)} gate question(s) started after the acknowledgement")
    recorded = [o.body for o in revokes if o.status == 201]
    revocation_id = recorded[0]["revocation_id"] if recorded else None
    if recorded and (recorded[0].get("leads") != 1 or not recorded[0].get("honored_at")):
        expect(f"the revocation was not applied to the lead in its invocation: {recorded[0]}")
    contact_ids = [o.body["contact_id"] for o in outcomes if o.kind == "contact" and o.status == 201]
    if len(contact_ids) != CONTACTS:
        expect(f"contact reports answered {[(o.status, o.body) for o in outcomes if o.kind == 'contact']}")
    check_chain(backend, lead_id, revocation_id, contact_ids, expect)
    return result


def chain_events(backend: Backend, lead_id: str, expect: Any) -> list[dict[str, Any]] | None:
    """The events of the lead's chain, once it verifies (None, and said, when it does not)."""
    from tf_retainer.domain import chain

    record = backend.reader.read_lead(lead_id)
    assert record is not None, lead_id
    lead = record.lead
    try:
        entries = chain.verify(record.chain, chain.genesis(lead.lead_id, lead.vendor, lead.cert_id, lead.received_at))
    except chain.BrokenChain as broken:
        expect(f"lead {lead_id} ({lead.vendor}): its chain does not verify: {broken}")
        return None
    return [event for entry in entries for event in entry.events]


def revoked_times(events: list[dict[str, Any]], revocation_id: str | None) -> int:
    return sum(e["type"] == "consent_revoked" and e["detail"]["revocation_id"] == revocation_id for e in events)


def check_chain(backend: Backend, lead_id: str, revocation_id: str | None, contact_ids: list[str], expect: Any) -> None:
    """The lead's chain verifies; the revocation in it once, each acknowledged contact once."""
    events = chain_events(backend, lead_id, expect)
    if events is None:
        return
    if (times := revoked_times(events, revocation_id)) != 1:
        expect(f"the chain holds {times} consent_revoked entries for {revocation_id}, not 1")
    kept = Counter(e["detail"].get("contact_id") for e in events if e["type"] == "contact")
    if kept != Counter(contact_ids):
        expect(f"the chain keeps contacts {dict(kept)}, acknowledged {contact_ids}")
    after = backend.reader.read_lead(lead_id)
    assert after is not None, lead_id
    if [e.type for e in after.history].count("consent_revoked") != 1:
        expect("the lead's history does not show the revocation once")


def run_rounds(backend: Backend, pool: LambdaPool, rounds: int) -> list[RoundResult]:
    state, dialed_at = open_state(datetime.now(UTC))
    # A consumer of its own each round (a number shared with an earlier round would close that lead too).
    phones = [f"(212) 555-01{line:02d}" for line in random.sample(range(100), rounds)]
    return [race_round(backend, pool, state, dialed_at, number, phone) for number, phone in enumerate(phones)]


# --------------------------------------------------------------------------- a batch racing the intake

BATCH_POSTS = 2  # the same batch posted twice (the SMS platform sends its STOP stream again)
STAGGER = 0.015  # seconds between one lead's POST and the next: they span the revocation's own invocation


@dataclass
class BatchRoundResult:
    consumer_leads: list[str]  # every lead of the consumer retained: before, in and after the race
    outcomes: list[Outcome]
    problems: list[str] = field(default_factory=list)  # answers, and the gate: must hold
    unrevoked: list[str] = field(default_factory=list)  # leads without the revocation once in their chain

    def summary(self) -> str:
        answers = Counter(outcome.label() for outcome in self.outcomes)
        lines = [f"{len(self.consumer_leads)} lead(s) of the consumer: {dict(answers)}"]
        lines += [f"  PROBLEM: {problem}" for problem in self.problems]
        return "\n".join(lines + [f"  NOT IN THE CHAIN: {lead}" for lead in self.unrevoked])


def batch_round(backend: Backend, pool: LambdaPool, keys: dict[str, str], phone: str) -> BatchRoundResult:
    """One round: a lead of the consumer stored by the other vendor; then, released together, the batch (the
    consumer's STOP between two other consumers') posted twice with the buyer-system key, and the rest of the
    pool posting new leads of that consumer for both vendors, one every STAGGER seconds; then one more lead
    of the consumer, taken after the revocation was acknowledged."""
    from local.simulator import make_web_cert_id

    def new_lead(vendor: str, index: int, delay: float = 0.0) -> Task:
        tag = uuid.uuid4().hex[:10]
        body = lead(make_web_cert_id(), lead_id=f"batch-{tag}", email=f"batch-{tag}@example.com", phone=phone)
        return Task("post", {"key": keys[vendor], "body": body, "delay": delay, "index": index})

    [before] = pool.run([new_lead("other", -1)], together=False)
    stop = {"id": f"STOP-{uuid.uuid4().hex[:10]}", "phone": phone, "via": "sms", "message": "STOP"}
    others = [{"id": f"STOP-{uuid.uuid4().hex[:10]}", "phone": f"(303) 555-{n:04d}", "via": "sms"} for n in (1, 2)]
    batch = {"revocations": [others[0], stop, others[1]]}
    tasks = [Task("revoke", {"key": keys["buyer"], "path": "/revocations/batch", "body": batch})] * BATCH_POSTS
    posters = pool.size - len(tasks)
    tasks += [new_lead("vendor" if i % 2 else "other", i, i * STAGGER) for i in range(posters)]
    outcomes = pool.run(tasks)
    [later] = pool.run([new_lead("vendor", posters)], together=False)

    posts = [before, *(o for o in outcomes if o.kind == "post"), later]
    retained = [str(o.lead_id) for o in posts if o.status == 201]
    result = BatchRoundResult(retained, outcomes)
    expect = result.problems.append
    if len(retained) != len(posts):
        expect(f"leads not retained: {[(o.status, o.reason) for o in posts if o.status != 201]}")
    failed = [f"{o.kind} {o.status} {o.error or o.body}" for o in outcomes if o.is_5xx]
    if failed:
        expect(f"{len(failed)} 5xx answers: {failed[:3]}")
    batches = [o for o in outcomes if o.kind == "revoke"]
    if any(o.status != 200 for o in batches):
        expect(f"the batch was answered {[(o.status, o.body) for o in batches]}")
        return result
    answers = [o.body["results"][1] for o in batches]  # the consumer's STOP, second in each batch
    if sorted(answer["status"] for answer in answers) != ["recorded", "repeated"]:
        expect(f"the consumer's STOP, posted twice, was answered {answers}")
        return result
    revocation_id = answers[0]["revocation_id"]
    for other in (0, 2):
        if sorted(o.body["results"][other]["status"] for o in batches) != ["recorded", "repeated"]:
            expect(f"another consumer's STOP was answered {[o.body['results'][other] for o in batches]}")
    # The lead taken after the revocation was acknowledged has its entry already: its own outcome wrote it.
    if later.status == 201:
        check_revoked_once(backend, str(later.lead_id), revocation_id, result.unrevoked.append)
    # The scheduled run a minute later (ConsentFunction, its clock past the revocation's own invocation):
    # the leads the revocation did not reach (taken while it was recorded) get their entry; none twice.
    settled = (datetime.now(UTC) + timedelta(seconds=61)).isoformat()
    [honoured] = pool.run([Task("honour", {"clock": settled})], together=False)
    if honoured.status != 200 or not isinstance(honoured.body, dict):
        expect(f"the scheduled run failed: {honoured.error or honoured.body}")
    # Settled: every lead of the consumer, whichever vendor took it and whenever, shows the revocation once
    # in its chain, and the gate (asked with the buyer-system key, by our lead_id) is closed.
    for lead_id in retained:
        check_revoked_once(backend, lead_id, revocation_id, result.unrevoked.append)
    gates = {"key": keys["buyer"], "channel": "call", "max_checks": 1, "after": 1}
    asked = pool.run([Task("gates", {**gates, "lead_id": lead_id}) for lead_id in retained], together=False)
    for lead_id, outcome in zip(retained, asked, strict=True):
        [check] = outcome.body
        if (check["status"], check["contactable"], check["reason"]) != (200, False, "consent_revoked"):
            expect(f"lead {lead_id}: the gate answered {check}")
    return result


def check_revoked_once(backend: Backend, lead_id: str, revocation_id: str, expect: Any) -> None:
    events = chain_events(backend, lead_id, expect)
    if events is not None and (times := revoked_times(events, revocation_id)) != 1:
        expect(f"lead {lead_id} holds {times} consent_revoked entries for the revocation, not 1")


def run_batch_rounds(backend: Backend, pool: LambdaPool, keys: dict[str, str], rounds: int) -> list[BatchRoundResult]:
    # Numbers of their own: no other round or test shares the consumer (its leads would be closed too).
    phones = [f"(718) 555-02{line:02d}" for line in random.sample(range(100), rounds)]
    return [batch_round(backend, pool, keys, phone) for phone in phones]
