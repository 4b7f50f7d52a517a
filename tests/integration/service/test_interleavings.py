"""Races replayed deterministically: two Lambdas' steps interleaved in one process (moto in-process,
the simulator over loopback). Each test fails on the code before its fix."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from tf_retainer import wiring
from tf_retainer.domain.models import LeadSubmission, Status
from tf_retainer.store.lead_writer import DynamoLeadWriter

from local.simulator import make_web_cert_id
from tests.support.stack import VENDOR, deliver, is_state_put, later, lead

# Not imported at collection: tf_retainer.runtime.observability reads POWERTOOLS_* once, when the stack set them.


def default_deps() -> Any:
    return wiring.default_deps()


def submit(body: dict[str, Any], vendor: str = VENDOR) -> Any:
    from tf_retainer.leads import intake

    return intake.submit_lead(default_deps(), vendor=vendor, submission=LeadSubmission.model_validate(body))


def test_two_deliveries_of_a_vendor_lead_whose_certificate_is_taken_get_one_answer(stack, monkeypatch):
    """Both reservations fail on the claim; the second refusal write finds the vendor lead_id taken."""
    cert_id = make_web_cert_id()
    assert stack.post(lead(cert_id, lead_id="OWNER")).status == 201
    other = "other-vendor"
    stack.add_vendor(other)
    body = lead(cert_id, lead_id="DUP-1")
    original = DynamoLeadWriter.record_refusal
    nested: list[Any] = []

    def refusal_after_the_other_delivery(self: DynamoLeadWriter, *args: Any, **kwargs: Any) -> Any:
        if not nested:  # the other delivery runs to its end between this one's reservation and refusal
            nested.append(None)
            nested[0] = submit(body, vendor=other)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoLeadWriter, "record_refusal", refusal_after_the_other_delivery)
    first = submit(body, vendor=other)
    assert (first.status, first.reason) == (Status.REJECTED, "certificate_reused")
    assert first.lead_id == nested[0].lead_id  # one lead for the vendor's lead_id, one answer
    assert len(stack.sim.requests) == 1  # only the owner's retain


def conflict_once(monkeypatch, client: Any, operation: str) -> list[str]:
    """The next call of ``operation`` on the service's DynamoDB client is cancelled by a concurrent transaction."""
    real = getattr(client, operation)
    raised: list[str] = []

    def conflicting(**kwargs: Any) -> Any:
        if not raised:
            raised.append(operation)
            count = len(kwargs.get("TransactItems", [None]))
            if operation == "transact_write_items":
                reasons = [{"Code": "TransactionConflict", "Message": "conflict"}] + [{"Code": "None"}] * (count - 1)
                error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
                raise ClientError({"Error": error, "CancellationReasons": reasons}, operation)
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "conflict"}}, operation)
        return real(**kwargs)

    monkeypatch.setattr(client, operation, conflicting)
    return raised


def test_a_transaction_conflict_on_the_reservation_is_tried_again(stack, monkeypatch):
    """A transaction writing the claim's item refuses the reservation's put: it is tried again."""
    response = stack.post(lead())  # builds the service's clients
    assert response.status == 201
    raised = conflict_once(monkeypatch, wiring.dynamodb(), "put_item")
    again = stack.post(lead())
    assert raised == ["put_item"]
    assert again.status == 201, again.json()
    assert again.json()["status"] == "retained"


def test_a_transaction_conflict_on_the_outcome_is_tried_again(stack, monkeypatch):
    assert stack.post(lead()).status == 201
    writer = default_deps().writer
    original = writer.reserve
    armed: list[str] = []

    def reserve_then_conflict(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        armed.extend(conflict_once(monkeypatch, wiring.dynamodb(), "transact_write_items"))  # the outcome write
        return result

    monkeypatch.setattr(writer, "reserve", reserve_then_conflict)
    response = stack.post(lead())
    assert response.status == 201, response.json()
    record = stack.reader.read_lead(response.json()["lead_id"])
    assert record.lead.status is Status.RETAINED and len(record.exchanges) == 1


# Remote calls bounded at 0.1 s: a call needs its request recorded (2 calls) and 9.5 s, 9.7 s in all.
@pytest.mark.parametrize("stack_env", [{"SYNC_TIMEOUT_SECONDS": "10.0", "REMOTE_CALL_SECONDS": "0.1"}])
def test_a_slow_401_does_not_give_the_second_call_a_fresh_budget(stack, monkeypatch):
    """The budget is per invocation: a 401 that took part of it leaves too little for another call.

    A call here needs 9.7 s of the 10 s budget and the 401 takes a second: the rest (9 s at most, however
    busy the machine) is too little; a fresh budget (10 s) would make the second call.
    """
    from tf_retainer.leads import attempt

    monkeypatch.setattr(attempt, "MIN_CALL_SECONDS", 9.5)
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unauthorized", "success"])
    stack.sim.latency = 1.0
    response = stack.post(lead(cert_id))
    assert (response.status, response.json()["reason"]) == (202, "account_error")
    assert len(stack.sim.requests) == 1  # no second call without the time to make it
    exchanges = stack.reader.read_lead(response.json()["lead_id"]).exchanges
    assert [exchange["response"]["status"] for exchange in exchanges] == [401]


# --- a function that dies mid-lead: the sweeper finds the lead, no operator -------------------------


class Killed(BaseException):
    """The process dies here (out of memory, a timeout, a deploy): nothing after this line runs."""


def sweep() -> Any:
    from tf_retainer.leads import sweep as recovery

    return recovery.sweep(default_deps())


def pending_an_hour_later(stack: Any, monkeypatch: Any, behaviours: list[str]) -> tuple[str, str, Any]:
    """A lead left pending by its intake (its certificate scripted ``behaviours``, the first failing), an hour
    later: its certificate, its id and its attempt-2 retry message, due now."""
    from tf_retainer.domain.retry_message import RetryMessage

    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, behaviours)
    lead_id = stack.post(lead(cert_id)).json()["lead_id"]
    moved = later(monkeypatch, timedelta(hours=1))
    return cert_id, lead_id, RetryMessage(lead_id=lead_id, attempt=2, not_before=moved)


def retains(stack: Any, cert_id: str) -> list[dict[str, Any]]:
    """The calls that retained ``cert_id`` (TrustedForm answered 200)."""
    return [r for r in stack.sim.requests if r["cert_id"] == cert_id and r["status"] == 200]


def test_a_retry_worker_killed_before_sending_the_next_message_is_recovered(stack, monkeypatch):
    from tf_retainer.domain.retry_message import RetryMessage
    from tf_retainer.leads import outcome, retry

    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", "unavailable", "success"])
    posted = stack.post(lead(cert_id)).json()
    assert posted["status"] == "pending"
    [delivery] = stack.next_retry_messages()
    message = RetryMessage.model_validate_json(delivery["Body"])

    def killed(*_: Any, **__: Any) -> None:
        raise Killed

    enqueue = outcome.enqueue_retry
    monkeypatch.setattr(outcome, "enqueue_retry", killed)
    with pytest.raises(Killed):  # attempt 2 is recorded pending; the process dies before queueing attempt 3
        retry.retry_lead(default_deps(), message)
    monkeypatch.setattr(outcome, "enqueue_retry", enqueue)
    assert stack.lead_state(posted["lead_id"])["attempts"] == 2
    # SQS delivers the old message again after its visibility timeout: a duplicate, rightly skipped.
    assert retry.retry_lead(default_deps(), message) == "duplicate"
    stack.sqs.purge_queue(QueueUrl=stack.provisioned.retry_queue_url)

    assert sweep().recovered == []  # not overdue yet: the planned attempt plus the grace is ahead
    later(monkeypatch, timedelta(hours=1))
    assert sweep().recovered == [posted["lead_id"]]
    assert deliver(stack, wait=False) == ["retained"]
    record = stack.reader.read_lead(posted["lead_id"])
    assert record.lead.status is Status.RETAINED and record.lead.attempts == 3
    assert [e.type for e in record.history if e.actor == "sweeper"] == ["requeued"]
    assert len(stack.sim.requests) == 3  # one call per attempt, none lost, none twice


def test_an_intake_killed_between_reservation_and_outcome_is_recovered(stack, monkeypatch):
    from tf_retainer.leads import intake

    def killed(*_: Any, **__: Any) -> None:
        raise Killed

    assert stack.post(lead()).status == 201  # builds the service's clients
    screen_then_retain = intake.screen_then_retain
    monkeypatch.setattr(intake, "screen_then_retain", killed)
    with pytest.raises(Killed):
        submit(lead(lead_id="CRASH-1"))
    monkeypatch.setattr(intake, "screen_then_retain", screen_then_retain)
    stranded = stack.reader.get_lead(stack.reader.find_vendor_lead(VENDOR, "CRASH-1"))
    assert stranded.status is Status.RECEIVED and stack.queued() == 0
    # Not in the open index (issue 22: a lead enters it with its first step): the sweeper finds it through
    # the vendor index.
    assert stack.index.open_leads() == []

    assert sweep().recovered == []  # the intake may still be running: not before its timeout and a margin
    later(monkeypatch, timedelta(minutes=5))
    assert sweep().recovered == [stranded.lead_id]
    assert sweep().recovered == []  # requeued once: the next look is a grace period away
    assert deliver(stack, wait=False) == ["retained"]
    record = stack.reader.read_lead(stranded.lead_id)
    assert record.lead.status is Status.RETAINED
    assert [e.type for e in record.history] == ["received", "requeued", "calling", "attempt", "retained"]
    assert stack.index.open_leads() == []


def test_a_lead_behind_its_chain_is_rolled_forward_through_a_transaction_conflict(stack, monkeypatch):
    """The intake died between its outcome's entry and the state; the sweeper brings the state up to the entry.
    DynamoDB refused that update once (a transaction held the item: the 10,000-lead fault soak's sweeper logged
    "could not requeue" for it). It is tried again, as every other write of the lead is: the lead is rolled
    forward in this sweep, not failed and left for the next."""
    from tf_retainer.store.items import ItemBuilder

    assert stack.post(lead()).status == 201  # builds the service's clients
    state_update = ItemBuilder.lead_update

    def killed(*_: Any, **__: Any) -> None:
        raise Killed

    monkeypatch.setattr(ItemBuilder, "lead_update", killed)
    with pytest.raises(Killed):
        submit(lead(lead_id="BEHIND-1"))
    monkeypatch.setattr(ItemBuilder, "lead_update", state_update)
    lead_id = stack.reader.find_vendor_lead(VENDOR, "BEHIND-1")
    assert stack.lead_state(lead_id)["status"] == "received"  # behind its chain: the entry says retained

    roll_forward, client = ItemBuilder.roll_forward, wiring.dynamodb()
    update_item = client.update_item
    built: list[dict[str, Any]] = []
    raised: list[str] = []

    def recorded(self: ItemBuilder, *args: Any, **kwargs: Any) -> Any:
        built.append(roll_forward(self, *args, **kwargs))
        return built[-1]

    def conflicting(**kwargs: Any) -> Any:
        if built and kwargs == built[0] and not raised:  # the roll forward's update, the first time it is sent
            raised.append("roll forward")
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "conflict"}}, "UpdateItem")
        return update_item(**kwargs)

    monkeypatch.setattr(ItemBuilder, "roll_forward", recorded)
    monkeypatch.setattr(client, "update_item", conflicting)
    later(monkeypatch, timedelta(minutes=5))
    report = sweep()
    assert raised == ["roll forward"]
    assert (report.rolled_forward, report.failed, report.recovered) == ([lead_id], [], [])
    assert stack.lead_state(lead_id)["status"] == "retained"
    assert len(stack.sim.requests) == 2  # the first lead's call and this one's: none made again


def test_the_sweeper_leaves_a_lead_an_attempt_holds(stack, monkeypatch):
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", "success"])
    posted = stack.post(lead(cert_id)).json()
    moved = later(monkeypatch, timedelta(hours=1))
    default_deps().writer.begin_attempt(posted["lead_id"], attempt=2, now=moved, lease_seconds=600)
    report = sweep()
    assert (report.overdue, report.recovered, report.skipped) == (1, [], 1)


@pytest.mark.parametrize("delivery_leases", ["before_the_sweeper_writes", "after_the_sweeper_leased"])
def test_a_delivery_racing_the_sweeper_on_one_lead_makes_one_call_and_is_never_overtaken(
    stack, monkeypatch, delivery_leases
):
    """Issue 21: the sweeper read an overdue lead; a retry delivery of its next attempt leases it around the
    moment the sweeper writes. Whichever holds the lead first, the other stands back: one TrustedForm call
    for the attempt, its outcome recorded (not "overtaken"), and no requeue of the attempt being made."""
    from tf_retainer.leads import retry

    cert_id, lead_id, message = pending_an_hour_later(stack, monkeypatch, ["unavailable", "success"])
    delivered: list[str] = []
    original = DynamoLeadWriter.record_recovery
    client = wiring.dynamodb()

    def deliver(**_: Any) -> None:  # the delivery's whole attempt, between two of the sweeper's calls
        if not delivered:
            delivered.append("started")  # once: the delivery's own calls come through here too
            try:
                delivered[0] = retry.retry_lead(default_deps(), message)
            except Exception as exc:
                delivered[0] = type(exc).__name__

    def racing(self: DynamoLeadWriter, before: Any, after: Any, **kwargs: Any) -> Any:
        if delivery_leases == "before_the_sweeper_writes":  # the sweeper read the lead, then this
            deliver()
            return original(self, before, after, **kwargs)
        # The sweeper's first call (its lease) goes through; the delivery runs right after it.
        client.meta.events.register_first("after-call.dynamodb.UpdateItem", deliver, unique_id="race")
        try:
            return original(self, before, after, **kwargs)
        finally:
            client.meta.events.unregister("after-call.dynamodb.UpdateItem", unique_id="race")

    monkeypatch.setattr(DynamoLeadWriter, "record_recovery", racing)
    report = sweep()
    retained = retains(stack, cert_id)
    history = [e.type for e in stack.reader.read_lead(lead_id).history]
    if delivered == ["retained"]:  # the delivery held the lead first: the sweeper stood back
        assert (report.recovered, report.skipped) == ([], 1)
    else:  # the sweeper held it first: the delivery was turned away (redelivered later), no call made
        assert delivered and delivered[0] != "retained" and report.recovered == [lead_id]
    assert len(retained) <= 1, "TrustedForm asked twice for one attempt"
    assert "overtaken" not in json.dumps(history) and history.count("requeued") == (0 if retained else 1)


def test_an_attempt_slowed_past_its_lease_keeps_the_lead_until_its_invocation_ends(stack, monkeypatch):
    """The 10,000-lead fault soak retained one certificate twice: an attempt got TrustedForm's 200, then stalled
    past its lease (36 s there, the RetryFunction's Timeout 60 s) before recording it; the message came back
    and a second delivery took the expired lease and retained again. A lease now lasts until the invocation
    holding it has surely ended: the second delivery is told to come back, and TrustedForm is asked once."""
    import time

    from tf_retainer.leads import retry

    cert_id, lead_id, message = pending_an_hour_later(stack, monkeypatch, ["unavailable", "success", "success"])
    configured = default_deps().settings.retry_lease_seconds
    second: list[str] = []
    original = DynamoLeadWriter.record_outcome

    def stalled_then_redelivered(self: DynamoLeadWriter, *args: Any, **kwargs: Any) -> Any:
        if not second:  # TrustedForm answered the first delivery; it stalls past its configured lease
            later(monkeypatch, timedelta(hours=1, seconds=configured + 1))
            try:
                second.append(retry.retry_lead(default_deps(), message, time.monotonic() + 60))
            except retry.LeaseHeld:
                second.append("lease held")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoLeadWriter, "record_outcome", stalled_then_redelivered)
    # The invocation has longer left than the configured lease, as the soak's had.
    first = retry.retry_lead(default_deps(), message, time.monotonic() + configured + 30)
    retained = retains(stack, cert_id)
    assert (first, second) == ("retained", ["lease held"])
    assert len(retained) == 1, "TrustedForm asked twice for one attempt"
    record = stack.reader.read_lead(lead_id)
    assert record.lead.status is Status.RETAINED
    assert "overtaken" not in json.dumps([e.type for e in record.history])


def test_a_sweeper_slowed_past_its_lease_stands_back_from_an_attempt_that_took_the_lead(stack, monkeypatch):
    """The sweeper leased an overdue lead and read its chain, then stalled past its 30 s lease; a retry delivery
    took the lead, recorded its call's request and got TrustedForm's 200. The sweeper's requeue, recorded after
    that request, would be the lead's step: the attempt's outcome would then be overtaken by it, and the lead
    sent to TrustedForm again. The sweeper stands back instead, and the attempt's outcome is the lead's."""
    import threading

    from tf_retainer.leads import retry
    from tf_retainer.store.lead_writer import RECOVERY_LEASE_SECONDS
    from tf_retainer.store.table import Table

    cert_id, lead_id, message = pending_an_hour_later(stack, monkeypatch, ["unavailable", "success", "success"])
    at_outcome, sweeper_done = threading.Event(), threading.Event()
    delivered: list[str] = []

    def delivery() -> None:
        try:
            delivered.append(retry.retry_lead(default_deps(), message))
        except Exception as exc:  # reported by the assertions below
            delivered.append(type(exc).__name__)
        at_outcome.set()

    original_outcome = DynamoLeadWriter.record_outcome

    def outcome_after_the_sweeper(self: DynamoLeadWriter, *args: Any, **kwargs: Any) -> Any:
        at_outcome.set()  # TrustedForm has answered this delivery: the sweeper writes now
        sweeper_done.wait(30)
        return original_outcome(self, *args, **kwargs)

    original_read = Table.entries_after
    started: list[threading.Thread] = []

    def read_then_stall(self: Table, *args: Any, **kwargs: Any) -> Any:
        newer = original_read(self, *args, **kwargs)
        if not started and threading.current_thread() is threading.main_thread():  # the sweeper, under its lease
            later(monkeypatch, timedelta(hours=1, seconds=RECOVERY_LEASE_SECONDS + 1))  # its lease runs out meanwhile
            started.append(threading.Thread(target=delivery))
            started[0].start()
            assert at_outcome.wait(30)
        return newer

    monkeypatch.setattr(DynamoLeadWriter, "record_outcome", outcome_after_the_sweeper)
    monkeypatch.setattr(Table, "entries_after", read_then_stall)
    try:
        report = sweep()
    finally:
        sweeper_done.set()
        if started:
            started[0].join(30)
    retained = retains(stack, cert_id)
    assert delivered == ["retained"]
    assert (report.recovered, report.skipped, report.failed) == ([], 1, [])
    assert len(retained) == 1
    record = stack.reader.read_lead(lead_id)
    assert record.lead.status is Status.RETAINED
    history = [e.type for e in record.history]
    assert "requeued" not in history and "overtaken" not in json.dumps(history)


def test_an_outcome_entry_applied_but_its_answer_lost_is_recorded_once_not_overtaken(stack, monkeypatch):
    """The outcome's chain entry reached DynamoDB but its answer did not (a read timeout): the client sends
    the put again, which fails its condition on that very entry. The step is recorded, once: not misread as
    overtaken by another attempt (whose evidence, this call's exchange, would then be written a second time)."""
    assert stack.post(lead()).status == 201  # builds the service's clients
    client = wiring.dynamodb()
    real = client.put_item
    resent: list[str] = []

    def applied_answer_lost_sent_again(**kwargs: Any) -> Any:
        if not resent and "S" in kwargs["Item"].get("o", {}):  # the entry holding the outcome
            resent.append(kwargs["Item"]["sk"]["S"])
            real(**kwargs)  # applied; its answer lost on the way back
        return real(**kwargs)  # the client's retry

    monkeypatch.setattr(client, "put_item", applied_answer_lost_sent_again)
    response = stack.post(lead())
    assert response.status == 201, response.json()
    assert len(resent) == 1
    record = stack.reader.read_lead(response.json()["lead_id"])
    assert record.lead.status is Status.RETAINED and record.lead.applied == len(record.chain)
    assert len(record.exchanges) == 1, "one call, one exchange"
    assert [event.type for event in record.history] == ["received", "calling", "attempt", "retained"]


# --- the table does not answer at intake (a read timeout after botocore's own retries) -------------------


def _timeout(**_: Any) -> None:
    raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


def state_put_answers_lost(monkeypatch: Any, client: Any, times: int) -> list[bool]:
    """The reservation's last write, the lead's state, reaches the table and its answer is lost (a read
    timeout, as botocore raises it once its own tries are spent), ``times`` times: refused or applied."""
    real = client.put_item
    lost: list[bool] = []

    def put_item(**kwargs: Any) -> Any:
        if not is_state_put(kwargs) or len(lost) == times:
            return real(**kwargs)
        lost.append(True)
        with contextlib.suppress(ClientError):  # the repeat meeting the first: its answer is lost as well
            real(**kwargs)
        _timeout()

    monkeypatch.setattr(client, "put_item", put_item)
    return lost


def _claims_of(stack, cert_id: str) -> list[str]:
    """The lead ids TrustedForm was asked to retain ``cert_id`` for (its ``reference``)."""
    return [r["body"]["retain"]["reference"] for r in stack.sim.requests if r["cert_id"] == cert_id]


def logged(monkeypatch, level: str) -> list[tuple[str, dict[str, Any]]]:
    """What the service logs at ``level`` from now on: (message, extra)."""
    from tf_retainer.runtime.observability import logger

    seen: list[tuple[str, dict[str, Any]]] = []
    real = getattr(logger, level)

    def recording(message: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((message, kwargs.get("extra") or {}))
        return real(message, *args, **kwargs)

    monkeypatch.setattr(logger, level, recording)
    return seen


def test_a_reservation_that_never_reached_the_table_is_answered_503_and_taken_when_sent_again(stack, monkeypatch):
    """Every try of the reservation times out unapplied: the vendor is told 503 store_unavailable with
    Retry-After (not a 502, not "rejected"), TrustedForm is not asked, and the same lead sent again is taken.
    The log says which call the store did not answer."""
    assert stack.post(lead()).status == 201  # builds the service's clients
    client = wiring.dynamodb()
    cert_id = make_web_cert_id()
    warnings = logged(monkeypatch, "warning")
    client.meta.events.register_first("before-send.dynamodb.PutItem", _timeout, unique_id="timeout")
    try:
        response = stack.post(lead(cert_id, lead_id="V-503"))
    finally:
        client.meta.events.unregister("before-send.dynamodb.PutItem", unique_id="timeout")
    assert response.status == 503, response.json()
    assert response.headers.get("Retry-After") == "5"
    answer = response.json()
    assert (answer["status"], answer["reason"], answer["lead_id"]) == (None, "store_unavailable", None)
    assert _claims_of(stack, cert_id) == [], "nothing kept, nothing asked of TrustedForm"
    assert [extra["detail"] for message, extra in warnings if message == "store unavailable"] == [
        "reserve: ReadTimeoutError"
    ]

    again = stack.post(lead(cert_id, lead_id="V-503"))
    assert again.status == 201 and again.json()["status"] == "retained"
    assert _claims_of(stack, cert_id) == [again.json()["lead_id"]]


@pytest.mark.parametrize("vendor_lead_id", [None, "V-LOST"], ids=["no-lead-id", "vendor-lead-id"])
def test_a_reservation_applied_but_its_answer_lost_is_answered_503_and_the_repeat_gets_the_kept_lead(
    stack, monkeypatch, vendor_lead_id
):
    """The reservation reached the table, its answer did not, and neither did the answer to the intake's
    second try: 503, send again. The repeat (with the vendor's lead_id or without) is answered with the kept
    lead, never certificate_reused or a second lead; the sweeper then retains that one lead, once."""
    assert stack.post(lead()).status == 201
    cert_id = make_web_cert_id()
    with monkeypatch.context() as patch:
        state_put_answers_lost(patch, wiring.dynamodb(), times=2)
        response = stack.post(lead(cert_id, lead_id=vendor_lead_id))
    assert (response.status, response.json()["reason"]) == (503, "store_unavailable"), response.json()
    assert _claims_of(stack, cert_id) == []

    again = stack.post(lead(cert_id, lead_id=vendor_lead_id))
    assert again.status == 202, again.json()  # the kept lead, as it stands: not yet asked
    kept = again.json()
    assert kept["status"] == "pending" and kept["reason"] is None and kept["vendor_lead_id"] == vendor_lead_id

    later(monkeypatch, timedelta(hours=1))  # past the intake's lease and the received grace
    assert sweep().recovered == [kept["lead_id"]]
    assert deliver(stack, wait=False) and stack.get(kept["lead_id"]).json()["status"] == "retained"
    assert _claims_of(stack, cert_id) == [kept["lead_id"]], "one lead, retained once"


def test_a_reservation_whose_answer_was_lost_is_sent_again_and_the_lead_answered(stack, monkeypatch):
    """Issue 21 (transient write errors retried within the budget): the reservation reached the table, its
    answer did not; the intake sends it again, finds it applied, and goes on: the vendor gets its lead's
    answer, not a 503, and TrustedForm is asked once."""
    assert stack.post(lead()).status == 201
    cert_id = make_web_cert_id()
    infos = logged(monkeypatch, "info")
    state_put_answers_lost(monkeypatch, wiring.dynamodb(), times=1)
    response = stack.post(lead(cert_id, lead_id="V-LOST-ONCE"))
    answer = response.json()
    assert (response.status, answer["status"]) == (201, "retained"), answer
    assert _claims_of(stack, cert_id) == [answer["lead_id"]], "one lead, retained once"
    assert [extra["detail"] for message, extra in infos if message == "reservation sent again"] == [
        "reserve: ReadTimeoutError"
    ]


def test_a_lookup_the_table_does_not_answer_is_503_to_ask_again(stack):
    """The lead's read times out (the vendor's key checked): the function answers 503 store_unavailable."""
    posted = stack.post(lead()).json()
    client = wiring.dynamodb()

    def lead_reads_time_out(request: Any, **_: Any) -> None:
        if b'"LEAD#' in (request.body or b""):
            _timeout()

    client.meta.events.register_first("before-send.dynamodb", lead_reads_time_out, unique_id="timeout")
    try:
        response = stack.get(posted["lead_id"])
    finally:
        client.meta.events.unregister("before-send.dynamodb", unique_id="timeout")
    assert (response.status, response.json()["reason"]) == (503, "store_unavailable"), response.json()
    assert response.headers.get("Retry-After") == "5"
    assert stack.get(posted["lead_id"]).json()["status"] == "retained"


def test_a_vendor_key_the_authorizer_cannot_read_is_503_from_api_gateway(stack):
    """The authorizer's read of the key times out: API Gateway's AUTHORIZER_FAILURE, as the template
    declares it (503 store_unavailable, Retry-After), not a bare 500; the next request is checked again."""
    posted = stack.post(lead()).json()
    client = wiring.dynamodb()
    client.meta.events.register_first("before-send.dynamodb", _timeout, unique_id="timeout")
    try:
        response = stack.get(posted["lead_id"], key=stack.add_vendor("other-vendor"))  # a key not yet cached
    finally:
        client.meta.events.unregister("before-send.dynamodb", unique_id="timeout")
    assert (response.status, response.json()["reason"]) == (503, "store_unavailable"), response.json()
    assert response.headers.get("Retry-After") == "5" and "key could not be checked" in response.json()["detail"]
    assert stack.get(posted["lead_id"]).json()["status"] == "retained"


def test_a_conflict_on_the_sweep_s_watermark_is_waited_out_not_the_end_of_the_sweep(stack, monkeypatch):
    """The watermark's put comes after the whole sweep: a transaction conflict there is tried again, so the
    sweep ends well and the next one does not read the same leads again."""
    from tf_retainer.store import keys

    assert stack.post(lead()).status == 201  # builds the service's clients
    client = wiring.dynamodb()
    real = client.put_item
    mark = keys.key(*keys.RECEIVED_MARK)
    conflicts: list[str] = []

    def conflicting_on_the_mark(**kwargs: Any) -> Any:
        if not conflicts and kwargs["Item"]["pk"] == {"S": mark["pk"]}:
            conflicts.append("watermark")
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "conflict"}}, "PutItem")
        return real(**kwargs)

    monkeypatch.setattr(client, "put_item", conflicting_on_the_mark)
    deps = default_deps()
    before = deps.index.sweep_mark()
    report = sweep()
    assert conflicts == ["watermark"]
    assert report.failed == []
    after = deps.index.sweep_mark()
    assert after.until is not None and (before.until is None or after.until > before.until)
    assert after.version == before.version + 1  # one save: the conflict was waited out, not taken for a race


# --- the reservation's claim written, its lead's state not (yet) -----------------------------------------


def killed_at_the_state_put(monkeypatch: Any) -> None:
    """The next put of a lead's state never reaches the table: the intake dies there, its claims written."""
    client = wiring.dynamodb()
    real = client.put_item

    def put_item(**kwargs: Any) -> Any:
        if is_state_put(kwargs):
            monkeypatch.setattr(client, "put_item", real)
            raise Killed
        return real(**kwargs)

    monkeypatch.setattr(client, "put_item", put_item)


def test_an_intake_killed_between_its_claim_and_its_state_is_taken_when_the_vendor_sends_the_lead_again(
    stack, monkeypatch
):
    """Nothing was stored of the lead but its certificate's claim, and no one was answered or asked: the
    vendor's repeat (its own lead id names the same lead) holds the claim already and is kept at once."""
    assert stack.post(lead()).status == 201  # builds the service's clients
    cert_id = make_web_cert_id()
    killed_at_the_state_put(monkeypatch)
    with pytest.raises(Killed):
        submit(lead(cert_id, lead_id="HALF-1"))
    dead = stack.reader.read_certificate(cert_id).claim.lead_id
    assert stack.lead_state(dead) is None and _claims_of(stack, cert_id) == []

    again = stack.post(lead(cert_id, lead_id="HALF-1"))
    assert (again.status, again.json()["status"], again.json()["lead_id"]) == (201, "retained", dead)
    assert _claims_of(stack, cert_id) == [dead]


def test_a_claim_whose_lead_was_never_stored_is_taken_over_once_its_intake_cannot_be_alive(stack, monkeypatch):
    """Another lead with the certificate of an intake that died after its claim: while that intake could still
    be alive (the received grace), it is told 503 to send again, TrustedForm not asked; after, it takes the
    claim over, the dead lead named as a previous holder, and is kept."""
    from tf_retainer.store import reservation

    assert stack.post(lead()).status == 201
    cert_id = make_web_cert_id()
    killed_at_the_state_put(monkeypatch)
    with pytest.raises(Killed):
        submit(lead(cert_id, lead_id="HALF-2"))
    dead = stack.reader.read_certificate(cert_id).claim.lead_id
    pauses: list[float] = []
    monkeypatch.setattr(wiring.lead_table().writer._reservations, "_sleep", pauses.append)

    waiting = stack.post(lead(cert_id))
    assert (waiting.status, waiting.json()["reason"]) == (503, "store_unavailable"), waiting.json()
    assert waiting.headers.get("Retry-After") == "5"
    assert pauses == [*reservation.IN_FLIGHT_PAUSES] * 2  # the intake's reservation and its second try
    assert _claims_of(stack, cert_id) == []

    later(monkeypatch, timedelta(seconds=default_deps().settings.received_grace_seconds + 1))
    taken = stack.post(lead(cert_id))
    assert (taken.status, taken.json()["status"]) == (201, "retained"), taken.json()
    claim = stack.reader.read_certificate(cert_id).claim
    assert (claim.lead_id, claim.previous_holders) == (taken.json()["lead_id"], [dead])
    assert _claims_of(stack, cert_id) == [taken.json()["lead_id"]]


def test_a_lead_meeting_a_claim_whose_state_is_on_its_way_waits_for_it_and_is_refused(stack, monkeypatch):
    """Two leads with one certificate: the second meets the first's claim before the first's state is stored
    (the first intake between its two writes). It waits, finds the first stored, and is refused as a reuse:
    never taken over from a live intake, one retain."""
    import threading

    assert stack.post(lead()).status == 201
    cert_id = make_web_cert_id()
    client = wiring.dynamodb()
    real = client.put_item
    claimed, stored, go = threading.Event(), threading.Event(), threading.Event()

    def state_after_the_other(**kwargs: Any) -> Any:
        if is_state_put(kwargs) and not claimed.is_set():
            claimed.set()
            go.wait(30)
            try:
                return real(**kwargs)
            finally:
                stored.set()
        return real(**kwargs)

    monkeypatch.setattr(client, "put_item", state_after_the_other)
    first: list[Any] = []
    thread = threading.Thread(target=lambda: first.append(stack.post(lead(cert_id, lead_id="FIRST"))))
    thread.start()
    assert claimed.wait(30)

    def pause(_: float) -> None:
        go.set()  # the first intake stores its lead while the second waits
        assert stored.wait(30)

    monkeypatch.setattr(wiring.lead_table().writer._reservations, "_sleep", pause)
    second = stack.post(lead(cert_id, lead_id="SECOND"))
    thread.join(30)
    assert (first[0].status, first[0].json()["status"]) == (201, "retained"), first[0].json()
    assert (second.status, second.json()["reason"]) == (422, "certificate_reused"), second.json()
    assert _claims_of(stack, cert_id) == [first[0].json()["lead_id"]]
