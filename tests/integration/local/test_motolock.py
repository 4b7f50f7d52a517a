"""local/motolock.py: moto's adjustments are pinned to the moto they were written for, keep
TransactWriteItems' semantics (all-or-nothing, conditions, cancellation reasons with ALL_OLD) without
copying tables, answer a Query from its partition alone, and let an SQS long poll wait without holding
moto's lock."""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import motolock
from tests.support.moto_counts import count_candidates

TABLE = "motolock-test"
LARGE = "motolock-test-large"


def test_the_patches_are_pinned_to_the_installed_moto():
    problems = motolock.pin_mismatches()
    assert not problems, (
        "moto changed under local/motolock.py: check whether moto still copies tables in "
        "transact_write_items / waits in Queue.wait_for_messages / tracks every Item, adapt or drop the "
        "patch, then update PINNED_MOTO_VERSION and PINNED_SOURCES:\n  " + "\n  ".join(problems)
    )


def test_the_patches_are_applied():
    from moto.dynamodb.models import DynamoDBBackend

    motolock.serialise_moto()  # what local/backend.py calls for the tests and the local stack
    assert DynamoDBBackend.transact_write_items is motolock._transact_write_items


@pytest.fixture
def ddb() -> Iterator[Any]:
    motolock.serialise_moto()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for name in (TABLE, LARGE):
            create_table(client, name)
        client.create_table(
            TableName=TABLE + "-hash",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def fill(client: Any, start: int, stop: int, table: str = TABLE) -> None:
    for first in range(start, stop, 25):
        client.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"pk": {"S": f"LEAD#{n}"}, "sk": {"S": "LEAD"}, "n": {"N": str(n)}}}}
                    for n in range(first, min(stop, first + 25))
                ]
            }
        )


def everything(client: Any) -> list[dict[str, Any]]:
    items = []
    for table in (TABLE, TABLE + "-hash"):
        for page in client.get_paginator("scan").paginate(TableName=table):
            items.extend(page["Items"])
    return sorted(items, key=repr)


def stream_shard(table: str = TABLE) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"]["us-east-1"].get_table(table).stream_shard


def stream_records(table: str = TABLE) -> int:
    return len(stream_shard(table).items)


def writes(n: int, *, fail_last: bool = False, return_old: bool = True, table: str = TABLE) -> list[dict[str, Any]]:
    """Put a new item, update and delete existing ones, a hash-only table's put; a ConditionCheck last."""
    check: dict[str, Any] = {
        "TableName": table,
        "Key": {"pk": {"S": "LEAD#3"}, "sk": {"S": "LEAD"}},
        "ConditionExpression": "attribute_not_exists(pk)" if fail_last else "attribute_exists(pk)",
    }
    if return_old:
        check["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return [
        {"Put": {"TableName": table, "Item": {"pk": {"S": f"NEW#{n}"}, "sk": {"S": "LEAD"}}}},
        {"Put": {"TableName": table, "Item": {"pk": {"S": "LEAD#0"}, "sk": {"S": "LEAD"}, "n": {"N": "-1"}}}},
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "LEAD#1"}, "sk": {"S": "LEAD"}},
                "UpdateExpression": "SET n = n + :one, touched = :yes",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":yes": {"BOOL": True}},
            }
        },
        {"Delete": {"TableName": table, "Key": {"pk": {"S": "LEAD#2"}, "sk": {"S": "LEAD"}}}},
        {"Put": {"TableName": TABLE + "-hash", "Item": {"id": {"S": f"NEW#{n}"}}}},
        {"ConditionCheck": check},
    ]


def test_a_transaction_that_fails_a_condition_changes_nothing(ddb):
    fill(ddb, 0, 10)
    before, records = everything(ddb), stream_records()

    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=writes(1, fail_last=True))

    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    reasons = error["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None"] * 5 + ["ConditionalCheckFailed"]
    assert reasons[-1]["Item"] == {"pk": {"S": "LEAD#3"}, "sk": {"S": "LEAD"}, "n": {"N": "3"}}
    assert everything(ddb) == before
    assert stream_records() == records


def test_a_failed_condition_first_also_rolls_back_what_follows(ddb):
    fill(ddb, 0, 10)
    before = everything(ddb)
    items = writes(1)
    items.insert(
        0,
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "LEAD#9"}, "sk": {"S": "LEAD"}},
                "ConditionExpression": "n = :x",
                "ExpressionAttributeValues": {":x": {"N": "0"}},
            }
        },
    )
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=items)
    reasons = raised.value.response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["ConditionalCheckFailed"] + ["None"] * 6
    assert "Item" not in reasons[0]  # no ALL_OLD asked for
    assert everything(ddb) == before


def test_a_validation_error_mid_transaction_rolls_back_and_is_raised(ddb):
    fill(ddb, 0, 10)
    before = everything(ddb)
    items = writes(1)
    items.insert(3, {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "NEW#1"}, "sk": {"S": "LEAD"}}}})  # twice
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=items)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert everything(ddb) == before


def test_a_successful_transaction_writes_everything(ddb):
    fill(ddb, 0, 10)
    records = stream_records()
    ddb.transact_write_items(TransactItems=writes(1))

    def get(pk: str) -> dict[str, Any] | None:
        return ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "LEAD"}}).get("Item")

    assert get("NEW#1") == {"pk": {"S": "NEW#1"}, "sk": {"S": "LEAD"}}
    assert get("LEAD#0")["n"] == {"N": "-1"}
    assert get("LEAD#1")["n"] == {"N": "2"} and get("LEAD#1")["touched"] == {"BOOL": True}
    assert get("LEAD#2") is None
    assert ddb.get_item(TableName=TABLE + "-hash", Key={"id": {"S": "NEW#1"}})["Item"] == {"id": {"S": "NEW#1"}}
    assert stream_records() == records + 4
    # A later cancellation undoes only its own writes.
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=writes(2, fail_last=True))
    assert get("NEW#1") is not None and get("NEW#2") is None and get("LEAD#1")["n"] == {"N": "2"}


def _transactions(client: Any, n: int, table: str = TABLE) -> None:
    """A committed two-item transaction and a cancelled six-item one."""
    client.transact_write_items(TransactItems=writes(n, table=table)[:1] + writes(n, table=table)[-1:])
    with contextlib.suppress(ClientError):
        client.transact_write_items(TransactItems=writes(n + 10_000, fail_last=True, table=table))


def count_items_built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-element list counting the DynamoDB Items moto builds from now on: copying a table (deepcopy
    goes through ``Item.__new__``) builds one per stored item."""
    from moto.dynamodb.models.dynamo_type import Item

    built = [0]
    build = Item.__new__

    def counting(cls: type, *args: Any, **kwargs: Any) -> Any:
        built[0] += 1
        return build(cls, *args, **kwargs)

    monkeypatch.setattr(Item, "__new__", staticmethod(counting))
    return built


def items_built_by(built: list[int], work: Any) -> int:
    built[0] = 0
    work()
    return built[0]


def test_a_transaction_builds_the_items_it_writes_not_a_copy_of_the_table(ddb, monkeypatch):
    """moto deep-copied the table for every item of a transaction: its work grew with the table (the time
    it takes on a small and a large table is a `make bench` figure)."""
    fill(ddb, 0, 100)
    fill(ddb, 0, 2_000, table=LARGE)
    built = count_items_built(monkeypatch)
    small = [items_built_by(built, lambda n=n: _transactions(ddb, n, TABLE)) for n in range(3)]
    large = [items_built_by(built, lambda n=n: _transactions(ddb, n, LARGE)) for n in range(3)]
    assert small == large, f"Items built per pair of transactions: {small} at ~100 items, {large} at ~2,000"
    assert max(large) < 100  # fewer than even the small table holds: no table was copied

    # The count would see moto's own transaction: a copy of the 2,000-item table per item written.
    from moto.dynamodb.models import DynamoDBBackend

    monkeypatch.setattr(
        DynamoDBBackend,
        "transact_write_items",
        motolock._original("moto.dynamodb.models.DynamoDBBackend.transact_write_items"),
    )
    assert items_built_by(built, lambda: _transactions(ddb, 10, LARGE)) > 2_000


def test_transactions_retain_no_copy_of_the_table(ddb):
    tracemalloc.start()
    try:
        gc.collect()
        empty = tracemalloc.get_traced_memory()[0]
        fill(ddb, 0, 2_000)
        gc.collect()
        table_bytes = tracemalloc.get_traced_memory()[0] - empty
        for n in range(2):  # warm up (caches, parsers)
            _transactions(ddb, n)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(100, 120):  # 40 transactions, 20 of them cancelled
            _transactions(ddb, n)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # One copy of the table would be `table_bytes`; 40 transactions leave only the items they wrote.
    assert table_bytes > 1_000_000
    assert retained < table_bytes / 20, f"{retained} bytes retained by 40 transactions; the table is {table_bytes}"


def _history(client: Any, lead: int, events: int, table: str = TABLE) -> None:
    """A lead's partition as the store writes it: a state item and events, put out of order."""
    for n in reversed(range(events)):
        client.put_item(TableName=table, Item={"pk": {"S": f"LEAD#{lead}"}, "sk": {"S": f"EVENT#{n:03d}"}})
    client.put_item(TableName=table, Item={"pk": {"S": f"LEAD#{lead}"}, "sk": {"S": "STATE"}})


QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "LEAD#7"}}},
    {
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
        "ExpressionAttributeValues": {":pk": {"S": "LEAD#7"}, ":e": {"S": "EVENT#"}},
        "Limit": 4,
        "ExclusiveStartKey": {"pk": {"S": "LEAD#7"}, "sk": {"S": "EVENT#002"}},
    },
    {
        "KeyConditionExpression": "pk = :pk AND sk > :s",
        "ExpressionAttributeValues": {":pk": {"S": "LEAD#7"}, ":s": {"S": "EVENT#005"}},
        "ScanIndexForward": False,
    },
    {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "NO-SUCH-LEAD"}}},
]


def test_a_query_answers_as_moto_does_from_the_partition_alone(ddb, monkeypatch):
    from moto.dynamodb.models.table import Table

    for lead in (6, 7, 8):
        _history(ddb, lead, events=10)
    ddb.put_item(TableName=TABLE + "-hash", Item={"id": {"S": "one"}})
    hash_only = {"TableName": TABLE + "-hash", "KeyConditionExpression": "id = :id"}
    hash_only["ExpressionAttributeValues"] = {":id": {"S": "one"}}
    patched = [ddb.query(TableName=TABLE, **query) for query in QUERIES] + [ddb.query(**hash_only)]
    # moto's own Query (the originals recorded before patching), over the same table.
    monkeypatch.setattr(Table, "query", motolock._original("moto.dynamodb.models.table.Table.query"))
    monkeypatch.setattr(Table, "all_items", motolock._original("moto.dynamodb.models.table.Table.all_items"))
    unpatched = [ddb.query(TableName=TABLE, **query) for query in QUERIES] + [ddb.query(**hash_only)]

    def answer(out: dict[str, Any]) -> tuple[Any, ...]:
        return out["Items"], out["Count"], out.get("LastEvaluatedKey")

    assert [answer(out) for out in patched] == [answer(out) for out in unpatched]
    assert [item["sk"]["S"] for item in patched[0]["Items"]][:2] == ["EVENT#000", "EVENT#001"]
    assert patched[1]["LastEvaluatedKey"] == {"pk": {"S": "LEAD#7"}, "sk": {"S": "EVENT#006"}}


def test_an_index_query_answers_as_moto_does(ddb, monkeypatch):
    """A sparse index (only some items carry its key), paged and reversed: the same items, order and keys."""
    from moto.dynamodb.models.table import Table

    ddb.create_table(
        TableName="motolock-gsi",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "open", "due")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "open",
                "KeySchema": [
                    {"AttributeName": "open", "KeyType": "HASH"},
                    {"AttributeName": "due", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(60):
        item = {"pk": {"S": f"LEAD#{n:03d}"}, "sk": {"S": "STATE"}}
        if n % 3 == 0:  # a third are open, in two shards, some due at the same moment
            item |= {"open": {"S": f"OPEN#{n % 2}"}, "due": {"S": f"2026-11-22T06:{n % 7:02d}"}}
        ddb.put_item(TableName="motolock-gsi", Item=item)
    queries: list[dict[str, Any]] = [
        {"KeyConditionExpression": "#o = :s", "ExpressionAttributeValues": {":s": {"S": "OPEN#0"}}},
        {
            "KeyConditionExpression": "#o = :s AND due < :d",
            "ExpressionAttributeValues": {":s": {"S": "OPEN#1"}, ":d": {"S": "2026-11-22T06:04"}},
            "Limit": 3,
            "ScanIndexForward": False,
        },
        {"KeyConditionExpression": "#o = :s", "ExpressionAttributeValues": {":s": {"S": "OPEN#9"}}},
    ]

    def answers() -> list[Any]:
        out = []
        for query in queries:
            page = ddb.query(
                TableName="motolock-gsi", IndexName="open", ExpressionAttributeNames={"#o": "open"}, **query
            )
            out.append((page["Items"], page.get("LastEvaluatedKey")))
        return out

    patched = answers()
    monkeypatch.setattr(Table, "query", motolock._original("moto.dynamodb.models.table.Table.query"))
    monkeypatch.setattr(Table, "all_items", motolock._original("moto.dynamodb.models.table.Table.all_items"))
    assert patched == answers()
    assert len(patched[0][0]) == 10 and patched[1][1] is not None


def test_a_query_reads_its_partition_not_the_table(ddb, monkeypatch):
    """moto listed and sorted every item of the table for a Query (~65 ms a lead read at 6,000 items): the
    candidates a lead read goes through are its partition's items, on a table of 100 items as of 2,000 (the
    time a read takes on each is a `make bench` figure)."""
    from moto.dynamodb.models.table import Table

    fill(ddb, 0, 100)
    fill(ddb, 0, 2_000, table=LARGE)
    for table in (TABLE, LARGE):
        _history(ddb, 1_000_000, events=5, table=table)
    candidates = count_candidates(monkeypatch)

    def read(table: str) -> list[int]:
        candidates.clear()
        out = ddb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "LEAD#1000000"}},
            ConsistentRead=True,
        )
        assert out["Count"] == 6
        return list(candidates)

    assert read(TABLE) == read(LARGE) == [6]  # the state item and five events
    # The count would see moto's own Query: every item of the table a candidate.
    monkeypatch.setattr(Table, "query", motolock._original("moto.dynamodb.models.table.Table.query"))
    monkeypatch.setattr(Table, "all_items", motolock._original("moto.dynamodb.models.table.Table.all_items"))
    candidates = count_candidates(monkeypatch)
    assert read(LARGE) == [2_006]


def test_a_long_poll_does_not_hold_moto(monkeypatch):
    """While a ReceiveMessage waits for messages, other requests run: a message sent during the wait is what
    the waiting poll returns."""
    from moto.sqs.models import Queue

    motolock.serialise_moto()
    waiting = threading.Event()
    wait_for_messages = Queue.wait_for_messages

    def noting_the_wait(self: Any, timeout: int) -> None:
        waiting.set()
        wait_for_messages(self, timeout)

    monkeypatch.setattr(Queue, "wait_for_messages", noting_the_wait)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="motolock-long-poll")["QueueUrl"]
        polled: list[list[str]] = []

        def long_poll() -> None:
            answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
            polled.append([message["Body"] for message in answer.get("Messages", [])])

        poller = threading.Thread(target=long_poll)
        poller.start()
        assert waiting.wait(60), "the poll never waited for messages"
        sqs.list_queues()
        assert polled == [], "list_queues was answered only after the poll"  # nothing has ended the wait yet
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        poller.join(60)
        # Had the poll held moto for its wait, the send would have run once the 20 s were up, after the
        # poll had returned nothing.
        assert polled == [["hello"]]


# --------------------------------------------------------------------------- the table's stream


def streams() -> Any:
    from botocore.config import Config

    return boto3.client("dynamodbstreams", region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled"))


def iterator(client: Any, table: str = TABLE, kind: str = "TRIM_HORIZON", sequence: str | None = None) -> str:
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams().describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    extra = {"SequenceNumber": sequence} if sequence else {}
    return streams().get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind, **extra)["ShardIterator"]


def read_stream(client: Any) -> list[tuple[str, str]]:
    """(key, sequence number) of every record a reader from TRIM_HORIZON gets."""
    records = streams().get_records(ShardIterator=iterator(client))["Records"]
    return [(r["dynamodb"]["Keys"]["pk"]["S"], r["dynamodb"]["SequenceNumber"]) for r in records]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's clock as its stream records read it, and the stream patches': ``clock.later(hours=25)``
    moves both on from now."""
    from datetime import timedelta

    from moto.core.utils import utcnow
    from moto.dynamodb.models import table

    class Clock:
        offset = timedelta()

        def later(self, **delta: float) -> None:
            self.offset = timedelta(**delta)

        def now(self) -> Any:
            return utcnow() + self.offset

    moved = Clock()
    monkeypatch.setitem(motolock._stream_settings, "now", moved.now)
    monkeypatch.setattr(table, "utcnow", moved.now)
    return moved


def put(client: Any, key: str) -> None:
    client.put_item(TableName=TABLE, Item={"pk": {"S": key}, "sk": {"S": "LEAD"}})


def test_stream_records_older_than_the_retention_are_gone(ddb, clock):
    for n in range(3):
        put(ddb, f"OLD#{n}")
    before = read_stream(ddb)
    clock.later(hours=23)  # within DynamoDB's 24 hours: all kept
    put(ddb, "KEPT#0")
    assert [key for key, _ in read_stream(ddb)] == ["OLD#0", "OLD#1", "OLD#2", "KEPT#0"]
    clock.later(hours=25)
    put(ddb, "NEW#0")
    after = read_stream(ddb)
    # The first three records, 25 hours old, are trimmed; KEPT#0, written 2 hours ago, stays.
    assert [key for key, _ in after] == ["KEPT#0", "NEW#0"]
    # Sequence numbers go on where they were.
    assert [int(sequence) for _, sequence in after] == [int(before[-1][1]) + 1, int(before[-1][1]) + 2]
    assert stream_records() == 2


def test_a_read_from_a_trimmed_position_is_refused_as_dynamodb_does(ddb, clock):
    put(ddb, "OLD#0")
    first = read_stream(ddb)[0][1]
    clock.later(hours=25)
    put(ddb, "NEW#0")
    stale = iterator(ddb, kind="AT_SEQUENCE_NUMBER", sequence=first)
    with pytest.raises(ClientError) as refused:
        streams().get_records(ShardIterator=stale)
    assert refused.value.response["Error"]["Code"] == "TrimmedDataAccessException"


def test_a_shard_iterator_expires_after_15_minutes(ddb, clock):
    put(ddb, "LEAD#0")
    old = iterator(ddb)
    assert len(streams().get_records(ShardIterator=old)["Records"]) == 1  # usable at once
    clock.later(minutes=16)
    with pytest.raises(ClientError) as refused:
        streams().get_records(ShardIterator=old)
    assert refused.value.response["Error"]["Code"] == "ExpiredIteratorException"
    fresh = iterator(ddb)
    assert len(streams().get_records(ShardIterator=fresh)["Records"]) == 1


def test_trimmed_records_are_not_kept_in_memory(ddb, clock):
    from moto.dynamodb.models.table import StreamRecord

    for n in range(50):
        put(ddb, f"OLD#{n}")
    clock.later(hours=25)
    put(ddb, "NEW#0")
    gc.collect()
    live = gc.get_objects()
    assert sum(isinstance(o, motolock.PackedStreamRecord) for o in live) == 1
    assert not any(isinstance(o, StreamRecord) for o in live)  # each packed as it was added


def test_kept_stream_records_take_a_fraction_of_moto_s_memory_and_read_back_whole(ddb):
    """A lead's records are kept for the whole retention: packed, a stack holding 5 minutes of them stays
    small (issue 22's memory per lead), and a reader still gets every attribute of both images."""
    item = {"pk": {"S": "LEAD#0"}, "sk": {"S": "LEAD"}, "raw": {"B": bytes(range(256)) * 4}}
    item |= {f"field_{n}": {"S": f"value {n} " * 3} for n in range(40)}
    ddb.put_item(TableName=TABLE, Item=item)
    ddb.put_item(TableName=TABLE, Item=item | {"field_0": {"S": "changed"}})
    shard = stream_shard()
    unpacked = [record.to_json() for record in shard.items]
    assert deep_size(shard.items) < deep_size(unpacked) / 2
    records = streams().get_records(ShardIterator=iterator(ddb))["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    new, old = records[1]["dynamodb"]["NewImage"], records[1]["dynamodb"]["OldImage"]
    assert new["field_0"] == {"S": "changed"} and old["field_0"] == item["field_0"]
    assert old["raw"]["B"] == item["raw"]["B"] and len(new) == len(item)


def deep_size(root: object) -> int:
    """Bytes of ``root`` and every object it reaches (each counted once)."""
    seen: set[int] = set()
    total, todo = 0, [root]
    while todo:
        found = todo.pop()
        if id(found) in seen or isinstance(found, type):
            continue
        seen.add(id(found))
        total += sys.getsizeof(found)
        todo.extend(gc.get_referents(found))
    return total


def test_a_cancelled_transaction_after_a_trim_drops_only_its_own_records(ddb, clock):
    fill(ddb, 0, 10)
    clock.later(hours=25)
    put(ddb, "NEW#0")
    kept = read_stream(ddb)
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=writes(1, fail_last=True))
    assert read_stream(ddb) == kept
    put(ddb, "NEW#1")
    assert [key for key, _ in read_stream(ddb)] == ["NEW#0", "NEW#1"]
    assert int(read_stream(ddb)[1][1]) == int(kept[0][1]) + 1


def test_queue_attributes_are_answered_as_moto_answers_them():
    """GetQueueAttributes (all, and by name) gives what moto's own property gives, for a plain queue, one
    with a redrive policy and a FIFO queue under KMS, messages visible, in flight and delayed."""

    motolock.serialise_moto()
    moto_own = motolock._original("moto.sqs.models.Queue.attributes").fget
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="attrs-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        plain = sqs.create_queue(QueueName="attrs-plain")["QueueUrl"]
        redriven = sqs.create_queue(
            QueueName="attrs-redriven",
            Attributes={"RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "3"}}'},
        )["QueueUrl"]
        fifo = sqs.create_queue(
            QueueName="attrs.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", "KmsMasterKeyId": "alias/x"},
        )["QueueUrl"]
        for url in (plain, redriven):
            sqs.send_message(QueueUrl=url, MessageBody="visible")
            sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)
            sqs.send_message(QueueUrl=url, MessageBody="in flight")
            sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)
        sqs.send_message(QueueUrl=fifo, MessageBody="one", MessageGroupId="g")
        sqs.send_message(QueueUrl=fifo, MessageBody="one", MessageGroupId="g")  # the same content: deduplicated

        from moto.sqs.models import sqs_backends

        backend = sqs_backends["123456789012"]["us-east-1"]
        for name in ("attrs-plain", "attrs-redriven", "attrs.fifo", "attrs-dlq"):
            queue = backend.get_queue(name)
            assert dict(queue.attributes) == moto_own(queue), name
        every = sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]
        assert every["ApproximateNumberOfMessages"] == "1"
        assert every["ApproximateNumberOfMessagesDelayed"] == "1"
        assert every["ApproximateNumberOfMessagesNotVisible"] == "1"
        named = sqs.get_queue_attributes(QueueUrl=redriven, AttributeNames=["RedrivePolicy", "QueueArn"])
        assert set(named["Attributes"]) == {"RedrivePolicy", "QueueArn"}
        assert (
            sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessages"]
            == "1"
        )


def test_a_send_does_not_count_the_queue_s_messages(monkeypatch):
    """A SendMessage reads one attribute of its queue (content-based deduplication), not its message counts:
    a queue nobody reads does not make each send slower than the last."""
    from moto.sqs.models import Queue

    motolock.serialise_moto()
    counted: list[str] = []
    messages = Queue.messages

    def counting(self: Any) -> Any:
        counted.append(self.name)
        return messages.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(Queue, "messages", property(counting))
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="attrs-unread")["QueueUrl"]
        for n in range(20):
            sqs.send_message(QueueUrl=url, MessageBody=str(n))
        assert counted == []
        assert (
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
            == "20"
        )
