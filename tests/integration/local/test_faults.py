"""local/faults.py: the fault mode answers the functions' requests as DynamoDB does when it conflicts or
throttles (so the store's own handling sees real errors), applies a write and loses its answer, answers an
index as it stood a lag ago, kills the worker that sent a write before or after moto applies it, and leaves
everyone else's requests alone.
The retry poller hands a duplicated message to two invocations and deletes it if either succeeded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from tf_retainer.store.conflicts import TRANSIENT_CODES, is_conflict, retry_conflicts

from local.fault_plan import API_FUNCTIONS, KILLABLE
from local.faults import FaultLayer, FaultPlan
from local.poller import RetryPoller

# One server for the module, a table per test (an in-process mock_aws elsewhere may reset moto's backends).
pytestmark = pytest.mark.xdist_group("faults")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ThreadedMotoServer, int]]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    yield moto, moto.get_host_and_port()[1]
    moto.stop()


def client(port: int, *, function: str | None = "tfw-4242", attempts: int = 1) -> Any:
    """A DynamoDB client as a worker's (its User-Agent names it) or, ``function=None``, anyone else's."""
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts}, user_agent_appid=function)
    return boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", config=config)


@pytest.fixture
def table(server: tuple[ThreadedMotoServer, int]) -> str:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    client(server[1], function=None).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi2pk", "gsi2sk")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi2",
                "KeySchema": [
                    {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def layer(server: tuple[ThreadedMotoServer, int]) -> Iterator[Any]:
    """Install a layer with a plan on the module's server (``layer(plan, **kwargs)``), removed after the test."""
    installed: list[FaultLayer] = []

    def install(plan: FaultPlan, **kwargs: Any) -> FaultLayer:
        installed.append(FaultLayer(plan, server[1], **kwargs).install())
        return installed[-1]

    yield install
    for one in installed:
        one.uninstall()


def item(key: str, **attrs: str) -> dict[str, Any]:
    return {"pk": {"S": key}, "sk": {"S": "STATE"}, **{name: {"S": value} for name, value in attrs.items()}}


def open_leads(port: int, table: str) -> list[str]:
    out = client(port, function=None).query(
        TableName=table,
        IndexName="gsi2",
        KeyConditionExpression="gsi2pk = :open",
        ExpressionAttributeValues={":open": {"S": "OPEN"}},
    )
    return [found["pk"]["S"] for found in out["Items"]]


def test_the_plan_reads_every_fault_and_refuses_what_it_cannot_read():
    plan = FaultPlan.parse("conflict:0.05, throttle:0.1,duplicate:0.2,stale-index:1500ms,kill:0.01,seed:7")
    assert (plan.conflict, plan.throttle, plan.duplicate, plan.stale_index, plan.kill, plan.seed) == (
        0.05,
        0.1,
        0.2,
        1.5,
        0.01,
        7,
    )
    assert plan.kill_functions == KILLABLE and not plan.kill_functions & API_FUNCTIONS
    assert FaultPlan.parse("kill-functions:RetryFunction+PublisherFunction").kill_functions == {
        "RetryFunction",
        "PublisherFunction",
    }
    assert FaultPlan.parse("kill-functions:all").kill_functions == KILLABLE | API_FUNCTIONS
    # "all" is every function of the template: a new one is not left out of the soak's kills unnoticed.
    from local.provision import function_logical_ids

    assert set(function_logical_ids()) == KILLABLE | API_FUNCTIONS
    assert FaultPlan.parse("stale-index:2s").stale_index == 2.0 and not FaultPlan.parse("").active
    assert FaultPlan.parse("lost-answer:0.02").lost_answer == 0.02
    for bad in ("conflict:2", "flood:0.1", "throttle:lots"):
        with pytest.raises(ValueError, match=bad.split(":")[0]):
            FaultPlan.parse(bad)


def test_a_conflict_is_dynamodbs_own_answer_and_only_a_functions_request_gets_one(server, table, layer):
    port = server[1]
    layer(FaultPlan(conflict=1.0))
    worker = client(port)
    with pytest.raises(ClientError) as single:
        worker.put_item(TableName=table, Item=item("a"))
    assert single.value.response["Error"]["Code"] == "TransactionConflictException" and is_conflict(single.value)
    with pytest.raises(ClientError) as cancelled:
        worker.transact_write_items(
            TransactItems=[{"Put": {"TableName": table, "Item": item(key)}} for key in ("b", "c", "d")]
        )
    codes = [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]
    assert sorted(codes) == ["None", "None", "TransactionConflict"] and is_conflict(cancelled.value)
    # The store's own retries see it (and give up after theirs: every write conflicts here).
    with pytest.raises(ClientError):
        retry_conflicts(lambda: worker.put_item(TableName=table, Item=item("e")), sleep=lambda _: None)
    # Nothing was applied; a read is no write; anyone else's write goes through.
    assert "Item" not in worker.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "STATE"}})
    client(port, function=None).put_item(TableName=table, Item=item("f"))


def test_throttling_is_retried_by_botocore_then_reaches_the_store_as_a_transient_code(server, table, layer):
    port = server[1]
    faults = layer(FaultPlan(throttle=1.0))
    with pytest.raises(ClientError) as throttled:
        client(port, attempts=2).get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "STATE"}})
    assert throttled.value.response["Error"]["Code"] in TRANSIENT_CODES
    assert throttled.value.response["ResponseMetadata"]["RetryAttempts"] == 1  # botocore took it for throttling
    assert sum(faults.injected.values()) == 2


def test_an_index_answers_as_the_items_stood_a_lag_ago(server, table, layer):
    port, clock = server[1], Clock()
    layer(FaultPlan(stale_index=5.0), clock=clock)
    writer = client(port, function=None)
    writer.put_item(TableName=table, Item=item("old", gsi2pk="OPEN", gsi2sk="1"))
    clock.now += 6
    writer.put_item(TableName=table, Item=item("new", gsi2pk="OPEN", gsi2sk="2"))  # created within the lag
    writer.update_item(  # taken out of the index within the lag: the index still has it
        TableName=table,
        Key={"pk": {"S": "old"}, "sk": {"S": "STATE"}},
        UpdateExpression="REMOVE gsi2pk, gsi2sk",
    )
    assert open_leads(port, table) == ["old"]
    # The table itself is exact.
    assert "gsi2pk" not in writer.get_item(TableName=table, Key={"pk": {"S": "old"}, "sk": {"S": "STATE"}})["Item"]
    clock.now += 5
    assert open_leads(port, table) == ["new"]


@pytest.mark.parametrize("seed", range(4))
def test_a_kill_is_the_writing_workers_before_or_after_moto_applies_the_write(server, table, layer, seed):
    port, killed = server[1], []
    faults = layer(
        FaultPlan(kill=1.0, seed=seed),
        running=lambda pid: "RetryFunction" if pid == 4242 else None,
        kill=killed.append,
    )
    try:  # the caller is not really killed here: the write after which it would have died is answered
        client(port).put_item(TableName=table, Item=item("a"))
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InternalFailure"  # what a write never applied is answered
    stored = "Item" in client(port, function=None).get_item(
        TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "STATE"}}
    )
    [(what, count)] = faults.injected.items()
    assert killed == [4242] and count == 1
    assert what == f"kill RetryFunction {'after' if stored else 'before'} PutItem"
    # Not a worker of this stack, or a function not chosen: nobody is killed.
    client(port, function="tfw-77").put_item(TableName=table, Item=item("b"))
    assert killed == [4242]


class Provisioned:
    """What RetryPoller reads of the stack (its queue, the function's settings)."""

    def __init__(self, queue_url: str) -> None:
        self.retry_queue_url, self.retry_queue_arn, self.region = queue_url, "", "us-east-1"
        self.endpoint_url = None

    def function_settings(self, function: str) -> Any:
        from local.provision import function_settings

        return function_settings(function)


@pytest.mark.parametrize(
    ("first", "second", "kept"), [(True, False, False), (False, True, False), (False, False, True)]
)
def test_a_duplicated_message_goes_to_two_invocations_and_stays_only_if_both_failed(server, first, second, kept):
    sqs = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{server[1]}", region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"faults-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    calls: list[str] = []

    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        [record] = event["Records"]
        calls.append(record["messageId"])
        ok = first if len(calls) == 1 else second
        return {"batchItemFailures": [] if ok else [{"itemIdentifier": record["messageId"]}]}

    poller = RetryPoller(Provisioned(url), invoke=invoke, sqs=sqs, duplicate_rate=1.0)  # type: ignore[arg-type]
    [message] = poller._receive(1, 0)
    failed = poller.process([message])
    assert len(calls) == 2 and calls[0] == calls[1] == message["MessageId"]
    assert (failed == [message["MessageId"]]) is kept and poller.duplicated == 1


def test_a_lost_answer_is_a_write_applied_and_answered_500(server, table, layer):
    port = server[1]
    faults = layer(FaultPlan(lost_answer=1.0))
    with pytest.raises(ClientError) as lost:
        client(port).put_item(TableName=table, Item=item("a"), ConditionExpression="attribute_not_exists(pk)")
    assert lost.value.response["Error"]["Code"] == "InternalServerError"  # a 500: botocore would send it again
    assert dict(faults.injected) == {"lost answer PutItem": 1}
    assert "Item" in client(port, function=None).get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "STATE"}})
