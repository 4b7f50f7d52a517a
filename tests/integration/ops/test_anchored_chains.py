"""The evidence anchors end to end, in process (moto): leads processed by the real handlers, their chain
entries anchored by AnchorFunction from the table's stream (as its event source mapping feeds it), then the
table rewritten as an insider with PutItem on `LEAD#…` could (issue 26, item 2): `tf-retainer evidence
verify` names the entry, exit 1; an untouched lead verifies, exit 0."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from tf_retainer.domain import anchors, chain
from tf_retainer.store import keys

from local.streams import ANCHOR_FUNCTION, StreamPoller
from tests.support.cli import run
from tests.support.stack import lead


def anchor_all(stack: Any) -> StreamPoller:
    """Run AnchorFunction over everything new on the table's stream (a fresh mapping reads it all)."""
    poller = StreamPoller(stack.provisioned, ANCHOR_FUNCTION, retry_delay_seconds=0)
    poller.drain()
    return poller


def verify(stack: Any, lead_id: str) -> tuple[int, dict[str, Any]]:
    anchored = [
        "--archive-bucket",
        stack.provisioned.archive_bucket,
        "--anchor-key-id",
        stack.provisioned.anchor_key_id,
    ]
    code, out, err = run(stack, *anchored, "--json", "evidence", "verify", lead_id)
    assert out, err
    return code, json.loads(out)


def entry_item(stack: Any, lead_id: str, seq: int) -> dict[str, Any]:
    key = {"pk": {"S": keys.lead_pk(lead_id)}, "sk": {"S": keys.entry_sk(seq)}}
    return stack.dynamodb.get_item(TableName=stack.provisioned.table_name, Key=key, ConsistentRead=True)["Item"]


def rewrite_entry(
    stack: Any, lead_id: str, seq: int, *, prev: str | None = None, shift: timedelta | None = None
) -> str:
    """Put entry ``seq`` again with other content (an extra detail), its hash recomputed, as a table writer
    can; ``prev`` relinks it, ``shift`` moves the time it names. Its new hash."""
    item = entry_item(stack, lead_id, seq)
    document = json.loads(chain.unpack(item["b"]["B"]))
    document["events"] = [
        *document.get("events", []),
        {"type": "note", "actor": "operator", "detail": {"forged": True}},
    ]
    if prev is not None:
        document["prev"] = prev
    if shift is not None:
        document["at"] = (datetime.fromisoformat(document["at"]) + shift).isoformat()
    content = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    digest = hashlib.sha256(content).digest()
    item.update(b={"B": chain.pack(content)}, h={"B": digest})
    stack.dynamodb.put_item(TableName=stack.provisioned.table_name, Item=item)
    return digest.hex()


@pytest.fixture
def posted(stack) -> tuple[str, int]:
    """A retained lead, its entries anchored: its id and its number of entries."""
    lead_id = stack.post(lead()).json()["lead_id"]
    poller = anchor_all(stack)
    assert poller.invocations >= 1 and poller.given_up == 0
    state = stack.reader.get_lead(lead_id)
    assert state is not None and state.applied >= 2
    return lead_id, state.applied


def test_an_untouched_lead_verifies_against_its_anchors(stack, posted):
    lead_id, entries = posted
    code, answer = verify(stack, lead_id)
    assert code == 0 and answer["ok"] is True
    assert answer["anchors"]["checked"] is True
    assert answer["anchors"]["anchored"] == list(range(1, entries + 1))
    assert answer["anchors"]["not_anchored_yet"] == [] and answer["anchors"]["problems"] == []
    # What verify read: the hour of the entries (and the next, if it has begun), a document or two.
    assert 1 <= answer["anchors"]["documents_read"] <= 4


def test_the_last_entry_rewritten_with_its_hash_recomputed_is_named(stack, posted):
    lead_id, last = posted
    stack.rewrite_state(lead_id, head=rewrite_entry(stack, lead_id, last))  # state and head follow it
    code, answer = verify(stack, lead_id)
    assert code == 1 and answer["broken_entry"] == last
    assert answer["why"].startswith(f"entry {last} was anchored with another hash")

    anchor_all(stack)  # the overwrite (a MODIFY on the stream) is anchored too: still named
    code, answer = verify(stack, lead_id)
    assert code == 1 and answer["broken_entry"] == last


def test_the_whole_chain_rewritten_consistently_is_named(stack, posted):
    """Every entry rewritten and relinked, the state's head following: the chain verifies link by link
    and the state agrees with it; the anchors hold the hashes first written."""
    lead_id, entries = posted
    prev = None
    for seq in range(1, entries + 1):
        prev = rewrite_entry(stack, lead_id, seq, prev=prev)
    stack.rewrite_state(lead_id, head=prev)
    code, answer = verify(stack, lead_id)
    assert code == 1 and answer["broken_entry"] == 1
    named = {problem["entry"] for problem in answer["anchors"]["problems"]}
    assert named == set(range(1, entries + 1))


def test_the_whole_chain_rewritten_with_times_moved_out_of_its_hours_is_named_once_the_overwrites_are_anchored(
    stack, posted
):
    """Moving every entry's time to hours whose anchors hold none of the lead hides the first writes from
    verify; the overwrites themselves are on the stream, and anchored under the hours they name."""
    lead_id, entries = posted
    prev = None
    for seq in range(1, entries + 1):
        prev = rewrite_entry(stack, lead_id, seq, prev=prev, shift=timedelta(hours=-5))
    stack.rewrite_state(lead_id, head=prev)
    anchor_all(stack)
    code, answer = verify(stack, lead_id)
    assert code == 1 and answer["broken_entry"] == 1
    assert "written over an existing entry" in answer["why"]


def test_the_last_entry_deleted_is_named(stack, posted):
    lead_id, last = posted
    key = {"pk": {"S": keys.lead_pk(lead_id)}, "sk": {"S": keys.entry_sk(last)}}
    stack.dynamodb.delete_item(TableName=stack.provisioned.table_name, Key=key)
    before = bytes(entry_item(stack, lead_id, last - 1)["h"]["B"]).hex()
    stack.rewrite_state(lead_id, applied=last - 1, head=before)  # the state points at the new last entry
    code, answer = verify(stack, lead_id)
    assert code == 1 and answer["broken_entry"] == last
    assert answer["why"] == f"entry {last} was anchored but is not in the table: deleted"


def test_a_lead_not_anchored_yet_verifies_and_says_so(stack, posted):
    lead_id = stack.post(lead()).json()["lead_id"]  # the anchoring function has not seen it yet
    code, answer = verify(stack, lead_id)
    assert code == 0 and answer["anchors"]["anchored"] == []
    assert answer["anchors"]["not_anchored_yet"] == list(range(1, stack.reader.get_lead(lead_id).applied + 1))


def test_an_anchor_document_is_authenticated_by_the_deployment_key(stack, posted):
    """A document under anchors/ whose MAC is not the anchor key's (written by anyone but AnchorFunction,
    whose role alone may make one) is named, exit 1, as soon as it mentions the lead."""
    from tf_retainer.aws.anchor_bucket import S3AnchorBucket

    lead_id, last = posted
    bucket = S3AnchorBucket(boto3.client("s3"), stack.provisioned.archive_bucket)
    hour = anchors.hour_of(datetime.now(UTC))
    forged = anchors.document(hour, [anchors.Anchored(lead_id, last + 1, "00" * 32)])
    bucket.put(hour, forged, hashlib.sha256(b"not the key").digest())
    code, answer = verify(stack, lead_id)
    assert code == 1 and "is not authentic" in answer["why"]


def test_an_anchor_put_again_under_its_name_is_not_authentic_and_the_first_start_stands(stack, posted):
    """Object Lock keeps every version, but a plain GET reads the latest: a document put again under an
    existing name (with a MAC the anchor key made) no longer matches its content-addressed name, and the
    record of when anchoring began is read in its first version."""
    from tf_retainer.aws.anchor_bucket import STARTED, encode, hour_prefix
    from tf_retainer.aws.kms_mac import KmsMac

    lead_id, last = posted
    s3, bucket = boto3.client("s3"), stack.provisioned.archive_bucket
    mac = KmsMac(boto3.client("kms"), stack.provisioned.anchor_key_id)
    since = verify(stack, lead_id)[1]["anchors"]["anchoring_since"]

    later = anchors.started_document(datetime.now(UTC) + timedelta(days=1))
    s3.put_object(Bucket=bucket, Key=STARTED, Body=encode(later, mac.generate(anchors.mac_message(later))))
    code, answer = verify(stack, lead_id)
    assert code == 0 and answer["anchors"]["anchoring_since"] == since

    hour = answer["anchors"]["hours_read"][0]
    (listed,) = s3.list_objects_v2(Bucket=bucket, Prefix=hour_prefix(hour))["Contents"]
    forged = anchors.document(hour, [anchors.Anchored(lead_id, seq, "00" * 32) for seq in range(1, last + 1)])
    s3.put_object(Bucket=bucket, Key=listed["Key"], Body=encode(forged, mac.generate(anchors.mac_message(forged))))
    code, answer = verify(stack, lead_id)
    assert code == 1 and "is not authentic" in answer["why"]


def test_a_batch_that_cannot_be_anchored_is_retried_then_reported_to_the_anchor_failure_queue(stack):
    """As its event source mapping does: the template's batch size (AnchorBatchSize), each failing record
    retried MaximumRetryAttempts times, then a pointer to it on AnchorFailureQueue (alarmed), not on the
    publisher's queue."""
    stack.post(lead())

    def kms_down(function: str, event: dict[str, Any]) -> Any:
        assert function == ANCHOR_FUNCTION and event["Records"]
        raise RuntimeError("KMS unavailable")

    poller = StreamPoller(stack.provisioned, ANCHOR_FUNCTION, invoke=kms_down, retry_delay_seconds=0)
    assert (poller.batch_size, poller.max_retries) == (100, 50)
    assert poller.failure_queue_url == stack.provisioned.anchor_failure_queue_url != ""
    poller.drain(rounds=1000)
    assert poller.given_up >= 2  # the lead's entries: each given up on, none dropped silently
    out = stack.sqs.receive_message(QueueUrl=stack.provisioned.anchor_failure_queue_url, MaxNumberOfMessages=10)
    pointers = [json.loads(message["Body"]) for message in out.get("Messages", [])]
    assert len(pointers) == poller.given_up
    assert all(p["requestContext"]["functionArn"] == ANCHOR_FUNCTION for p in pointers)
    published = stack.sqs.receive_message(QueueUrl=stack.provisioned.publish_failure_queue_url)
    assert not published.get("Messages")
