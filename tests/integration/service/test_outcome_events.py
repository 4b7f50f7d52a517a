"""Outcome events: every final outcome and recovery of a lead is published once on the stack's bus, from
the table's stream (PublisherFunction, driven as Lambda's DynamoDB event source mapping would), and reaches
the template's example subscriber queue: the same answer the vendor got, never contact details or keys."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tf_retainer.store import keys

from local.functions import invoke
from local.poller import RetryPoller
from local.simulator import make_web_cert_id
from local.streams import StreamPoller
from tests.support.stack import EMAIL, PHONE, TF_API_KEY, VENDOR, lead


@pytest.fixture
def publisher(stack) -> StreamPoller:
    return StreamPoller(stack.provisioned, retry_delay_seconds=0)


def published(stack, publisher: StreamPoller) -> list[dict[str, Any]]:
    """Run the publisher over what the stream holds, then take every event the subscriber queue got."""
    publisher.drain()
    events = []
    while True:
        out = stack.sqs.receive_message(QueueUrl=stack.provisioned.events_queue_url, MaxNumberOfMessages=10)
        if not out.get("Messages"):
            return events
        for message in out["Messages"]:
            events.append(json.loads(message["Body"]))
            stack.sqs.delete_message(
                QueueUrl=stack.provisioned.events_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


def test_a_retained_lead_is_one_event_with_the_vendors_answer_and_no_contact_details(stack, publisher):
    posted = stack.post(lead(lead_id="crm-1")).json()
    [event] = published(stack, publisher)
    assert (event["source"], event["detail-type"]) == ("tf-retainer", "Lead Retained")
    detail = event["detail"]
    view = stack.get(posted["lead_id"]).json()  # what the vendor reads: the event says the same
    assert {name: view[name] for name in detail["answer"]} == detail["answer"]
    assert detail["answer"]["status"] == "retained" and detail["answer"]["lead_id"] == posted["lead_id"]
    assert detail["vendor"] == VENDOR and detail["answer"]["vendor_lead_id"] == "crm-1"
    assert detail["certificate"]["cert_id"] == posted["cert_id"]
    assert detail["jornaya"] is None  # no LeadiD token sent
    assert detail["event_id"].startswith(posted["lead_id"] + "/ENTRY#")
    # Ids (hex, UUIDs) and times are digits that change from run to run: a "555" in one is not the phone.
    body = re.sub(r"\d{4}-\d\d-\d\dt[\d:.]+z?|[0-9a-f-]{20,}", "", json.dumps(event).lower())
    for secret in ("jane.doe", "example.com", "555", "1212", TF_API_KEY, stack.vendor_key.lower(), "match_lead"):
        assert secret not in body


def test_a_lead_without_a_certificate_is_an_event_with_a_null_certificate_naming_its_token(screened, publisher):
    """A lead kept on its LeadiD token alone (and one refused on its audit): ``certificate`` is null, not an
    object with no facts, and the answer names the record it is kept on."""
    import uuid

    from tests.support.screening import publish_rules

    publish_rules(screened.provisioned.table_name, consent_records={"required": "either"})
    kept_token, red_token = str(uuid.uuid4()).upper(), str(uuid.uuid4()).upper()
    screened.screen_sims.jornaya.script(red_token, disclosure="mismatch")  # red under the default audit profile
    kept = screened.post({"email": EMAIL, "phone": PHONE, "universal_leadid": kept_token}).json()
    red = screened.post({"email": EMAIL, "phone": PHONE, "universal_leadid": red_token}).json()
    assert (kept["status"], red["reason"]) == ("retained", "consent_record_missing"), (kept, red)
    events = {event["detail"]["answer"]["lead_id"]: event for event in published(screened, publisher)}
    retained, rejected = events[kept["lead_id"]], events[red["lead_id"]]
    assert retained["detail-type"] == "Lead Retained" and retained["detail"]["certificate"] is None
    answer = retained["detail"]["answer"]
    assert answer["kept_on"] == ["jornaya"] and answer["leadid_token"] == kept_token and "cert_id" not in answer
    assert rejected["detail-type"] == "Lead Rejected" and rejected["detail"]["certificate"] is None
    assert rejected["detail"]["answer"]["leadid_token"] == red_token and "kept_on" not in rejected["detail"]["answer"]
    # Jornaya's audit, as the call gate reports it: what vouched for the kept token, what failed the other.
    vouched, failed = retained["detail"]["jornaya"], rejected["detail"]["jornaya"]
    assert vouched["token"] == kept_token and failed["token"] == red_token
    assert vouched["audit"]["answered"] and vouched["audit"]["authentic"] is True
    assert vouched["audit"]["result"] in ("green", "yellow") and failed["audit"]["result"] == "red"
    assert failed["audit"]["failing"] and failed["audit"]["call_id"]
    assert screened.sim.requests == []  # TrustedForm never asked


def test_nothing_is_published_by_the_writer_itself_and_no_event_for_what_was_never_stored(stack, publisher):
    stack.post(lead())  # retained: the outcome is in the table, the event only in the stream so far
    assert stack.post({"trustedform_cert_url": "https://example.com/nope"}).status == 422  # never stored
    assert stack.sqs.receive_message(QueueUrl=stack.provisioned.events_queue_url).get("Messages") is None
    assert [event["detail-type"] for event in published(stack, publisher)] == ["Lead Retained"]


def test_a_rejected_certificate_is_a_rejected_event_with_its_reason(stack, publisher):
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["not_found"])
    posted = stack.post(lead(cert_id)).json()
    [event] = published(stack, publisher)
    assert event["detail-type"] == "Lead Rejected"
    assert event["detail"]["answer"]["reason"] == posted["reason"]


def test_pending_then_retained_through_duplicate_deliveries_is_one_event(stack, publisher):
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", "success"])
    posted = stack.post(lead(cert_id)).json()
    assert posted["status"] == "pending"
    assert published(stack, publisher) == []  # pending is not an outcome
    [message] = stack.next_retry_messages()
    poller = RetryPoller(stack.provisioned, wait_seconds=1)
    invoke("RetryFunction", poller.event([message, dict(message, MessageId="again")]))
    invoke("RetryFunction", poller.event([message]))
    events = published(stack, publisher)
    assert [(event["detail-type"], event["detail"]["answer"]["lead_id"]) for event in events] == [
        ("Lead Retained", posted["lead_id"])
    ]


def test_a_redelivered_stream_record_carries_the_same_event_id(stack, publisher):
    stack.post(lead())
    [first] = published(stack, publisher)
    again = StreamPoller(stack.provisioned, retry_delay_seconds=0)  # a new reader from TRIM_HORIZON
    [second] = published(stack, again)
    assert first["detail"]["event_id"] == second["detail"]["event_id"]


def test_an_overdue_lead_handed_back_by_the_sweeper_is_a_recovered_event(stack, publisher):
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable"])
    posted = stack.post(lead(cert_id)).json()
    overdue = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    stack.rewrite_state(posted["lead_id"], check_after=overdue, next_attempt_at=overdue)
    assert invoke("SweeperFunction", {})["recovered"] == [posted["lead_id"]]
    [event] = published(stack, publisher)
    assert event["detail-type"] == "Lead Recovered"
    assert event["detail"]["actor"] == "sweeper" and event["detail"]["answer"]["status"] == "pending"


def test_a_publish_that_fails_is_retried_then_handed_to_the_failure_queue(stack, monkeypatch):
    stack.post(lead())
    stack.post(lead())
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
    from tf_retainer import wiring

    wiring.reset()
    publisher = StreamPoller(stack.provisioned, retry_delay_seconds=0)
    publisher.max_retries = 2
    publisher.drain()
    assert publisher.given_up == 2  # each record: 1 try + 2 retries, then its pointer is kept
    out = stack.sqs.receive_message(QueueUrl=stack.provisioned.publish_failure_queue_url, MaxNumberOfMessages=10)
    pointers = [json.loads(message["Body"])["DDBStreamBatchInfo"] for message in out["Messages"]]
    assert len(pointers) == 2 and all(pointer["streamArn"] == publisher.stream_arn for pointer in pointers)


def test_events_tail_prints_each_event_once_as_a_json_line(stack, publisher):
    import io

    from tf_retainer_ops import cli

    first, second = stack.post(lead()).json(), stack.post(lead()).json()
    publisher.drain()
    target = ["--table", stack.provisioned.table_name, "--events-queue-url", stack.provisioned.events_queue_url]
    out, err = io.StringIO(), io.StringIO()
    assert cli.main([*target, "events", "tail"], out=out, err=err) == 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sorted(event["detail"]["answer"]["lead_id"] for event in events) == sorted(
        [first["lead_id"], second["lead_id"]]
    )
    assert err.getvalue().strip() == "2 event(s)"
    again = io.StringIO()
    assert cli.main([*target, "events", "tail"], out=again, err=io.StringIO()) == 0
    assert again.getvalue() == ""  # taken off the queue once printed


def test_only_an_entry_that_holds_the_lead_is_marked_for_publishing(stack):
    """Issue 21: an entry marked for publishing must make an event (built from the lead it holds). An
    entry that changes nothing else (an operator's note, an overtaken call's evidence, a requeue written
    as history) is never marked, whatever the type of its events: the publisher could not build its event
    and the stream behind it would stall."""
    from datetime import UTC, datetime

    from tf_retainer.domain.lead import Event
    from tf_retainer.events.outcomes import DETAIL_TYPES, is_published, outcome_event
    from tf_retainer.store.codec import deserialize
    from tf_retainer.store.stream import published

    lead_id = stack.post(lead()).json()["lead_id"]
    for event_type in DETAIL_TYPES:
        note = Event(event_type, "operator", {"note": "history only"})
        stack.writer.add_history(stack.reader.get_lead(lead_id), [note], now=datetime.now(UTC))
    entries = [
        deserialize(item)
        for item in stack.dynamodb.query(
            TableName=stack.provisioned.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
            ExpressionAttributeValues={":pk": {"S": keys.lead_pk(lead_id)}, ":e": {"S": keys.ENTRY_PREFIX}},
        )["Items"]
    ]
    marked = [entry for entry in entries if is_published(published(entry))]
    assert [entry["o"] for entry in marked] == ["retained"]  # the outcome's own entry, nothing after it
    for entry in marked:  # and every marked entry makes its event
        assert outcome_event(published(entry)).detail["answer"]["lead_id"] == lead_id


def test_a_batch_the_stack_s_stop_ended_is_neither_a_failure_nor_a_retry(stack, caplog):
    """Stopping the local stack ends the invocations in flight (WorkerPool.interrupt): the publisher's batch
    is not logged as the function failing, nor counted against its record's retries."""
    import logging

    from local.functions import STOPPING, FunctionError

    def stopping(function: str, event: dict[str, Any]) -> Any:
        raise FunctionError("the local stack is stopping", STOPPING)

    stack.post(lead())
    poller = StreamPoller(stack.provisioned, invoke=stopping, retry_delay_seconds=0)
    with caplog.at_level(logging.INFO, logger="tf_retainer.local"):
        assert poller.poll_once() is False
    assert "raised" not in caplog.text and "ended by the stack stopping" in caplog.text
    assert poller.given_up == 0 and not poller._retries
