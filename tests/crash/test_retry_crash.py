"""A retry worker SIGKILLed mid-batch while its TrustedForm calls hang: SQS delivers the batch again after
the visibility timeout, the attempt lease turns the early redelivery (and the sweeper) away while the dead
worker's lease runs, and once it lapses each lead gets exactly one more effective attempt and ends retained.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from local.simulator import make_web_cert_id
from tests.support.crash import Container, CrashBackend, wait_for, wait_until
from tests.support.stack import lead

# Real waiting (a visibility timeout, then the dead worker's lease: until its invocation would have timed out,
# about a minute); one worker runs the module, whose containers and moto server are module fixtures.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crash-retry")]

# The hung calls' timeout: the victim must still be waiting on them when it is killed, a fraction of a
# second after they reach TrustedForm (1 s was overrun with three busy loops per core).
RETRY_TIMEOUT_SECONDS = 10.0
VISIBILITY_TIMEOUT = 3  # the template's 360 s, shortened: redelivery comes while the lease still holds
# The configured lease (retry_timeout * 2 + 30 s by default) shortened, but outlasting the redelivery (the
# visibility timeout after the kill) ten times over, so that it is still held when the redelivery is handled.
# The lease taken is longer still: until the invocation would have ended (the RetryFunction's Timeout).
LEASE_SECONDS = 10.0 * VISIBILITY_TIMEOUT
# Waits for a delivery: ten times the visibility timeout it waits out.
DELIVERY_TIMEOUT = 10.0 * VISIBILITY_TIMEOUT
BACKEND_SETTINGS = {
    "ATTEMPT_LEASE_SECONDS": str(LEASE_SECONDS),
    "RECEIVED_GRACE_SECONDS": "1",
    "PENDING_GRACE_SECONDS": "1",
    "RETRY_BASE_SECONDS": "1",
    "RETRY_CAP_SECONDS": "2",
    "RETRY_TIMEOUT_SECONDS": str(RETRY_TIMEOUT_SECONDS),
}
CONTAINERS = 2
LEADS = 3
SCHEDULED_EVENT = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}


def _receive_counts(messages: list[dict]) -> list[int]:
    return [int(message["Attributes"]["ApproximateReceiveCount"]) for message in messages]


def _lead_ids(messages: list[dict]) -> set[str]:
    return {json.loads(message["Body"])["lead_id"] for message in messages}


def test_a_retry_worker_killed_mid_batch_gives_one_effective_attempt_per_lead(
    backend: CrashBackend, containers: list[Container]
):
    helper, victim = containers
    poller = backend.poller(helper.invoke)

    # Three leads pending after a 503 at intake; their second call will hang, their third succeed.
    certs = [make_web_cert_id() for _ in range(LEADS)]
    leads: dict[str, str] = {}
    for cert_id in certs:
        backend.sim.script(cert_id, ["unavailable", "hang", "success"])
        status, answer = helper.post(lead(cert_id, lead_id=f"retry-crash-{cert_id[:12]}"), backend.vendor_key)
        assert status == 202 and answer["status"] == "pending", answer
        leads[answer["lead_id"]] = cert_id

    # The retry worker takes the batch: a lease on each lead, the calls in flight (hanging). Kill it.
    batch = backend.receive(LEADS)
    assert _lead_ids(batch) == set(leads) and _receive_counts(batch) == [1] * LEADS
    victim.send(("invoke", "RetryFunction", poller.event(batch)))
    for cert_id in certs:
        wait_for(
            lambda c=cert_id: [call["behaviour"] for call in backend.calls(c)] == ["unavailable", "hang"],
            f"the hanging call for {cert_id}",
        )
    leases = {lead_id: backend.lead_item(lead_id)["lease_until"] for lead_id in leads}
    victim.kill()
    for lead_id in leads:
        item = backend.lead_item(lead_id)
        assert item["status"] == "pending" and item["attempts"] == 1

    # The sweeper finds them overdue but leaves them: an attempt holds each (its lease).
    wait_until(max(datetime.fromisoformat(backend.lead_item(lead_id)["check_after"]) for lead_id in leads))
    report = helper.invoke("SweeperFunction", SCHEDULED_EVENT)
    assert report["recovered"] == [] and report["skipped"] == LEADS, report

    # SQS delivers the batch again after the visibility timeout; the lease turns it away: no call made,
    # every record reported failed, so the messages stay on the queue.
    redelivered = backend.receive(LEADS, timeout=DELIVERY_TIMEOUT)
    assert _lead_ids(redelivered) == set(leads) and _receive_counts(redelivered) == [2] * LEADS
    failed = poller.process(redelivered)
    assert sorted(failed) == sorted(message["MessageId"] for message in redelivered)
    for cert_id in certs:
        assert [call["status"] for call in backend.calls(cert_id)] == [503, None], f"leases until {leases}"
    assert {lead_id: backend.lead_item(lead_id)["lease_until"] for lead_id in leads} == leases  # still the dead one's

    # Once the dead worker's lease lapses, the next delivery makes the attempt, once per lead.
    wait_until(max(datetime.fromisoformat(until) for until in leases.values()))
    again = backend.receive(LEADS, timeout=DELIVERY_TIMEOUT)
    assert _lead_ids(again) == set(leads) and _receive_counts(again) == [3] * LEADS
    assert poller.process(again) == []
    assert backend.queue_depth() == 0
    assert backend.queue_depth(backend.provisioned.retry_dlq_url) == 0

    for lead_id, cert_id in leads.items():
        record = backend.reader.read_lead(lead_id)
        assert record is not None
        assert record.lead.status.value == "retained" and record.lead.attempts == 2
        assert [(event.type, event.actor) for event in record.history] == [
            ("received", "intake"),
            ("calling", "intake"),
            ("attempt", "intake"),
            ("pending", "intake"),
            ("calling", "retry"),  # the killed worker's call: its request on record, never answered
            ("calling", "retry"),
            ("attempt", "retry"),
            ("retained", "retry"),
        ]
        # Three calls: the intake's 503, the killed worker's hung call (never answered: no retain), the
        # retry's 200 - one successful retain. The killed call shows as a request without an answer.
        calls = backend.calls(cert_id)
        assert [call["status"] for call in calls] == [503, None, 200]
        assert [exchange["response"]["status"] for exchange in record.exchanges] == [503, 200]
        requested = [call["call_id"] for link in record.chain for call in json.loads(link.content).get("calls", [])]
        assert [call_id.split("/")[0] for call_id in requested] == ["1.1", "2.1", "2.1"]  # attempt 2, asked again
        answered = [exchange["call_id"] for exchange in record.exchanges]
        assert answered == [requested[0], requested[2]]  # the killed worker's request stays unanswered
    assert helper.invoke("SweeperFunction", SCHEDULED_EVENT)["overdue"] == 0
