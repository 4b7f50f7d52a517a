"""The use cases (intake, retry, lookup) through the Deps seam: in-memory fakes and a fixed clock.

No DynamoDB, no SQS, no TrustedForm: what the service decides, writes and queues for each answer it gets.
"""

from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tf_retainer.api.status import answer_status, refusal_status
from tf_retainer.aws.queues import SqsRetryQueue
from tf_retainer.decisions.calling import default_rules
from tf_retainer.decisions.rulebook import RulesInForce, from_settings
from tf_retainer.domain.contacts import lead_fingerprints
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.exchange import ErrorKind, Exchange
from tf_retainer.domain.lead import Claim, Event, HistoryItem, Lead, LeadRecord
from tf_retainer.domain.models import LeadMatch, LeadSubmission, Reason, Status
from tf_retainer.domain.retry_message import RetryMessage
from tf_retainer.leads import attempt as attempt_module
from tf_retainer.leads import intake, lookup, retry, schedule, sweep
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.sweep_mark import REVISIT_CAP
from tf_retainer.ports.leads import CertificateTaken, DuplicateLead, Revisit, StoreUnavailable, SweepMark
from tf_retainer.ports.services import ApiKeyUnavailable
from tf_retainer.runtime.clock import iso
from tf_retainer.runtime.observability import metrics

from tests.support.fakes import FakeKeyring, FakeLedger, FakeSqs, FakeStore

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CERT_ID = "eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947"
CERT_URL = f"https://cert.trustedform.com/{CERT_ID}"
VENDOR = "acme"
TF_KEY = "tf-key"
RETAINED_BODY = {
    "outcome": "success",
    "match_lead": {"result": {"email_match": True, "phone_match": None, "success": True}},
    "retain": {
        "reference": "lead-0001",
        "vendor": VENDOR,
        "results": {"expires_at": "2027-02-20T12:00:00Z", "previously_retained": False},
    },
    "insights": {"properties": {"is_masked": False}},
}


# --- fakes (the store and SQS: tests/support/fakes.py) ----------------------------------------------


def exchange(
    status: int | None = 200, body: Any = None, *, error: ErrorKind | None = None, attempt: int = 1
) -> Exchange:
    """A canned TrustedForm exchange, as the real client would capture it."""
    response: dict[str, Any] | None = None
    if error is None:
        text = json.dumps(body) if body is not None else ""
        response = {"status": status, "reason": "", "headers": {}, "body": text}
    return Exchange(
        attempt=attempt,
        started_at=NOW.isoformat(timespec="milliseconds"),
        duration_ms=42.0,
        request={"method": "POST", "url": CERT_URL, "headers": {}, "body": "{}"},
        response=response,
        error=error,
        error_detail="ReadTimeout" if error else None,
        _json=body,
    )


class Monotonic:
    """The attempt's budget runs on time.monotonic (not on Deps.clock): a fake that only calls advance."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@dataclass
class FakeTrustedForm:
    monotonic: Monotonic
    answers: list[Exchange] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    takes: float = 0.05  # seconds each call takes
    hangs: bool = False  # each call takes its whole timeout instead (TrustedForm answers only then)
    timeouts: list[float] = field(default_factory=list)  # each call's, as sent

    def retain(self, cert_id: str, **kwargs: Any) -> Exchange:
        if kwargs.get("before_send"):  # the request, as the real client hands it over before sending
            kwargs["before_send"]({"method": "POST", "url": f"https://cert.trustedform.com/{cert_id}", "body": "{}"})
        # Sent once before_send returned, with what is left until the deadline (the client's floor: 0.5 s).
        timeout = round(max(0.5, kwargs["deadline"] - self.monotonic.now), 6)
        self.calls.append({"cert_id": cert_id, **kwargs, "timeout": timeout})
        self.timeouts.append(timeout)
        self.monotonic.now += timeout if self.hangs else self.takes
        answer = self.answers.pop(0)
        answer.attempt = kwargs["attempt"]
        return answer

    def close(self) -> None:
        pass


@dataclass
class FakeApiKey:
    monotonic: Monotonic
    unavailable: bool = False
    forced: list[bool] = field(default_factory=list)
    reread_takes: float = 0.0  # seconds a forced re-read takes (Secrets Manager, uncached)

    def __call__(self, force: bool) -> str:
        self.forced.append(force)
        if force:
            self.monotonic.now += self.reread_takes
        if self.unavailable:
            raise ApiKeyUnavailable("no secret")
        return TF_KEY


@dataclass
class World:
    deps: Deps
    store: FakeStore
    tf: FakeTrustedForm
    sqs: FakeSqs
    api_key: FakeApiKey


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch):
    """The use cases emit metrics (EMF on stdout): Powertools needs a namespace, as the template gives it."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TfRetainerUnitTests")
    yield
    metrics.clear_metrics()


@pytest.fixture(autouse=True)
def no_jitter(monkeypatch):
    """Backoff jitter is not on the Deps seam: pin it to the middle so planned times are exact."""
    monkeypatch.setattr(schedule, "plan_next_attempt", functools.partial(schedule.plan_next_attempt, rand=lambda: 0.5))


@pytest.fixture
def monotonic(monkeypatch) -> Monotonic:
    fake = Monotonic()
    monkeypatch.setattr(attempt_module, "time", fake)
    return fake


@pytest.fixture
def make_world(settings, monotonic):
    def make(*answers: Exchange, **settings_changes: Any) -> World:
        store, tf, sqs, api_key = (
            FakeStore(),
            FakeTrustedForm(monotonic, list(answers)),
            FakeSqs(),
            FakeApiKey(monotonic),
        )
        ids = (f"lead-{n:04d}" for n in itertools.count(1))
        configured = settings.model_copy(update=settings_changes)
        deps = Deps(
            settings=configured,
            rules=lambda vendor: RulesInForce(from_settings(configured), "settings"),
            writer=store,
            reader=store,
            index=store,
            trustedform=tf,
            retry_queue=SqsRetryQueue(sqs, configured.retry_queue_url),
            api_key=api_key,
            ledger=FakeLedger(),
            calling=default_rules,
            # The test's vendor lead id names lead-0001, as the first random id would.
            keyring=FakeKeyring({(VENDOR, "V-1"): "lead-0001"}),
            clock=lambda: NOW,
            new_id=lambda: next(ids),
        )
        return World(deps, store, tf, sqs, api_key)

    return make


def kept_exchanges(world: World) -> list[dict[str, Any]]:
    """Every exchange the attempt put into the lead's chain, in order: with later calls' requests, then
    with the outcome."""
    written = [exchange for history in world.store.histories for exchange in history.exchanges]
    return written + [exchange for outcome in world.store.outcomes for exchange in outcome.exchanges]


def submission(**fields: Any) -> LeadSubmission:
    return LeadSubmission.model_validate(
        {"trustedform_cert_url": CERT_URL, "email": "Ann@Example.com", "lead_id": "V-1", "zip": "90210", **fields}
    )


def submit(world: World, time_left: float | None = None, **fields: Any):
    """Post a lead with ``time_left`` seconds left in the invocation (None: no deadline)."""
    deadline = None if time_left is None else world.tf.monotonic.now + time_left
    return intake.submit_lead(world.deps, vendor=VENDOR, submission=submission(**fields), deadline=deadline)


def event_types(events: list[Event]) -> list[str]:
    return [event.type for event in events]


# --- intake ----------------------------------------------------------------------------------------


def test_intake_retained_answers_201_and_records_one_outcome(make_world):
    world = make_world(exchange(200, RETAINED_BODY))
    answer = submit(world)

    assert answer_status(answer) == 201
    assert answer.status is Status.RETAINED
    assert answer.lead_id == "lead-0001"
    assert answer.vendor_lead_id == "V-1"
    assert answer.certificate_url == CERT_URL
    assert answer.expires_at == "2027-02-20T12:00:00Z"
    assert answer.lead_match == LeadMatch(email_match=True, phone_match=None, success=True)

    outcome = world.store.outcome
    assert outcome.after.status is Status.RETAINED
    assert (outcome.after.attempts, outcome.after.burned_attempts) == (1, 1)
    assert outcome.after.final_at == iso(NOW)
    assert outcome.after.next_attempt_at is None
    assert event_types(outcome.events) == ["attempt", "retained"]
    assert outcome.events[0].detail["http_status"] == 200
    assert len(outcome.exchanges) == 1
    assert world.sqs.sent == []  # nothing more to do


def test_intake_reserves_the_lead_with_fingerprints_deadline_and_vendor_lead_id(make_world):
    world = make_world(exchange(200, RETAINED_BODY), extra_fields_allowed=("zip",))
    submit(world)

    [lead] = world.store.reserved
    assert lead.status is Status.RECEIVED
    assert lead.received_at == iso(NOW)
    # a web certificate: 72 hours, less the hour of safety margin
    assert lead.deadline == iso(NOW + timedelta(hours=71))
    assert lead.cert_id == CERT_ID
    assert lead.match_lead == lead_fingerprints("ann@example.com", None)
    assert "Ann@Example.com" not in json.dumps(lead.model_dump(mode="json"))  # no contact detail in clear
    assert lead.lead == {"zip": "90210"}
    # The vendor's lead id names the lead (keyed: a repeat lands on it), and its content is remembered.
    assert (lead.lead_id, lead.vendor_lead_id) == (world.deps.keyring.vendor_lead(VENDOR, "V-1"), "V-1")
    assert lead.payload_hash is not None and len(lead.payload_hash) == 64


def test_intake_calls_trustedform_for_the_lead_with_the_sync_budget(make_world):
    world = make_world(exchange(200, RETAINED_BODY))
    submit(world)

    [call] = world.tf.calls
    assert call["cert_id"] == CERT_ID
    assert call["api_key"] == TF_KEY
    assert call["reference"] == "lead-0001"
    assert call["vendor"] == VENDOR
    assert call["match_lead"] == lead_fingerprints("ann@example.com", None)
    assert call["insights"] == ("is_masked",)
    assert call["timeout"] == 8.0
    assert call["attempt"] == 1
    assert world.api_key.forced == [False]  # the cached key


@pytest.mark.parametrize(
    ("time_left", "timeout"), [(None, 8.0), (30.0, 8.0), (25.0, 8.0), (16.0, 1.5), (15.0, 0.5), (14.9, None)]
)
def test_intake_first_attempt_leaves_time_for_the_writes_after_it(make_world, time_left, timeout):
    # Kept back, each remote call 2 s at most (remote_call_seconds): recording the call's request (2 calls),
    # the 5 calls after it (the chain's end, the outcome's entry, the state, the retry message, the state
    # told it is sent) and the 0.5 s a call sent late still gets: 14.5 s. Less than 0.5 s more: no call.
    world = make_world(exchange(200, RETAINED_BODY))
    answer = submit(world, time_left=time_left)
    if timeout is None:
        assert world.tf.calls == [] and (answer.status, answer.reason) == (Status.PENDING, Reason.TRUSTEDFORM_TIMEOUT)
    else:
        assert world.tf.calls[0]["timeout"] == timeout


def test_intake_without_a_vendor_lead_id_reserves_none(make_world):
    world = make_world(exchange(200, RETAINED_BODY))
    answer = intake.submit_lead(
        world.deps, vendor=VENDOR, submission=LeadSubmission(trustedform_cert_url=CERT_URL, phone="5551234567")
    )
    assert answer.vendor_lead_id is None
    assert world.store.reserved[0].lead_id == "lead-0001"  # a random id
    assert world.store.reserved[0].payload_hash is None


def test_intake_503_is_pending_with_a_retry_planned_from_the_clock_and_queued(make_world):
    world = make_world(exchange(503, None))
    answer = submit(world)

    assert answer_status(answer) == 202
    assert (answer.status, answer.reason) == (Status.PENDING, Reason.TRUSTEDFORM_UNAVAILABLE)

    after = world.store.outcome.after
    # first backoff: 60 s ceiling, equal jitter pinned at the middle -> 45 s
    planned = NOW + timedelta(seconds=45)
    assert after.next_attempt_at == iso(planned)
    assert (after.attempts, after.burned_attempts) == (1, 1)
    assert after.final_at is None
    assert event_types(world.store.outcome.events) == ["attempt", "pending"]
    assert world.store.outcome.events[-1].detail == {
        "reason": "trustedform_unavailable",
        "next_attempt_at": iso(planned),
    }

    [sent] = world.sqs.sent
    assert sent["QueueUrl"] == "http://queue"
    assert sent["DelaySeconds"] == 45
    assert world.sqs.messages == [RetryMessage(lead_id="lead-0001", attempt=2, not_before=planned)]
    # Recorded due at the retry + the pending grace, as its message is sent next: no second write (issue 22).
    assert after.check_after == iso(planned + timedelta(seconds=900))
    assert world.store.queued == []


def test_a_pending_lead_whose_message_could_not_be_sent_is_made_due_within_minutes(make_world):
    world = make_world(exchange(503, None))
    world.sqs.fail = True
    submit(world)
    planned = NOW + timedelta(seconds=45)
    assert world.store.outcome.after.check_after == iso(planned + timedelta(seconds=900))
    # Not sent: the sweeper finds it in two minutes, not fifteen after its retry.
    assert world.store.queued == [("lead-0001", iso(NOW + timedelta(seconds=120)))]


def test_intake_timeout_is_pending_and_queued(make_world):
    world = make_world(exchange(None, error="timeout"))
    answer = submit(world)
    assert (answer.status, answer.reason) == (Status.PENDING, Reason.TRUSTEDFORM_TIMEOUT)
    assert world.store.outcome.events[0].detail["error"] == "timeout"
    assert world.sqs.messages[0].attempt == 2


def test_intake_a_queue_failure_still_answers_pending_with_the_plan_recorded(make_world):
    world = make_world(exchange(503, None))
    world.sqs.fail = True
    answer = submit(world)
    assert answer.status is Status.PENDING
    # the lead keeps its next_attempt_at: the operator CLI finds and requeues it
    assert world.store.outcome.after.next_attempt_at == iso(NOW + timedelta(seconds=45))


def test_intake_401_rereads_the_key_once_and_tries_again(make_world):
    world = make_world(exchange(401, {"outcome": "error", "reason": "Incorrect API key"}), exchange(200, RETAINED_BODY))
    answer = submit(world)

    assert answer.status is Status.RETAINED
    assert world.api_key.forced == [False, True]
    assert len(world.tf.calls) == 2
    outcome = world.store.outcome
    assert event_types(outcome.events) == ["attempt", "attempt", "retained"]
    assert [e.detail["http_status"] for e in outcome.events[:2]] == [401, 200]
    # Both exchanges kept as evidence: the 401 with the second call's request (recorded before it was
    # sent), the 200 with the outcome.
    assert [e["response"]["status"] for e in kept_exchanges(world)] == [401, 200]
    assert outcome.after.attempts == 1  # one attempt, two calls


def test_intake_401_with_too_little_budget_left_does_not_call_again(make_world):
    world = make_world(exchange(401, {}), exchange(200, RETAINED_BODY))
    world.tf.takes = 7.8  # of the 8 s budget: a second call would only time out
    answer = submit(world)
    assert (answer.status, answer.reason) == (Status.PENDING, Reason.ACCOUNT_ERROR)
    assert len(world.tf.calls) == 1
    # No time left for a read and a call: the key is not re-read either (the read could outlast the
    # invocation); the next attempt, after the account-error delay, reads it afresh (the cache is 5 min).
    assert world.api_key.forced == [False]
    assert world.store.outcome.after.burned_attempts == 0


def test_intake_second_call_after_a_401_gets_only_what_is_left_of_the_budget(make_world):
    world = make_world(exchange(401, {}), exchange(200, RETAINED_BODY))
    world.tf.takes = 1.0
    submit(world)
    assert [call["timeout"] for call in world.tf.calls] == [8.0, 7.0]


def test_intake_401_twice_is_an_account_error_that_burns_no_attempt(make_world):
    world = make_world(exchange(401, {}), exchange(401, {}))
    answer = submit(world)
    assert (answer.status, answer.reason) == (Status.PENDING, Reason.ACCOUNT_ERROR)
    assert world.api_key.forced == [False, True]
    assert world.store.outcome.after.burned_attempts == 0
    assert world.sqs.sent[0]["DelaySeconds"] == 900


def test_intake_without_an_api_key_is_pending_account_error_and_burns_no_attempt(make_world):
    world = make_world()
    world.api_key.unavailable = True
    answer = submit(world)

    assert answer_status(answer) == 202
    assert (answer.status, answer.reason) == (Status.PENDING, Reason.ACCOUNT_ERROR)
    assert world.tf.calls == []  # nothing sent without a key
    after = world.store.outcome.after
    assert (after.attempts, after.burned_attempts) == (1, 0)
    assert after.next_attempt_at == iso(NOW + timedelta(seconds=900))
    assert event_types(world.store.outcome.events) == ["pending"]
    assert world.store.outcome.exchanges == []
    assert world.sqs.sent[0]["DelaySeconds"] == 900
    assert world.sqs.messages[0].attempt == 2


@pytest.mark.parametrize(
    ("status", "reason"), [(404, Reason.CERTIFICATE_NOT_FOUND), (422, Reason.CERTIFICATE_CLAIM_LIMIT)]
)
def test_intake_terminal_answer_rejects_settles_and_queues_nothing(make_world, status, reason):
    world = make_world(exchange(status, {"outcome": "error", "reason": "x"}))
    answer = submit(world)
    assert answer_status(answer) == 422
    assert (answer.status, answer.reason) == (Status.REJECTED, reason)
    assert world.store.outcome.after.final_at == iso(NOW)
    assert world.sqs.sent == []


def test_intake_refuses_a_certificate_url_that_is_not_trustedforms_before_storing_anything(make_world):
    world = make_world()
    with pytest.raises(InputRejected) as caught:
        submit(world, trustedform_cert_url="https://evil.example/" + "a" * 40)
    assert caught.value.reason is Reason.INVALID_CERTIFICATE_URL
    assert world.store.reserved == []
    assert world.tf.calls == []


# --- intake: repeats and certificate reuse -------------------------------------------------------------


def test_intake_repeat_of_the_same_lead_answers_like_the_first(make_world):
    world = make_world()
    first = submission().model_copy()
    first_lead = Lead(
        lead_id="lead-first",
        vendor=VENDOR,
        vendor_lead_id="V-1",
        status=Status.RETAINED,
        cert_id=CERT_ID,
        cert_kind="web",
        certificate_url=CERT_URL,
        received_at=iso(NOW - timedelta(minutes=5)),
        deadline=iso(NOW + timedelta(hours=70)),
    )
    world.store.leads["lead-first"] = first_lead
    world.store.reservation = DuplicateLead(lead_id="lead-first", same_payload=True)
    answer = intake.submit_lead(world.deps, vendor=VENDOR, submission=first)
    assert answer == first_lead.answer()
    assert world.tf.calls == []
    assert world.store.outcomes == world.store.refusals == []


def test_intake_repeat_while_the_first_is_being_written_answers_pending(make_world):
    world = make_world()
    world.store.reservation = DuplicateLead(lead_id="lead-first", same_payload=True)
    answer = submit(world)
    assert (answer.status, answer.lead_id) == (Status.PENDING, "lead-first")


def test_intake_concurrent_refusal_of_the_same_vendor_lead_answers_like_the_first(make_world):
    world = make_world()
    world.store.reservation = CertificateTaken(claim=owner_claim())
    world.store.refused_first = DuplicateLead(lead_id="lead-first", same_payload=True)
    world.store.leads["lead-first"] = first_refused = pending_lead(
        lead_id="lead-first", status=Status.REJECTED, reason=Reason.CERTIFICATE_REUSED
    )
    answer = submit(world)
    assert answer == first_refused.answer()
    assert world.store.refusals == []


def test_intake_same_vendor_lead_id_with_other_content_is_a_409_conflict(make_world):
    world = make_world()
    world.store.reservation = DuplicateLead(lead_id="lead-first", same_payload=False)
    with pytest.raises(InputRejected) as caught:
        submit(world)
    assert caught.value.reason is Reason.LEAD_ID_CONFLICT
    assert refusal_status(caught.value) == 409
    assert world.tf.calls == []


def owner_claim() -> Claim:
    return Claim(
        lead_id="lead-owner",
        vendor="other-vendor",
        status=Status.RETAINED,
        retained=True,
        masked=False,
        masked_cert_url="https://cert.trustedform.com/" + "c" * 40,
        expires_at="2027-02-20T12:00:00Z",
        lead_match=LeadMatch(email_match=True, success=True),
    )


def test_intake_reused_certificate_is_rejected_under_the_reject_policy(make_world):
    world = make_world(certificate_reuse_policy="reject")
    world.store.reservation = CertificateTaken(claim=owner_claim())
    answer = submit(world)

    assert answer_status(answer) == 422
    assert (answer.status, answer.reason) == (Status.REJECTED, Reason.CERTIFICATE_REUSED)
    assert "lead-owner" not in json.dumps(answer.to_body())  # another vendor's lead stays private
    assert world.tf.calls == []
    [refusal] = world.store.refusals
    assert refusal.lead.status is Status.REJECTED
    assert refusal.lead.owner_lead_id == "lead-owner"
    assert refusal.lead.final_at == iso(NOW)
    assert refusal.lead.vendor_lead_id == "V-1"  # a repeat of this lead_id names this lead: the same answer
    assert event_types(refusal.events) == ["certificate_reused", "rejected"]
    assert world.store.outcomes == []


def test_intake_reused_certificate_is_shared_under_the_share_policy(make_world):
    world = make_world(certificate_reuse_policy="share")
    world.store.reservation = CertificateTaken(claim=owner_claim())
    answer = submit(world)

    assert answer_status(answer) == 201
    assert answer.status is Status.RETAINED
    assert answer.lead_id == "lead-0001"
    assert answer.previously_retained is True
    # None of the holder's certificate facts: its masked copy, its expiry, its match (another vendor's lead).
    assert (answer.expires_at, answer.masked_cert_url, answer.masked, answer.lead_match) == (None, None, None, None)
    assert "lead-owner" not in json.dumps(answer.to_body())
    assert "c" * 40 not in json.dumps(answer.to_body())
    assert world.tf.calls == []  # the certificate is already retained: no second retain
    [refusal] = world.store.refusals
    assert refusal.lead.shared_with_lead_id == "lead-owner"
    assert event_types(refusal.events) == ["certificate_shared", "retained"]
    assert answer.lead_match is None  # the holder's match result is not handed to another lead


# --- retry -----------------------------------------------------------------------------------------


def pending_lead(**changes: Any) -> Lead:
    lead = Lead(
        lead_id="lead-0001",
        vendor=VENDOR,
        status=Status.PENDING,
        reason=Reason.TRUSTEDFORM_UNAVAILABLE,
        cert_id=CERT_ID,
        cert_kind="web",
        certificate_url=CERT_URL,
        received_at=iso(NOW - timedelta(hours=1)),
        deadline=iso(NOW + timedelta(hours=70)),
        attempts=1,
        burned_attempts=1,
        match_lead={"email": "f" * 40},
        next_attempt_at=iso(NOW),
    )
    return lead.model_copy(update=changes)


def message(attempt: int = 2, not_before: datetime = NOW) -> RetryMessage:
    return RetryMessage(lead_id="lead-0001", attempt=attempt, not_before=not_before)


def test_retry_attempts_the_lead_and_records_it(make_world):
    world = make_world(exchange(200, RETAINED_BODY))
    world.store.leads["lead-0001"] = pending_lead()
    assert retry.retry_lead(world.deps, message()) == "retained"

    [begun] = world.store.begun
    assert (begun["attempt"], begun["now"]) == (2, NOW)
    assert begun["lease_seconds"] == 20.0 * 2 + 30  # outlives the attempt's own timeout
    assert world.tf.calls[0]["timeout"] == 20.0
    assert world.tf.calls[0]["attempt"] == 2
    after = world.store.outcome.after
    assert (after.status, after.reason, after.attempts, after.burned_attempts) == (Status.RETAINED, None, 2, 2)
    assert after.next_attempt_at is None
    assert event_types(world.store.outcome.events) == ["attempt", "retained"]
    assert world.store.outcome.events[0].actor == "retry"


def test_retry_503_plans_a_longer_backoff(make_world):
    world = make_world(exchange(503, None))
    world.store.leads["lead-0001"] = pending_lead(attempts=2, burned_attempts=2)
    assert retry.retry_lead(world.deps, message(attempt=3)) == "pending"
    # third burned attempt: 60 * 2**2 = 240 s ceiling, pinned jitter -> 180 s
    planned = NOW + timedelta(seconds=180)
    assert world.store.outcome.after.next_attempt_at == iso(planned)
    assert world.sqs.sent[0]["DelaySeconds"] == 180
    assert world.sqs.messages == [RetryMessage(lead_id="lead-0001", attempt=4, not_before=planned)]


def test_retry_a_wait_longer_than_sqs_allows_is_deferred_as_another_hop(make_world):
    world = make_world()
    later = NOW + timedelta(minutes=40)
    assert retry.retry_lead(world.deps, message(not_before=later)) == "deferred"
    assert world.store.begun == []  # the lead is not touched
    assert world.tf.calls == []
    [sent] = world.sqs.sent
    assert sent["DelaySeconds"] == 900  # SQS's maximum: this is one hop of three
    assert world.sqs.messages == [message(not_before=later)]


def test_retry_a_short_remaining_wait_is_deferred_by_exactly_that_wait(make_world):
    world = make_world()
    assert retry.retry_lead(world.deps, message(not_before=NOW + timedelta(seconds=90))) == "deferred"
    assert world.sqs.sent[0]["DelaySeconds"] == 90


def test_retry_deferral_that_cannot_be_queued_raises_so_the_message_is_kept(make_world):
    world = make_world()
    world.sqs.fail = True
    with pytest.raises(RuntimeError):
        retry.retry_lead(world.deps, message(not_before=NOW + timedelta(minutes=40)))


def test_retry_due_within_a_second_attempts_now(make_world):
    world = make_world(exchange(200, RETAINED_BODY))
    world.store.leads["lead-0001"] = pending_lead()
    assert retry.retry_lead(world.deps, message(not_before=NOW + timedelta(milliseconds=500))) == "retained"


def test_retry_past_the_deadline_expires_without_calling_trustedform(make_world):
    world = make_world()
    world.store.leads["lead-0001"] = pending_lead(deadline=iso(NOW - timedelta(minutes=3)))
    assert retry.retry_lead(world.deps, message()) == "expired"

    assert world.tf.calls == []
    assert world.api_key.forced == []
    outcome = world.store.outcome
    assert (outcome.after.status, outcome.after.reason) == (Status.EXPIRED, Reason.RETAIN_WINDOW_CLOSED)
    assert outcome.after.attempts == 2
    assert outcome.after.final_at == iso(NOW)
    assert event_types(outcome.events) == ["expired"]
    assert world.sqs.sent == []


def test_retry_a_little_late_for_the_deadline_still_attempts(make_world):
    world = make_world(exchange(200, RETAINED_BODY))
    world.store.leads["lead-0001"] = pending_lead(deadline=iso(NOW - timedelta(minutes=1)))
    assert retry.retry_lead(world.deps, message()) == "retained"


def test_retry_the_last_allowed_attempt_failing_expires_the_lead(make_world):
    world = make_world(exchange(503, None), retry_max_attempts=3)
    world.store.leads["lead-0001"] = pending_lead(attempts=2, burned_attempts=2)
    assert retry.retry_lead(world.deps, message(attempt=3)) == "expired"
    after = world.store.outcome.after
    assert (after.status, after.reason) == (Status.EXPIRED, Reason.RETRY_LIMIT_REACHED)
    assert after.last_pending_reason == "trustedform_unavailable"
    assert world.sqs.sent == []


@pytest.mark.parametrize(
    "lead",
    [
        pending_lead(attempts=2),  # this attempt was recorded by another delivery
        pending_lead(attempts=3),
        pending_lead(status=Status.RETAINED, reason=None, attempts=1),  # already final
    ],
)
def test_retry_a_duplicate_delivery_is_skipped(make_world, lead):
    world = make_world()
    world.store.stale = True
    world.store.leads["lead-0001"] = lead
    assert retry.retry_lead(world.deps, message(attempt=2)) == "duplicate"
    assert world.tf.calls == []
    assert world.store.outcomes == []
    assert world.sqs.sent == []


def test_retry_a_lead_leased_by_another_delivery_is_tried_again_later(make_world):
    world = make_world()
    world.store.stale = True
    world.store.leads["lead-0001"] = pending_lead(attempts=1)
    with pytest.raises(retry.LeaseHeld):
        retry.retry_lead(world.deps, message(attempt=2))
    assert world.tf.calls == []


def test_retry_for_a_lead_we_do_not_have_is_a_poison_message(make_world):
    world = make_world()
    world.store.stale = True
    with pytest.raises(retry.UnknownLead):
        retry.retry_lead(world.deps, message())


# --- lookup ----------------------------------------------------------------------------------------


def history(type_: str, **detail: Any) -> HistoryItem:
    return HistoryItem(at=iso(NOW), type=type_, actor="intake", lead_id="lead-0001", cert_id=CERT_ID, detail=detail)


def stored_record(vendor: str = VENDOR) -> LeadRecord:
    lead = pending_lead(
        vendor=vendor, status=Status.REJECTED, reason=Reason.CERTIFICATE_REUSED, owner_lead_id="lead-owner"
    )
    return LeadRecord(
        lead=lead,
        history=[
            history("received", status="received", vendor=vendor),
            history("certificate_reused", owner_lead_id="lead-owner", policy="reject"),
            history("rejected", reason="certificate_reused", next_attempt_at=None),
            history("certificate_reuse_attempt", by_lead_id="lead-9999", vendor="other-vendor"),
        ],
        exchanges=[],
    )


def test_lookup_returns_the_vendors_own_lead_with_its_history(make_world):
    world = make_world()
    world.store.records["lead-0001"] = stored_record()
    view = lookup.get_lead(world.deps, vendor=VENDOR, lead_id="lead-0001")
    assert (view.lead_id, view.status, view.reason) == ("lead-0001", Status.REJECTED, Reason.CERTIFICATE_REUSED)
    assert [event.event for event in view.history] == [
        "received",
        "certificate_reused",
        "rejected",
        "certificate_reuse_attempt",
    ]
    assert view.history[1].model_dump() == {"at": iso(NOW), "event": "certificate_reused", "policy": "reject"}
    assert view.history[2].model_dump() == {"at": iso(NOW), "event": "rejected", "reason": "certificate_reused"}


def test_lookup_hides_other_leads_and_vendors_from_the_history(make_world):
    world = make_world()
    world.store.records["lead-0001"] = stored_record()
    body = json.dumps(lookup.get_lead(world.deps, vendor=VENDOR, lead_id="lead-0001").model_dump(mode="json"))
    for private in ("lead-owner", "lead-9999", "other-vendor", "by_lead_id", "owner_lead_id"):
        assert private not in body


def test_lookup_by_the_vendors_own_lead_id(make_world):
    world = make_world()
    world.store.records["lead-0001"] = stored_record()
    world.store.vendor_lead_ids[(VENDOR, "V-1")] = "lead-0001"
    view = lookup.get_lead(world.deps, vendor=VENDOR, lead_id="V-1")
    assert view.lead_id == "lead-0001"


@pytest.mark.parametrize(
    ("vendor", "lead_id"),
    [
        ("someone-else", "lead-0001"),  # our id of another vendor's lead
        ("someone-else", "V-1"),  # another vendor's own lead_id
        (VENDOR, "no-such-lead"),
    ],
)
def test_lookup_of_another_vendors_or_a_missing_lead_is_404(make_world, vendor, lead_id):
    world = make_world()
    world.store.records["lead-0001"] = stored_record()
    world.store.vendor_lead_ids[(VENDOR, "V-1")] = "lead-0001"
    with pytest.raises(InputRejected) as caught:
        lookup.get_lead(world.deps, vendor=vendor, lead_id=lead_id)
    assert caught.value.reason is Reason.LEAD_NOT_FOUND
    assert refusal_status(caught.value) == 404
    assert caught.value.answer().status is None  # no lead: no status, not "rejected"


# --- every call on record before it is sent (issue 21) -------------------------------------------------


def test_each_calls_request_is_recorded_before_it_is_sent(make_world):
    world = make_world(exchange(401, {}), exchange(200, RETAINED_BODY))
    sent_after: list[int] = []
    original = world.tf.retain

    def retain(cert_id: str, **kwargs: Any) -> Exchange:
        answer = original(cert_id, **kwargs)
        sent_after.append(len(world.store.histories))  # entries already written when this call went out
        return answer

    world.tf.retain = retain
    submit(world)
    assert sent_after == [1, 2]
    calls = [call for history in world.store.histories for call in history.calls]
    assert [call["call_id"].split("/")[0] for call in calls] == ["1.1", "1.2"]
    assert all(call["request"]["url"].endswith(CERT_ID) for call in calls)
    # Each exchange names the request it answers.
    assert [e["call_id"] for e in kept_exchanges(world)] == [call["call_id"] for call in calls]


def test_a_call_whose_request_cannot_be_recorded_is_not_made(make_world):
    world = make_world(exchange(200, RETAINED_BODY))
    world.store.fail_history = 1  # the table stays throttled for the request's entry
    answer = submit(world)
    assert world.tf.calls == []  # no request on record: nothing sent, nothing billed
    assert (answer.status, answer.reason) == (Status.PENDING, Reason.STORE_UNAVAILABLE)
    assert answer_status(answer) == 202
    assert world.store.outcome.after.next_attempt_at is not None  # retried like TrustedForm's trouble


def test_an_outcome_the_store_cannot_take_is_a_pending_answer_not_an_error(make_world):
    world = make_world(exchange(200, RETAINED_BODY))
    world.store.fail_outcome = True
    answer = submit(world)
    assert len(world.tf.calls) == 1  # retained at TrustedForm, its request on record
    assert (answer.status, answer.reason) == (Status.PENDING, Reason.STORE_UNAVAILABLE)
    assert answer_status(answer) == 202  # the vendor keeps its lead (no 502): the sweeper completes it
    assert world.store.outcomes == [] and world.sqs.sent == []


def test_the_key_is_reread_only_when_the_budget_leaves_time_for_the_read_and_a_call(make_world):
    world = make_world(exchange(401, {}), exchange(200, RETAINED_BODY), sync_timeout_seconds=8.0)
    world.api_key.reread_takes = 2.0  # as long as a bounded read may take (remote_call_seconds)
    world.tf.takes = 5.6  # 2.4 s left after the 401: not enough for a 2 s read and a 0.5 s call
    submit(world)
    assert world.api_key.forced == [False]
    assert len(world.tf.calls) == 1


def test_a_slow_reread_leaves_the_second_call_only_what_is_left_of_the_budget(make_world):
    world = make_world(exchange(401, {}), exchange(200, RETAINED_BODY), sync_timeout_seconds=8.0)
    world.api_key.reread_takes = 2.0
    world.tf.takes = 1.0
    start = world.tf.monotonic.now
    submit(world)
    assert world.api_key.forced == [False, True]
    assert [call["timeout"] for call in world.tf.calls] == [8.0, 5.0]  # 8 - 1 (first call) - 2 (re-read)
    assert world.tf.monotonic.now - start <= 8.0  # the whole attempt inside its budget


def slowest_world(world: World, timeouts: list[float]) -> Monotonic:
    """Every remote call as slow as it may be: each store and queue call ``remote_call_seconds``, a key
    re-read too, and TrustedForm answering only when a call times out (its timeouts noted)."""
    clock, slow = world.tf.monotonic, world.deps.settings.remote_call_seconds

    def take(seconds: float) -> None:
        clock.now += seconds

    world.store.on_write = lambda: take(slow)
    world.sqs.on_send = lambda: take(slow)
    world.api_key.reread_takes = slow
    world.tf.hangs, world.tf.timeouts = True, timeouts
    return clock


@pytest.mark.parametrize("first_answer", [exchange(503, {}), exchange(401, {})])
def test_with_every_remote_call_as_slow_as_allowed_a_retry_ends_before_its_deadline(make_world, first_answer):
    world = make_world(first_answer, exchange(503, {}))
    world.store.leads["lead-0001"] = pending_lead()
    timeouts: list[float] = []
    clock = slowest_world(world, timeouts)
    start = clock.now
    retry.retry_lead(world.deps, message(), deadline=start + 60.0)  # the RetryFunction's timeout
    assert clock.now - start <= 60.0, f"{clock.now - start:.1f} s: past the function's timeout"
    assert timeouts and all(timeout >= 0.5 for timeout in timeouts)


@pytest.mark.parametrize("first_answer", [exchange(503, {}), exchange(401, {})])
def test_with_every_remote_call_as_slow_as_allowed_the_intake_ends_before_its_deadline(make_world, first_answer):
    """The store's writes, the queue, the key re-read and TrustedForm all take as long as they may (a
    bounded call: remote_call_seconds; a TrustedForm call: its whole timeout): the invocation still ends
    before the IntakeFunction's timeout (25 s), having called TrustedForm."""
    world = make_world(first_answer, exchange(503, {}))
    timeouts: list[float] = []
    clock = slowest_world(world, timeouts)
    start = clock.now
    answer = submit(world, time_left=25.0)
    assert answer.status is Status.PENDING
    assert clock.now - start <= 25.0, f"{clock.now - start:.1f} s: past the function's timeout"
    assert timeouts and all(timeout >= 0.5 for timeout in timeouts)


@pytest.mark.parametrize("time_left", [15.0, 13.0, 12.0])  # 12 s: the reservation and a pending step's writes
def test_with_less_time_left_than_a_call_needs_none_is_made_and_the_writes_still_fit(make_world, time_left):
    world = make_world(exchange(200, RETAINED_BODY))
    timeouts: list[float] = []
    clock = slowest_world(world, timeouts)
    start = clock.now
    answer = submit(world, time_left=time_left)
    assert world.tf.calls == [] and answer.reason is Reason.TRUSTEDFORM_TIMEOUT
    assert clock.now - start <= time_left


# --- the sweeper ------------------------------------------------------------------------------------


def test_one_lead_the_sweeper_cannot_requeue_stops_no_other(make_world):
    world = make_world()
    for lead_id in ("lead-a", "lead-b", "lead-c"):
        world.store.leads[lead_id] = pending_lead(lead_id=lead_id, check_after=iso(NOW - timedelta(minutes=1)))
    world.store.broken = {"lead-b"}
    report = sweep.sweep(world.deps)
    assert (report.overdue, report.recovered, report.failed) == (3, ["lead-a", "lead-c"], ["lead-b"])
    assert [message.lead_id for message in world.sqs.messages] == ["lead-a", "lead-c"]


@pytest.mark.parametrize("sent", [True, False])
def test_a_requeued_lead_is_due_after_the_pending_grace_or_within_minutes_if_its_message_fails(make_world, sent):
    world = make_world()
    world.sqs.fail = not sent
    world.store.leads["lead-a"] = pending_lead(lead_id="lead-a", check_after=iso(NOW - timedelta(minutes=1)))
    sweep.sweep(world.deps)
    [recovery] = world.store.recoveries
    # Recorded due after the pending grace, as its message is sent next: one write (issue 22).
    assert recovery.after.check_after == iso(NOW + timedelta(seconds=900))
    # A message that could not be sent: made due within the unqueued grace.
    assert world.store.queued == ([] if sent else [("lead-a", iso(NOW + timedelta(seconds=120)))])


def as_reserved(lead_id: str, received: datetime) -> Lead:
    """A lead whose intake died before its first step: received, nothing applied, due a grace after arriving."""
    return pending_lead(
        lead_id=lead_id,
        status=Status.RECEIVED,
        reason=None,
        attempts=0,
        burned_attempts=0,
        next_attempt_at=None,
        received_at=iso(received),
        check_after=iso(received + timedelta(seconds=120)),
    )


def test_a_lead_still_as_reserved_is_found_through_the_vendor_index_from_the_watermark(make_world):
    """Issue 22: a lead as reserved is in no open index (a lead kept at once never writes it); the sweeper
    reads the leads received since its watermark (less the grace, for the index's lag) up to the grace ago."""
    world = make_world()
    world.store.mark = SweepMark(until=NOW - timedelta(minutes=10))
    world.store.leads["stranded"] = as_reserved("stranded", NOW - timedelta(minutes=5))
    world.store.leads["arriving"] = as_reserved("arriving", NOW - timedelta(seconds=60))  # its intake may run
    world.store.leads["pending"] = pending_lead(lead_id="pending", check_after=iso(NOW - timedelta(minutes=1)))
    report = sweep.sweep(world.deps)
    assert sorted(report.recovered) == ["pending", "stranded"]
    assert world.store.windows == [(NOW - timedelta(minutes=12), NOW - timedelta(seconds=120))]
    assert world.store.watermark == NOW - timedelta(seconds=120)
    assert [(m.lead_id, m.attempt) for m in world.sqs.messages if m.lead_id == "stranded"] == [("stranded", 1)]


def test_a_lead_as_reserved_the_sweeper_cannot_requeue_holds_back_no_lead_stranded_after_it(make_world):
    """A lead whose requeue fails every time (a malformed item, one too large to update) goes on the mark's
    revisit list and the watermark moves past it: a lead stranded two hours later is still found (it used to
    hold the watermark, every sweep reading the same hour from it). The failing lead is tried again by every
    sweep, and requeued (off the list) once it can be."""
    world = make_world()
    start = NOW - timedelta(hours=3)
    world.store.mark = SweepMark(until=start)
    world.store.leads["broken"] = as_reserved("broken", start + timedelta(minutes=5))
    world.store.leads["later"] = as_reserved("later", start + timedelta(hours=2, minutes=5))
    world.store.broken = {"broken"}
    reports = [sweep.sweep(world.deps) for _ in range(3)]  # an hour of arrivals a run
    assert [report.failed for report in reports] == [["broken"]] * 3  # tried again every sweep
    assert [report.recovered for report in reports] == [[], [], ["later"]]
    assert world.store.mark.revisit == (Revisit("broken", start + timedelta(minutes=5)),)
    assert world.store.watermark == NOW - timedelta(seconds=120)
    world.store.broken = set()
    report = sweep.sweep(world.deps)
    assert (report.recovered, report.failed, report.revisit) == (["broken"], [], 0)
    assert world.store.mark.revisit == ()
    assert [m.lead_id for m in world.sqs.messages] == ["later", "broken"]


def test_a_lead_state_the_store_cannot_decode_is_listed_not_a_wall_for_the_leads_after_it(make_world):
    """A state the store cannot decode is named by the read of its window (not raised: that failed the whole
    sweep, every run, at the same place): listed, counted by every sweep, and the lead after it requeued."""
    world = make_world()
    start = NOW - timedelta(minutes=40)
    world.store.mark = SweepMark(until=start)
    world.store.unreadable = {"garbled": start + timedelta(minutes=5)}
    world.store.leads["after"] = as_reserved("after", start + timedelta(minutes=10))
    first, second = sweep.sweep(world.deps), sweep.sweep(world.deps)
    assert (first.recovered, first.failed) == (["after"], ["garbled"])
    assert (second.recovered, second.failed, second.revisit) == ([], ["garbled"], 1)  # read by id: still listed
    assert world.store.mark.revisit == (Revisit("garbled", start + timedelta(minutes=5)),)
    assert world.store.watermark == NOW - timedelta(seconds=120)


def test_a_listed_lead_no_longer_as_reserved_leaves_the_list_without_a_requeue(make_world):
    """An operator's requeue (or a late step of its own attempt) moved it on: nothing for the sweeper to do."""
    world = make_world()
    moved = pending_lead(lead_id="moved", received_at=iso(NOW - timedelta(minutes=40)), applied=3)
    world.store.leads["moved"] = moved.model_copy(update={"check_after": iso(NOW + timedelta(minutes=5))})
    world.store.mark = SweepMark(until=NOW - timedelta(minutes=30), revisit=(Revisit("moved", NOW),), version=7)
    report = sweep.sweep(world.deps)
    assert (report.recovered, report.failed, world.store.recoveries) == ([], [], [])
    assert world.store.mark.revisit == () and world.store.mark.version == 8


def test_past_the_revisit_list_s_cap_a_lead_the_sweeper_cannot_requeue_holds_the_watermark(make_world):
    """The list is bounded (each listed lead is read and tried every sweep): full, a failing lead holds the
    watermark as before; once a listed lead is requeued, it takes its place and the watermark moves on."""
    world = make_world()
    start = NOW - timedelta(minutes=30)
    listed = [as_reserved(f"listed-{n:03d}", start - timedelta(hours=1)) for n in range(REVISIT_CAP)]
    world.store.leads |= {lead.lead_id: lead for lead in listed}
    world.store.mark = SweepMark(until=start, revisit=tuple(Revisit(lead.lead_id, start) for lead in listed))
    world.store.leads["new-broken"] = as_reserved("new-broken", start + timedelta(minutes=5))
    world.store.leads["later"] = as_reserved("later", start + timedelta(minutes=10))
    world.store.broken = {lead.lead_id for lead in listed} | {"new-broken"}
    report = sweep.sweep(world.deps)
    assert len(report.failed) == REVISIT_CAP + 1 and report.recovered == ["later"]
    assert world.store.watermark == start + timedelta(minutes=5)  # held by the lead the list has no room for
    assert len(world.store.mark.revisit) == REVISIT_CAP
    world.store.broken.discard("listed-000")
    report = sweep.sweep(world.deps)
    assert report.recovered == ["listed-000"]
    assert Revisit("new-broken", start + timedelta(minutes=5)) in world.store.mark.revisit
    assert len(world.store.mark.revisit) == REVISIT_CAP
    assert world.store.watermark == NOW - timedelta(seconds=120)


def test_a_mark_other_sweeps_keep_saving_first_is_given_up_and_its_arrivals_read_again(make_world, monkeypatch):
    """Each save refused (another sweep saved the mark since it was read): read again and merged, a few times,
    then given up and counted; nothing is lost, the next sweep reads the same arrivals again."""
    world = make_world()
    world.store.mark = SweepMark(until=NOW - timedelta(minutes=30))
    world.store.leads["broken"] = as_reserved("broken", NOW - timedelta(minutes=20))
    world.store.broken = {"broken"}
    tried: list[int] = []

    def saved_first_by_another(mark: SweepMark, *, read: SweepMark) -> bool:
        tried.append(read.version)
        world.store.mark = replace(world.store.mark, version=world.store.mark.version + 1)
        return False

    with monkeypatch.context() as busy:
        busy.setattr(world.store, "save_sweep_mark", saved_first_by_another)
        assert sweep.sweep(world.deps).failed == ["broken"]
    assert tried == [0, 1, 2, 3]  # the mark read again before each try
    assert metrics.metric_set["SweepFailures"]["Value"] == [1.0, 1.0]  # the lead, then the mark
    assert world.store.watermark == NOW - timedelta(minutes=30)
    world.store.windows.clear()
    assert sweep.sweep(world.deps).failed == ["broken"]
    assert world.store.windows[0][0] == NOW - timedelta(minutes=32)  # from the same watermark
    assert [entry.lead_id for entry in world.store.mark.revisit] == ["broken"]


def test_the_first_sweep_looks_back_an_hour_and_one_far_behind_catches_up_an_hour_a_run(make_world):
    """Ten minutes of arrivals a read (what one read costs stays bounded however far behind the sweeper is),
    each from the grace before (the index's lag), six reads a run."""
    world = make_world()
    sweep.sweep(world.deps)
    horizon, grace, ten = NOW - timedelta(seconds=120), timedelta(seconds=120), timedelta(minutes=10)
    starts = [horizon - timedelta(hours=1) + n * ten for n in range(6)]
    assert world.store.windows == [(start - grace, start + ten) for start in starts]
    assert world.store.watermark == horizon
    world.store.windows.clear()
    mark = NOW - timedelta(days=1)
    world.store.mark = SweepMark(until=mark)
    sweep.sweep(world.deps)
    assert len(world.store.windows) == 6
    assert world.store.windows[0] == (mark - grace, mark + ten)
    assert world.store.windows[-1] == (mark + 5 * ten - grace, mark + timedelta(hours=1))
    assert world.store.watermark == mark + timedelta(hours=1)


def test_a_failed_read_of_the_leads_as_reserved_leaves_the_overdue_leads_requeued_and_the_watermark(
    make_world, monkeypatch
):
    """The vendor index did not answer: the overdue open leads (read first, from the open index) are requeued
    all the same, and the watermark stays for the next sweep to read that window again."""
    world = make_world()
    world.store.mark = SweepMark(until=NOW - timedelta(minutes=30))
    world.store.leads["pending"] = pending_lead(lead_id="pending", check_after=iso(NOW - timedelta(minutes=1)))
    world.store.leads["stranded"] = as_reserved("stranded", NOW - timedelta(minutes=25))

    def unavailable(**_: Any) -> list[Lead]:
        raise StoreUnavailable("query: ProvisionedThroughputExceededException")

    monkeypatch.setattr(world.store, "unstepped_leads", unavailable)
    report = sweep.sweep(world.deps)
    assert report.recovered == ["pending"]
    assert world.store.watermark == NOW - timedelta(minutes=30)


# --- a vendor's repeat of its own lead (issue 21) -------------------------------------------------------


def holder_of(world: World, **changes: Any) -> Lead:
    """The lead a first post left holding the certificate: same vendor, same contact, no lead_id."""
    first = pending_lead(
        lead_id="lead-first",
        vendor_lead_id=None,
        match_lead=lead_fingerprints("ann@example.com", None),
        status=Status.RECEIVED,
    )
    return first.model_copy(update=changes)


@pytest.mark.parametrize("lead_id", [None, "V-1"])
def test_a_vendor_posting_its_stranded_lead_again_gets_that_leads_answer(make_world, lead_id):
    """The first post got a 502 (its answer lost); the vendor posts the same lead again, with or without a
    lead_id: not certificate_reused (the vendor would drop a lead we keep), but the first lead's answer."""
    world = make_world(exchange(200, RETAINED_BODY))
    holder = holder_of(world, vendor_lead_id=lead_id)
    world.store.reservation = CertificateTaken(claim=owner_claim(), holder=holder)
    answer = submit(world, lead_id=lead_id)
    assert answer == holder.answer() and answer.lead_id == "lead-first"
    assert world.store.refusals == [] and world.tf.calls == []  # nothing written, nothing sent


@pytest.mark.parametrize(
    "other",
    [
        {"vendor": "another-vendor"},
        {"match_lead": lead_fingerprints("someone.else@example.com", None)},
        {"vendor_lead_id": "V-0"},  # the vendor's own other lead, with another lead_id
    ],
)
def test_another_lead_with_the_certificate_is_still_refused(make_world, other):
    world = make_world()
    world.store.reservation = CertificateTaken(claim=owner_claim(), holder=holder_of(world, **other))
    answer = submit(world)  # lead_id V-1
    assert (answer.status, answer.reason) == (Status.REJECTED, Reason.CERTIFICATE_REUSED)
