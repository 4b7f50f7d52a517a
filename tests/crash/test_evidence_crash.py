"""The HoldFunction and the ArchiverFunction SIGKILLed at their writes (the moto gate holds the write, applied
or not), then run again, as the next scheduled run would: it completes, nothing is lost, and what the kill
made happen twice does no harm.

HoldFunction, for a lead newly matching a consumer hold: its history event, then the hold's member and
count (one transaction), then each of the lead's items taken out of TTL, then the hold marked applied.
ArchiverFunction, for a day's final leads: the part written to S3, then each lead marked archived (and its
items' expiry brought forward).
"""

from __future__ import annotations

import gzip
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.simulator import make_web_cert_id
from tests.support.crash import (
    PUT_ITEM,
    S3_PUT_OBJECT,
    TRANSACT_WRITE,
    UPDATE_ITEM,
    Container,
    CrashBackend,
)
from tests.support.stack import lead

BACKEND_SETTINGS = {"ARCHIVE_AFTER_DAYS": "1", "ARCHIVE_GRACE_DAYS": "1"}
HOLD_KILLS = [
    ("history-event", PUT_ITEM, 1, True),  # hold_set in the lead's history; no member yet
    ("member", TRANSACT_WRITE, 1, True),  # the member and the hold's count; no item held yet
    ("first-item", UPDATE_ITEM, 1, True),  # one item out of TTL
    ("an-item-unapplied", UPDATE_ITEM, 2, False),
]
ARCHIVE_KILLS = [
    ("part-written", S3_PUT_OBJECT, 1, True),  # the object in S3, no lead marked
    ("part-unwritten", S3_PUT_OBJECT, 1, False),
    ("first-lead-marked", UPDATE_ITEM, 1, True),  # one lead marked archived, its items' expiry untouched
    ("early-expiry-unapplied", UPDATE_ITEM, 2, False),
]
CONTAINERS = 1 + len(HOLD_KILLS) + len(ARCHIVE_KILLS)
SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crash-evidence")]


@pytest.fixture(scope="module")
def helper(containers: list[Container]) -> Container:
    return containers[0]


@pytest.fixture(scope="module")
def victims(containers: list[Container]) -> Iterator[Container]:
    return iter(containers[1:])


Kill = tuple[str, str, int, bool]  # (name, the write's X-Amz-Target, which one, after moto applied it)


def killed_at(backend: CrashBackend, victim: Container, task: tuple[Any, ...], kill: Kill) -> None:
    """Run ``task`` in ``victim`` and SIGKILL it at the kill point's write."""
    _, target, nth, after = kill
    backend.gate.arm(target, nth=nth, after=after)
    victim.send(task)
    victim.held_at(backend.gate)
    victim.kill()
    backend.gate.release()


# ----------------------------------------------------------------------------------------- legal holds


@pytest.fixture
def consumer_hold(backend: CrashBackend, helper: Container) -> Iterator[tuple[Any, str, str]]:
    """A retained lead of a consumer of its own, and an active hold on that consumer's email (released
    afterwards, so the next test's run applies its own hold only)."""
    from tf_retainer.domain.contacts import lead_fingerprints
    from tf_retainer.evidence.legal_hold import consumer_hold
    from tf_retainer.store.legal_holds import HoldStore

    email = f"held-{secrets.token_hex(4)}@example.com"
    body = {**lead(make_web_cert_id(), lead_id=f"hold-{secrets.token_hex(6)}"), "email": email}
    status, answer = helper.post(body, backend.vendor_key)
    assert status == 201, answer
    store = HoldStore(backend.provisioned.table_name, client=backend.dynamodb)
    hold = consumer_hold(
        backend.index,
        kind="email",
        fingerprints=[lead_fingerprints(email, None)["email"]],
        reason="crash test",
        actor="tester",
        now=datetime.now(UTC),
    )
    store.put_hold(hold)
    yield store, hold.hold_id, str(answer["lead_id"])
    store.release(hold.hold_id, actor="tester", reason=None, now=datetime.now(UTC), ttl=0)


@pytest.mark.parametrize("kill", HOLD_KILLS, ids=[kill[0] for kill in HOLD_KILLS])
def test_a_hold_run_killed_at_a_write_is_completed_by_the_next_run(backend, helper, victims, consumer_hold, kill):
    store, hold_id, lead_id = consumer_hold
    killed_at(backend, next(victims), ("invoke", "HoldFunction", SCHEDULED), kill)

    helper.invoke("HoldFunction", SCHEDULED)

    [member] = store.members(hold_id)
    assert member.lead_id == lead_id and member.swept_at is not None
    items = store.lead_items(member)
    assert items and all("ttl" not in item and hold_id in item.get("holds", set()) for item in items), items
    hold = store.get_hold(hold_id)
    assert hold is not None and hold.applied_at is not None
    assert hold.leads == 1, "the hold's count of leads covered"
    record = backend.reader.read_lead(lead_id)
    assert record is not None
    hold_events = [event for event in record.history if event.type == "hold_set"]
    # The kill between the history event and the member repeats the event; no other kill does.
    assert len(hold_events) == (2 if kill[0] == "history-event" else 1)


# ----------------------------------------------------------------------------------------- the archive


def archived_day(backend: CrashBackend, helper: Container, days_ago: int) -> tuple[str, list[str]]:
    """Two leads received ``days_ago`` days ago (a day no other test uses), retained: (the day, their ids)."""
    at = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    lead_ids = []
    for _ in range(2):
        body = lead(make_web_cert_id(), lead_id=f"arch-{secrets.token_hex(6)}")
        status, answer = helper.post(body, backend.vendor_key, at=at)
        assert status == 201, answer
        lead_ids.append(str(answer["lead_id"]))
    return at.date().isoformat(), lead_ids


def archived_record(backend: CrashBackend, uri: str, lead_id: str) -> dict[str, Any] | None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3 = backend_client(backend, "s3")
    body = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return next((r for r in map(json.loads, body.splitlines()) if r["lead_id"] == lead_id), None)


def backend_client(backend: CrashBackend, service: str) -> Any:
    import boto3

    return boto3.session.Session(region_name="us-east-1").client(service, endpoint_url=backend.endpoint_url)


@pytest.mark.parametrize("kill", ARCHIVE_KILLS, ids=[kill[0] for kill in ARCHIVE_KILLS])
def test_an_archive_run_killed_at_a_write_is_completed_by_the_next_run(backend, helper, victims, kill):
    day, lead_ids = archived_day(backend, helper, days_ago=3 + ARCHIVE_KILLS.index(kill))
    event = {"days": [day]}
    killed_at(backend, next(victims), ("invoke", "ArchiverFunction", event), kill)

    result = helper.invoke("ArchiverFunction", event)

    assert result["complete"] and result["not_final"] == 0
    marked_first = kill[0] == "first-lead-marked" or kill[0] == "early-expiry-unapplied"
    assert result["already_archived"] == (1 if marked_first else 0), result
    for lead_id in lead_ids:
        state = backend.lead_item(lead_id)
        assert state is not None and state["archived_to"], f"{lead_id} not archived"
        record = archived_record(backend, state["archived_to"], lead_id)
        assert record is not None and record["state"]["status"] == "retained", "its object holds its evidence"
        assert backend.reader.read_lead(lead_id) is not None  # the table still has it whole
    s3 = backend_client(backend, "s3")
    listed = s3.list_objects_v2(Bucket=backend.provisioned.archive_bucket, Prefix="evidence/")
    parts = [o["Key"] for o in listed.get("Contents", []) if f"date={day}/" in o["Key"]]
    # A rerun writes the same part again (found written), or one for the leads not yet marked.
    assert len(parts) == (2 if marked_first else 1), parts
