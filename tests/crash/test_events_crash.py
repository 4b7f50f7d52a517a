"""The PublisherFunction and the CallbackFunction SIGKILLed at their writes (the moto gate holds the write;
the receiver shows a callback in flight), then driven on as their event source mappings drive them.

The publisher: killed after PutEvents reached the bus, before its stream batch was checkpointed, the batch
is retried and the event published again under the same id (a consumer drops the copy): exactly one
event per outcome after de-duplication, none lost, no stall. Killed before PutEvents: published once.

The callback: killed while the vendor holds the callback, the job comes back after the visibility
timeout and the vendor is called again with the same event id; killed after queueing its retry job,
both the job and the original delivery reach the vendor, each with that id. Nothing reaches the DLQ, the
queue empties, the vendor has the outcome once it de-duplicates on the event id.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.receiver import CallbackReceiver
from local.simulator import make_web_cert_id
from local.streams import StreamPoller
from tests.support.crash import (
    PUT_EVENTS,
    SQS_SEND,
    VENDOR,
    Container,
    CrashBackend,
    wait_for,
)
from tests.support.stack import lead

CALLBACK_VISIBILITY = 2  # the template's 180 s, shortened: a killed callback's job comes back in seconds
BACKEND_SETTINGS = {
    "RETRY_BASE_SECONDS": "1",
    "RETRY_CAP_SECONDS": "2",
    "CALLBACK_ALLOW_PRIVATE": "true",
    "CALLBACK_BASE_DELAY_SECONDS": "0",
    # The vendor's slow answer (below) must still be awaited when its caller is killed.
    "CALLBACK_TIMEOUT_SECONDS": "30",
}  # (REMOTE_CALL_SECONDS: every crash backend's 3 s, tests/support/crash.CRASH_DEFAULTS)
CONTAINERS = 5  # a helper and one victim per kill
SLOW_ANSWER = "slow:3"
# Waits for a message that comes back after the visibility timeout: ten times that.
REDELIVERY_TIMEOUT = 10.0 * CALLBACK_VISIBILITY + 10
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crash-events")]


class Router:
    """The stream poller's invoke: the container it is pointed at now."""

    def __init__(self, target: Container) -> None:
        self.target = target

    def __call__(self, function: str, event: dict[str, Any]) -> Any:
        return self.target.invoke(function, event)


@pytest.fixture(scope="module")
def helper(containers: list[Container]) -> Container:
    return containers[0]


@pytest.fixture(scope="module")
def victims(containers: list[Container]) -> Iterator[Container]:
    return iter(containers[1:])


@pytest.fixture(scope="module")
def router(helper: Container) -> Router:
    return Router(helper)


@pytest.fixture(scope="module")
def stream(backend: CrashBackend, router: Router) -> StreamPoller:
    """The table stream's event source mapping, one for the module: each test goes on where the last stopped."""
    return StreamPoller(backend.provisioned, invoke=router, retry_delay_seconds=0)


@pytest.fixture(scope="module")
def receiver(backend: CrashBackend) -> Iterator[CallbackReceiver]:
    import boto3
    from tf_retainer.store.vendor_callbacks import VendorCallbackStore

    started = CallbackReceiver(secret=secrets.token_urlsafe(24)).start()
    kms = boto3.session.Session(region_name=backend.provisioned.region).client("kms", endpoint_url=backend.endpoint_url)
    store = VendorCallbackStore(
        backend.provisioned.table_name, client=backend.dynamodb, kms=kms, key_id=backend.provisioned.callback_key_id
    )  # as the callback function has it: the secret sealed under the stack's callback key
    store.put(VENDOR, started.url, started.secret, now=datetime.now(UTC))
    backend.sqs.set_queue_attributes(
        QueueUrl=backend.provisioned.callback_queue_url, Attributes={"VisibilityTimeout": str(CALLBACK_VISIBILITY)}
    )
    yield started
    started.stop()


def outcome_events(backend: CrashBackend, lead_ids: set[str]) -> dict[str, list[str]]:
    """The event ids the subscriber queue received per lead (every copy), its messages taken."""
    url, found = backend.provisioned.events_queue_url, {lead_id: [] for lead_id in lead_ids}
    while messages := backend.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            detail = json.loads(message["Body"])["detail"]
            if detail["answer"]["lead_id"] in lead_ids:
                found[detail["answer"]["lead_id"]].append(detail["event_id"])
            backend.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def retained_at_intake(backend: CrashBackend, helper: Container) -> str:
    status, answer = helper.post(lead(make_web_cert_id(), lead_id=f"pub-{secrets.token_hex(6)}"), backend.vendor_key)
    assert status == 201, answer
    return str(answer["lead_id"])


def publish_killed(backend: CrashBackend, stream: StreamPoller, router: Router, victim: Container, *, after: bool):
    """Two outcomes on the stream; the publisher killed at the first PutEvents (applied or not); the
    stream's batch retried by another container until drained."""
    helper = router.target
    stream.drain()  # what came before: published
    leads = {retained_at_intake(backend, helper), retained_at_intake(backend, helper)}
    backend.gate.arm(PUT_EVENTS, nth=1, after=after)
    router.target = victim
    polling = threading.Thread(target=stream.poll_once)
    polling.start()
    backend.gate.wait_hit()
    victim.kill()
    backend.gate.release()
    polling.join(60)
    router.target = helper
    stream.drain()
    assert not stream._backlog and stream.given_up == 0, "the stream stalled"
    return leads


@pytest.mark.parametrize("after", [True, False], ids=["after-put-events", "before-put-events"])
def test_a_publisher_killed_at_put_events_publishes_each_outcome_once_after_deduplication(
    backend, helper, victims, stream, router, after
):
    leads = publish_killed(backend, stream, router, next(victims), after=after)

    copies = outcome_events(backend, leads)
    assert all(len(set(ids)) == 1 for ids in copies.values()), copies  # one event per outcome: one id
    # Killed after PutEvents: the first lead's event went out twice (the retried batch), under its id.
    assert sorted(len(ids) for ids in copies.values()) == ([1, 2] if after else [1, 1]), copies
    # And the stream goes on: a later outcome is published too.
    later = retained_at_intake(backend, helper)
    stream.drain()
    assert [len(ids) for ids in outcome_events(backend, {later}).values()] == [1]


def callback_job(backend: CrashBackend, helper: Container, stream: StreamPoller) -> tuple[str, list[dict[str, Any]]]:
    """A lead pending at intake and retained by the retry worker: its outcome's callback job, received."""
    cert_id = make_web_cert_id()
    backend.sim.script(cert_id, ["unavailable", "success"])
    status, answer = helper.post(lead(cert_id, lead_id=f"cb-{secrets.token_hex(6)}"), backend.vendor_key)
    assert status == 202, answer
    try:
        retry = backend.receive(1)
    except TimeoutError as missing:
        raise AssertionError(f"{missing}; the intake's log: {helper.log()}") from missing
    assert backend.poller(helper.invoke).process(retry) == []
    stream.drain()
    return str(answer["lead_id"]), callback_messages(backend, 1)


def callback_messages(backend: CrashBackend, count: int, timeout: float = REDELIVERY_TIMEOUT) -> list[dict[str, Any]]:
    url, found = backend.provisioned.callback_queue_url, []

    def more() -> bool:
        found.extend(backend.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))
        return len(found) >= count

    wait_for(more, f"{count} callback job(s)", timeout=timeout, interval=0.2)
    return found


def deliveries(receiver: CallbackReceiver, lead_id: str) -> list[tuple[str, int]]:
    return [
        (entry["event_id"], entry["answered"])
        for entry in receiver.received
        if str(entry["event_id"]).startswith(lead_id + "/")
    ]


def settle_callbacks(backend: CrashBackend, helper: Container, jobs: int) -> None:
    """The callback queue's event source mapping on ``helper`` until ``jobs`` jobs were done and none is left."""
    from local.poller import RetryPoller

    poller = RetryPoller(
        backend.provisioned,
        "CallbackFunction",
        queue_url=backend.provisioned.callback_queue_url,
        invoke=helper.invoke,
        sqs=backend.sqs,
    )
    done = 0
    while done < jobs:
        messages = callback_messages(backend, 1)
        assert poller.process(messages) == []
        done += len(messages)
    assert backend.queue_depth(backend.provisioned.callback_queue_url) == 0
    assert backend.queue_depth(backend.provisioned.callback_dlq_url) == 0


def test_a_callback_killed_while_the_vendor_holds_it_is_delivered_again_with_the_same_event_id(
    backend, helper, victims, stream, receiver
):
    receiver.script(SLOW_ANSWER, "200")
    lead_id, jobs = callback_job(backend, helper, stream)
    victim, arrived = next(victims), receiver.arrivals
    victim.send(("invoke", "CallbackFunction", backend.poller(helper.invoke).event(jobs)))
    wait_for(lambda: receiver.arrivals > arrived, "the callback at the vendor")
    victim.kill()

    settle_callbacks(backend, helper, jobs=1)  # the job, back after its visibility timeout

    wait_for(lambda: len(deliveries(receiver, lead_id)) == 2, "the slow answer recorded")
    delivered = deliveries(receiver, lead_id)
    assert len({event_id for event_id, _ in delivered}) == 1 and [status for _, status in delivered] == [200, 200]


def test_a_callback_killed_after_queueing_its_retry_reaches_the_vendor_under_one_event_id(
    backend, helper, victims, stream, receiver
):
    receiver.script("503", "200")
    lead_id, jobs = callback_job(backend, helper, stream)
    victim = next(victims)
    backend.gate.arm(SQS_SEND, after=True)  # the retry job is queued; the function dies before it returns
    victim.send(("invoke", "CallbackFunction", backend.poller(helper.invoke).event(jobs)))
    victim.held_at(backend.gate)
    victim.kill()
    backend.gate.release()

    settle_callbacks(backend, helper, jobs=2)  # the retry job, and the original back after its visibility

    delivered = deliveries(receiver, lead_id)
    assert len({event_id for event_id, _ in delivered}) == 1
    assert Counter(status for _, status in delivered) == Counter({503: 1, 200: 2}), delivered
