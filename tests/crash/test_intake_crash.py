"""The intake function SIGKILLed at each step between the lead's reservation and its outcome: with no
operator, the sweeper finds the lead once its ``check_after`` passes, the retry worker makes the
attempt, and the lead ends retained, its history saying what happened, TrustedForm asked exactly as
often as the crash point implies.

Kill points, each reached deterministically (the moto gate holds one AWS request; the simulator's
request log shows a call in flight):

0. the certificate's claim is written, the lead's state never: the vendor's repeat is kept;
1. the reservation (the claim, then the state) is written, its answer not yet heard: nothing sent to
   TrustedForm;
2. the TrustedForm call is in flight (the certificate hangs);
3. TrustedForm answered 200 (retained), its outcome's entry never reached DynamoDB;
4. the outcome (pending, after a 503) is written, the retry message never sent;
5. the outcome (retained) is written, the intake dies before it hears so: the outcome event is still
   published, once (the table's stream is the outbox, not the process).

And one overlap without a crash: the sweeper running while an intake's TrustedForm call is still in
flight: the intake's lease tells it from a dead one.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import pytest

from local.simulator import make_web_cert_id
from tests.support.crash import (
    PUT_ITEM,
    SQS_SEND,
    UPDATE_ITEM,
    Container,
    CrashBackend,
    start_containers,
    wait_for,
    wait_until,
)
from tests.support.stack import lead

# The sweeper's graces shortened from minutes to a second: "the clock moved forward" without faking it.
BACKEND_SETTINGS = {
    "RECEIVED_GRACE_SECONDS": "1",
    "PENDING_GRACE_SECONDS": "1",
    "RETRY_BASE_SECONDS": "1",
    "RETRY_CAP_SECONDS": "2",
    "RETRY_TIMEOUT_SECONDS": "5",
    # The intake leases a lead for its budget + 5 s: a short budget keeps the wait for a dead one short.
    "SYNC_TIMEOUT_SECONDS": "4",
}
# One helper (sweeper, retry worker) and one victim per kill point, started together.
CONTAINERS = 8
# The still-calling intake's own container: its budget (and so its call's timeout) outlasts the wait for
# the received grace and the sweeper's run ten times over (the module's 4 s keeps the dead ones' leases short).
CALLING_INTAKE_SETTINGS = {"SYNC_TIMEOUT_SECONDS": "30"}
# One worker runs the module (its containers and moto server are module fixtures); each kill waits out a lease.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crash-intake")]
SCHEDULED_EVENT = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}

RECOVERED_HISTORY = [
    ("received", "intake"),
    ("requeued", "sweeper"),
    ("calling", "retry"),
    ("attempt", "retry"),
    ("retained", "retry"),
]
# A lead whose intake died with its call's request on record: the request shows, unanswered, then recovery.
RECOVERED_AFTER_A_CALL = [("received", "intake"), ("calling", "intake"), *RECOVERED_HISTORY[1:]]


@pytest.fixture(scope="module")
def helper(containers: list[Container]) -> Container:
    return containers[0]


@pytest.fixture(scope="module")
def victims(containers: list[Container]) -> list[Container]:
    return list(containers[1:])


def _post_in(victim: Container, backend: CrashBackend, cert_id: str) -> str:
    vendor_lead_id = f"crash-{cert_id[:12]}"
    victim.send(("post", lead(cert_id, lead_id=vendor_lead_id), backend.vendor_key))
    return vendor_lead_id


def _kill_at(backend: CrashBackend, victim: Container, cert_id: str, request: str, *, after: bool, nth: int = 1) -> str:
    """Post a lead in ``victim`` and kill it at the ``nth`` ``request`` moto receives: held before it is
    applied (``after=False``: then dropped) or after, its answer held. Returns the vendor's lead id."""
    backend.gate.arm(request, nth=nth, after=after)
    vendor_lead_id = _post_in(victim, backend, cert_id)
    victim.held_at(backend.gate)
    victim.kill()
    backend.gate.release()
    return vendor_lead_id


def _killed_at(
    backend: CrashBackend, victim: Container, cert_id: str, request: str, *, after: bool, nth: int = 1
) -> str:
    """As ``_kill_at``, once the lead's state is stored: returns the lead's id."""
    return _reserved_lead(backend, _kill_at(backend, victim, cert_id, request, after=after, nth=nth))


def _reserved_lead(backend: CrashBackend, vendor_lead_id: str) -> str:
    return str(wait_for(lambda: backend.lead_for_vendor_lead(vendor_lead_id), "the lead's reservation"))


def recover(backend: CrashBackend, helper: Container, lead_id: str, *, attempt: int) -> dict[str, Any]:
    """What runs with no operator: the scheduled sweeper once the lead is overdue, then the retry worker
    on the message it queued (the local event source mapping deletes it if the function succeeded)."""
    item = backend.lead_item(lead_id)
    assert item is not None and item["status"] in ("received", "pending")
    assert backend.queue_depth() == 0, "nothing but the sweeper may bring this lead back"
    # Overdue, and no longer leased to the invocation that died (a live one keeps it: see the last test).
    due = [datetime.fromisoformat(item[name]) for name in ("check_after", "lease_until") if item.get(name)]
    wait_until(max(due))
    report = helper.invoke("SweeperFunction", SCHEDULED_EVENT)
    assert report["recovered"] == [lead_id], report
    messages = backend.receive(1)
    assert json.loads(messages[0]["Body"]) | {"not_before": None} == {
        "lead_id": lead_id,
        "attempt": attempt,
        "not_before": None,
    }
    failed = backend.poller(helper.invoke).process(messages)
    assert failed == []
    assert backend.queue_depth() == 0
    return report


def unanswered_calls(backend: CrashBackend, lead_id: str) -> list[str]:
    """The call ids of the requests on record whose answer the chain does not hold (lost with a process)."""
    record = backend.reader.read_lead(lead_id)
    assert record is not None
    requested = [call["call_id"] for link in record.chain for call in json.loads(link.content).get("calls", [])]
    answered = {exchange.get("call_id") for exchange in record.exchanges}
    return [call_id.split("/")[0] for call_id in requested if call_id not in answered]


def check_recovered(
    backend: CrashBackend,
    lead_id: str,
    cert_id: str,
    *,
    history: list[tuple[str, str]],
    calls: list[int | None],
    exchanges: int,
    attempts: int,
) -> None:
    record = backend.reader.read_lead(lead_id)
    assert record is not None
    assert record.lead.status.value == "retained", record.lead
    assert record.lead.attempts == attempts
    assert record.lead.check_after is None and record.lead.next_attempt_at is None
    assert [(event.type, event.actor) for event in record.history] == history
    assert [call["status"] for call in backend.calls(cert_id)] == calls
    assert len(record.exchanges) == exchanges
    assert [exchange["response"]["status"] for exchange in record.exchanges] == [c for c in calls if c][-exchanges:]
    certificate = backend.reader.read_certificate(cert_id)
    assert certificate is not None and certificate.claim is not None
    assert certificate.claim.lead_id == lead_id and certificate.claim.status.value == "retained"
    assert backend.lead_item(lead_id) is not None
    assert "gsi2pk" not in (backend.lead_item(lead_id) or {}), "a final lead leaves the open index"


def test_killed_between_the_claim_and_the_state_the_lead_sent_again_is_kept(backend, helper, victims):
    """The certificate's claim is written; the intake dies before the lead's state is put. No vendor was
    answered and TrustedForm was not asked. The vendor sends the lead again (its lead id names the same
    lead, which holds the claim already): kept at once, retained once."""
    cert_id = make_web_cert_id()
    vendor_lead_id = _kill_at(backend, victims[6], cert_id, PUT_ITEM, after=False, nth=2)  # the state's put, dropped
    certificate = backend.reader.read_certificate(cert_id)
    assert certificate is not None and certificate.claim.lead_id is not None
    dead = certificate.claim.lead_id
    assert backend.lead_item(dead) is None and backend.calls(cert_id) == []

    status, answer = helper.post(lead(cert_id, lead_id=vendor_lead_id), backend.vendor_key)

    assert (status, answer["status"], answer["lead_id"]) == (201, "retained", dead), answer
    assert [call["status"] for call in backend.calls(cert_id)] == [200]
    claim = backend.reader.read_certificate(cert_id).claim
    assert (claim.lead_id, claim.status.value, claim.previous_holders) == (dead, "retained", [])


def test_killed_after_the_reservation_before_trustedform(backend, helper, victims):
    """The reservation is durable; the intake dies waiting for its answer. TrustedForm was never asked."""
    cert_id = make_web_cert_id()
    lead_id = _killed_at(backend, victims[0], cert_id, PUT_ITEM, after=True, nth=2)  # the claim, then the state
    assert backend.lead_item(lead_id)["status"] == "received"
    assert backend.calls(cert_id) == []

    report = recover(backend, helper, lead_id, attempt=1)

    assert report["skipped"] == 0
    check_recovered(backend, lead_id, cert_id, history=RECOVERED_HISTORY, calls=[200], exchanges=1, attempts=1)


def test_killed_while_the_trustedform_call_hangs(backend, helper, victims):
    """The call is in flight at TrustedForm (it hangs): the intake dies, the hung call is answered never."""
    cert_id = make_web_cert_id()
    backend.sim.script(cert_id, ["hang", "success"])
    vendor_lead_id = _post_in(victims[1], backend, cert_id)
    lead_id = _reserved_lead(backend, vendor_lead_id)
    wait_for(lambda: [call["behaviour"] for call in backend.calls(cert_id)] == ["hang"], "the hanging call")
    assert backend.lead_item(lead_id)["status"] == "received"
    victims[1].kill()

    recover(backend, helper, lead_id, attempt=1)

    # Two calls: the hung one (no answer, so no retain) and the retry's. The hung call's request is on
    # record (written before it was sent), unanswered; the retry's exchange is whole.
    check_recovered(
        backend, lead_id, cert_id, history=RECOVERED_AFTER_A_CALL, calls=[None, 200], exchanges=1, attempts=1
    )
    assert unanswered_calls(backend, lead_id) == ["1.1"]


def test_killed_after_trustedform_retained_before_the_outcome_is_written(backend, helper, victims):
    """TrustedForm retained the certificate (200); the intake dies before its outcome's entry lands.

    The lead is still ``received``: the retry calls TrustedForm again, which answers 200 with
    previously_retained. A second retain of one certificate is the price of a crash at this point
    (at-least-once); the lead still ends retained, once, with the evidence of the call it recorded.
    """
    cert_id = make_web_cert_id()
    # The outcome's chain entry, dropped (the PutItems before it: the claim, the state, the call's request)
    lead_id = _killed_at(backend, victims[2], cert_id, PUT_ITEM, after=False, nth=4)
    assert [call["status"] for call in backend.calls(cert_id)] == [200]
    assert backend.lead_item(lead_id)["status"] == "received"

    recover(backend, helper, lead_id, attempt=1)

    check_recovered(
        backend, lead_id, cert_id, history=RECOVERED_AFTER_A_CALL, calls=[200, 200], exchanges=1, attempts=1
    )
    record = backend.reader.read_lead(lead_id)
    assert record is not None and record.lead.previously_retained is True
    # The lost answer shows as such: the intake's request on record, with no answer after it.
    assert unanswered_calls(backend, lead_id) == ["1.1"]


def test_killed_after_the_pending_outcome_before_the_retry_message(backend, helper, victims):
    """TrustedForm answered 503; the pending outcome is written; the intake dies before queueing the
    retry. No message exists: only the sweeper can bring the lead back."""
    cert_id = make_web_cert_id()
    backend.sim.script(cert_id, ["unavailable", "success"])
    # The SendMessage is dropped: no retry message
    lead_id = _killed_at(backend, victims[3], cert_id, SQS_SEND, after=False)
    item = backend.lead_item(lead_id)
    assert item["status"] == "pending" and item["attempts"] == 1 and item["next_attempt_at"]

    recover(backend, helper, lead_id, attempt=2)

    history = [
        ("received", "intake"),
        ("calling", "intake"),
        ("attempt", "intake"),
        ("pending", "intake"),
        ("requeued", "sweeper"),
        ("calling", "retry"),
        ("attempt", "retry"),
        ("retained", "retry"),
    ]
    check_recovered(backend, lead_id, cert_id, history=history, calls=[503, 200], exchanges=2, attempts=2)
    assert unanswered_calls(backend, lead_id) == []


def test_killed_between_the_outcome_entry_and_the_state_the_lead_is_rolled_forward_not_retained_again(
    backend, helper, victims
):
    """The outcome's entry (retained, with its exchange) is written; the intake dies before the state item
    follows. The sweeper finds the lead overdue and brings its state up to the entry: no second call."""
    cert_id = make_web_cert_id()
    # The state's update after the entry, dropped
    lead_id = _killed_at(backend, victims[5], cert_id, UPDATE_ITEM, after=False)
    item = backend.lead_item(lead_id)
    assert item["status"] == "received"  # behind its chain

    wait_until(max(datetime.fromisoformat(item[name]) for name in ("check_after", "lease_until")))
    report = helper.invoke("SweeperFunction", SCHEDULED_EVENT)
    assert (report["recovered"], report["rolled_forward"], report["skipped"]) == ([], [lead_id], 0)
    assert backend.queue_depth() == 0  # nothing to retry: the outcome was recorded
    record = backend.reader.read_lead(lead_id)
    assert record is not None and record.lead.status.value == "retained" and record.lead.applied == 2
    assert [(event.type, event.actor) for event in record.history] == [
        ("received", "intake"),
        ("calling", "intake"),
        ("attempt", "intake"),
        ("retained", "intake"),
    ]
    assert [call["status"] for call in backend.calls(cert_id)] == [200]
    assert "gsi2pk" not in (backend.lead_item(lead_id) or {}), "a final lead leaves the open index"


def test_killed_right_after_the_outcome_is_written_its_event_is_published_once(backend, helper, victims):
    cert_id = make_web_cert_id()
    # The outcome's entry and state applied, the answer held
    lead_id = _killed_at(backend, victims[4], cert_id, UPDATE_ITEM, after=True)
    assert backend.lead_item(lead_id)["status"] == "retained"

    events = [
        event for event in backend.publish_events(helper.invoke) if event["detail"]["answer"]["lead_id"] == lead_id
    ]
    assert [(event["detail-type"], event["detail"]["certificate"]["cert_id"]) for event in events] == [
        ("Lead Retained", cert_id)
    ]


def test_the_sweeper_does_not_take_a_lead_whose_intake_is_still_calling(backend, helper, tmp_path, monkeypatch):
    """The intake is alive, its TrustedForm call in flight past the received grace (TrustedForm holds it
    until the sweeper has run). The sweeper leaves the lead alone: the intake leased it for its attempt."""
    [intake] = start_containers(1, {**backend.container_env(), **CALLING_INTAKE_SETTINGS}, tmp_path)
    calling, swept = threading.Event(), threading.Event()
    sleep = backend.sim._sleep

    def held_until_swept(seconds: float) -> bool:
        calling.set()
        swept.wait(60)
        return sleep(seconds)

    monkeypatch.setattr(backend.sim, "_sleep", held_until_swept)
    try:
        cert_id = make_web_cert_id()
        vendor_lead_id = _post_in(intake, backend, cert_id)
        lead_id = _reserved_lead(backend, vendor_lead_id)
        assert calling.wait(60), "the intake never called TrustedForm"
        wait_until(datetime.fromisoformat(backend.lead_item(lead_id)["check_after"]))
        report = helper.invoke("SweeperFunction", SCHEDULED_EVENT)
        assert report["recovered"] == [] and report["skipped"] == 1, report  # overdue, but leased to the intake
        swept.set()
        outcome, answer = intake.receive()
    finally:
        swept.set()
        intake.close()

    record = backend.reader.read_lead(lead_id)
    assert record is not None and record.lead.status.value == "retained"
    calls = backend.calls(cert_id)
    assert outcome == "ok" and answer[0] in (201, 202), f"the vendor got {answer if outcome == 'ok' else 'a 502'}"
    assert [call["status"] for call in calls] == [200], "TrustedForm asked (and billed) once"
    assert len(record.exchanges) == len(calls), "every TrustedForm call has its exchange stored"
