"""Drive a stream consumer (PublisherFunction, AnchorFunction) from the table's stream as Lambda's DynamoDB
event source mapping does: one poller per function, each reading the stream on its own, as each mapping does.

What the mapping does on AWS, and this poller locally (settings read from the function's DynamoDB event
in template.yaml):

* reads every shard of the table's stream from ``StartingPosition`` (TRIM_HORIZON: from the oldest
  record), in order;
* keeps only records matching the event's ``FilterCriteria`` (the EventBridge pattern subset the
  template uses: exact values and ``prefix``; any other operator is refused, not guessed);
* invokes the function with genuine stream records (eventID, eventName, eventSource aws:dynamodb,
  eventSourceARN, dynamodb.Keys/NewImage/SequenceNumber/SizeBytes/StreamViewType), ``BatchSize`` at most;
* with ``ReportBatchItemFailures``: the records before the first failed one are done; the batch is
  retried from the failed one. A raise retries the whole batch. After ``MaximumRetryAttempts`` retries of
  a record, a pointer to it goes to the ``OnFailure`` queue and the poller moves past it. (Lambda would
  first halve a failing batch, with ``BisectBatchOnFunctionError``; here the batch is retried whole.)
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config

from local.background import BackgroundLoop
from local.functions import STOPPING
from local.functions import invoke as default_invoke
from local.provision import ANCHOR_FAILURE_QUEUE_LOGICAL_ID, PUBLISH_FAILURE_QUEUE_LOGICAL_ID, Provisioned

log = logging.getLogger("tf_retainer.local.streams")

PUBLISHER_FUNCTION = "PublisherFunction"
ANCHOR_FUNCTION = "AnchorFunction"


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether ``event`` matches an EventBridge/Lambda filter ``pattern`` (exact values and prefix)."""
    for name, expected in pattern.items():
        if name not in event:
            return False
        value = event[name]
        if isinstance(expected, Mapping):
            if not isinstance(value, Mapping) or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not any(_matches_value(rule, value) for rule in expected):
                return False
        else:
            raise ValueError(f"filter pattern: {name} must hold an object or a list, not {expected!r}")
    return True


def _matches_value(rule: Any, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    if isinstance(rule, Mapping):
        if set(rule) != {"prefix"}:
            raise ValueError(f"filter pattern operator {sorted(rule)} is not emulated locally")
        return any(isinstance(item, str) and item.startswith(rule["prefix"]) for item in values)
    return rule in values


def stream_event_settings(template: Mapping[str, Any], function: str) -> dict[str, Any]:
    """The Properties of ``function``'s DynamoDB event in the template."""
    events = template["Resources"][function]["Properties"].get("Events", {})  # parameters not resolved
    for event in events.values():
        if event.get("Type") == "DynamoDB":
            return dict(event["Properties"])
    raise ValueError(f"{function} has no DynamoDB event in template.yaml")


def failure_queue_url(provisioned: Provisioned, settings: Mapping[str, Any]) -> str:
    """The local URL of the queue a stream event's OnFailure destination names (!GetAtt <queue>.Arn; empty
    when none)."""
    destination = settings.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", {})
    logical_id = (destination.get("Fn::GetAtt") or [""])[0] if isinstance(destination, Mapping) else ""
    queues = {
        ANCHOR_FAILURE_QUEUE_LOGICAL_ID: provisioned.anchor_failure_queue_url,
        PUBLISH_FAILURE_QUEUE_LOGICAL_ID: provisioned.publish_failure_queue_url,
    }
    return queues.get(logical_id, "")


class StreamPoller(BackgroundLoop):
    """Reads ``provisioned``'s table stream and feeds batches to the function (``poll_once``, or in a
    thread with ``start``/``stop``)."""

    def __init__(
        self,
        provisioned: Provisioned,
        function: str = PUBLISHER_FUNCTION,
        *,
        invoke: Callable[[str, dict[str, Any]], Any] = default_invoke,
        interval_seconds: float = 0.5,
        retry_delay_seconds: float = 1.0,
    ) -> None:
        self.function = function
        settings = stream_event_settings(provisioned._template(), function)
        resolve = provisioned._resolver().resolve  # a parameter's value (AnchorBatchSize)
        self.batch_size = int(resolve(settings.get("BatchSize", 100)))
        self.starting_position = str(resolve(settings.get("StartingPosition", "LATEST")))
        self.max_retries = int(resolve(settings.get("MaximumRetryAttempts", -1)))
        self.patterns = [json.loads(item["Pattern"]) for item in settings.get("FilterCriteria", {}).get("Filters", [])]
        self.failure_queue_url = failure_queue_url(provisioned, settings)
        self.region = provisioned.region
        self.interval_seconds = interval_seconds
        self.retry_delay_seconds = retry_delay_seconds
        self._invoke = invoke
        session_args = {"region_name": provisioned.region, "endpoint_url": provisioned.endpoint_url}
        # botocore addresses DynamoDB Streams at <account>.streams-ddb.<region>.amazonaws.com by default,
        # a host moto 5.2.5's in-process mock does not route; the regional endpoint is the same API.
        self._streams = boto3.client(
            "dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"), **session_args
        )
        self._sqs = boto3.client("sqs", **session_args)
        table = boto3.client("dynamodb", **session_args).describe_table(TableName=provisioned.table_name)["Table"]
        self.stream_arn = str(table["LatestStreamArn"])
        self._iterators: dict[str, str] = {}
        self._backlog: list[tuple[str, dict[str, Any]]] = []  # (shard, record) matching, not yet done
        self._retries: dict[str, int] = {}  # sequence number -> retries so far
        BackgroundLoop.__init__(self)
        self.invocations = 0
        self.given_up = 0

    # -- lifecycle (start/stop: BackgroundLoop) -------------------------------------------------------

    def describe(self) -> str:
        return (
            f"{self.function} <- {self.stream_arn.split('/', 1)[-1]}: batch size {self.batch_size}, "
            f"{len(self.patterns)} filter(s), {self.max_retries} retries then the failure queue"
        )

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.poll_once()
            except Exception as exc:
                log.warning("stream poller: %s; trying again", type(exc).__name__)
                busy = False
            if not busy:
                self._stop.wait(self.interval_seconds)

    # -- one round ----------------------------------------------------------------------------------

    def poll_once(self) -> bool:
        """Read what is new on the stream, then invoke the function with one batch of the backlog;
        whether anything was invoked."""
        self._read_new_records()
        if not self._backlog:
            return False
        batch = [record for _, record in self._backlog[: self.batch_size]]
        self.invocations += 1
        try:
            result = self._invoke(self.function, {"Records": batch})
        except Exception as exc:
            if self._stop.is_set() or getattr(exc, "type_name", "") == STOPPING:
                # The stack is stopping and ended the invocation (its records, in moto's memory, go with it):
                # not a function's failure, and not one of the record's retries.
                log.info("stream poller: %s's batch ended by the stack stopping", self.function)
                return False
            log.warning("stream poller: %s raised %s; retrying its batch", self.function, type(exc).__name__)
            self._failed(0)
            return True
        failed = [str(item.get("itemIdentifier")) for item in (result or {}).get("batchItemFailures", [])]
        sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        first_failed = min((sequence_numbers.index(seq) for seq in failed if seq in sequence_numbers), default=None)
        if first_failed is None:
            del self._backlog[: len(batch)]
            return True
        del self._backlog[:first_failed]
        self._failed(0)
        return True

    def drain(self, rounds: int = 100) -> None:
        """Poll until nothing is left to invoke (tests)."""
        for _ in range(rounds):
            if not self.poll_once():
                return
        raise RuntimeError(f"stream poller: backlog not drained after {rounds} rounds")

    def _failed(self, index: int) -> None:
        """The backlog's record at ``index`` failed: retried next round, or given up on."""
        shard_id, record = self._backlog[index]
        sequence = record["dynamodb"]["SequenceNumber"]
        self._retries[sequence] = self._retries.get(sequence, 0) + 1
        if 0 <= self.max_retries < self._retries[sequence]:
            self._give_up(shard_id, record)
            del self._backlog[index]
            return
        self._stop.wait(self.retry_delay_seconds)

    def _give_up(self, shard_id: str, record: dict[str, Any]) -> None:
        """What Lambda sends its OnFailure destination: where the record is, not the record."""
        self.given_up += 1
        log.error("stream poller: %s gave up on record %s", self.function, record["dynamodb"]["SequenceNumber"])
        if self.failure_queue_url:
            pointer = {
                "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.function},
                "DDBStreamBatchInfo": {
                    "shardId": shard_id,
                    "startSequenceNumber": record["dynamodb"]["SequenceNumber"],
                    "endSequenceNumber": record["dynamodb"]["SequenceNumber"],
                    "batchSize": 1,
                    "streamArn": self.stream_arn,
                },
            }
            self._sqs.send_message(QueueUrl=self.failure_queue_url, MessageBody=json.dumps(pointer))

    def _read_new_records(self) -> None:
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=self.starting_position
                )["ShardIterator"]
            out = self._streams.get_records(ShardIterator=self._iterators[shard_id], Limit=1000)
            self._iterators[shard_id] = out.get("NextShardIterator") or self._iterators[shard_id]
            for record in out.get("Records", []):
                event = self._lambda_record(record)
                if not self.patterns or any(matches(pattern, event) for pattern in self.patterns):
                    self._backlog.append((shard_id, event))

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        dynamodb = dict(record["dynamodb"])
        for image in ("Keys", "NewImage", "OldImage"):  # as Lambda sends them: JSON, binary in base64
            if image in dynamodb:
                dynamodb[image] = {
                    name: {"B": base64.b64encode(value["B"]).decode()} if isinstance(value.get("B"), bytes) else value
                    for name, value in dynamodb[image].items()
                }
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
        return {
            "eventID": record.get("eventID"),
            "eventName": record.get("eventName"),
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": dynamodb,
            "eventSourceARN": self.stream_arn,
        }
