"""Drive the RetryFunction from the retry queue as Lambda's SQS event source mapping does.

What the mapping does on AWS, and this poller locally:

* long-polls the queue and gathers up to the event source's ``BatchSize`` messages, waiting at most its
  ``MaximumBatchingWindowInSeconds`` for a batch to fill (both read from template.yaml);
* receives with the queue's own visibility timeout, so a message that is not deleted becomes visible
  again after it and, after the RedrivePolicy's ``maxReceiveCount`` receives, moves to the dead-letter
  queue (moto does the redrive, as SQS does);
* invokes the function with a genuine SQS event (``Records`` with messageId, receiptHandle, body,
  attributes incl. ApproximateReceiveCount, messageAttributes, md5OfBody, eventSource,
  eventSourceARN, awsRegion);
* with ``ReportBatchItemFailures``: deletes every message not listed in ``batchItemFailures``; an
  answer naming an unknown or empty itemIdentifier fails the whole batch, as Lambda does. Without it,
  or when the function raises: a raise keeps the whole batch, a return deletes it all.

``invoke`` runs the function: in this process by default, holding ``invocation_lock`` (one invocation
at a time, like one Lambda container: Powertools' Logger and Metrics are process-global). The local stack
passes its worker pool's ``invoke`` and no lock: the function then runs in a worker process while the
API's requests run in the others.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import boto3

from local.background import BackgroundLoop
from local.functions import invoke as default_invoke
from local.provision import FunctionSettings, Provisioned

log = logging.getLogger("tf_retainer.local.poller")

RETRY_FUNCTION = "RetryFunction"
MAX_RECEIVE = 10  # SQS's MaxNumberOfMessages ceiling


class RetryPoller(BackgroundLoop):
    """Long-polls ``provisioned``'s retry queue and feeds batches to the function, in a thread.

    ``wait_seconds`` is the long-poll wait of each ReceiveMessage: short, so ``stop()`` returns within
    about that long (plus a batch in progress).
    """

    def __init__(
        self,
        provisioned: Provisioned,
        function: str = RETRY_FUNCTION,
        *,
        invocation_lock: AbstractContextManager[Any] | None = None,
        wait_seconds: int = 1,
        invoke: Callable[[str, dict[str, Any]], Any] = default_invoke,
        sqs: Any = None,
        queue_url: str | None = None,
        concurrency: int = 1,
        duplicate_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.function = function
        self.settings: FunctionSettings = provisioned.function_settings(function)
        if self.settings.batch_size is None:
            raise ValueError(f"{function} has no SQS event in template.yaml")
        # The retry queue unless told otherwise (the callback function's queue).
        self.queue_url = queue_url or provisioned.retry_queue_url
        self.queue_arn = "" if queue_url else provisioned.retry_queue_arn
        self.region = provisioned.region
        self.batch_size = self.settings.batch_size
        self.batching_window = float(self.settings.maximum_batching_window or 0)
        self.wait_seconds = max(0, min(20, int(wait_seconds)))
        self.invocation_lock = invocation_lock if invocation_lock is not None else threading.Lock()
        self._invoke = invoke
        self._sqs = sqs or boto3.client("sqs", region_name=provisioned.region, endpoint_url=provisioned.endpoint_url)
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn", "VisibilityTimeout", "RedrivePolicy"]
        )["Attributes"]
        self.queue_arn = self.queue_arn or attributes["QueueArn"]
        self.visibility_timeout = int(attributes.get("VisibilityTimeout", 30))
        redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
        self.max_receive_count = int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None
        BackgroundLoop.__init__(self)
        # Batches in flight at once (Lambda: up to the event source's ScalingConfig.MaximumConcurrency).
        self.concurrency = max(1, concurrency)
        self.batches = 0  # counters, for tests and the operator
        self.deleted = 0
        self.failed = 0
        # SQS delivers at least once: a message received by two pollers at once (local/faults.py).
        self.duplicate_rate = duplicate_rate
        self._rng = random.Random(seed)
        self.duplicated = 0

    # -- lifecycle ----------------------------------------------------------------------------------

    def describe(self) -> str:
        redrive = f", to the DLQ after {self.max_receive_count} receives" if self.max_receive_count else ""
        return (
            f"{self.function} <- {self.queue_arn.rsplit(':', 1)[-1]}: batch size {self.batch_size}, "
            f"batching window {self.batching_window:g} s, visibility timeout {self.visibility_timeout} s{redrive}, "
            f"{self.concurrency} batch(es) at once"
        )

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self.receive_batch()
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.warning("%s poller: receive failed (%s); trying again", self.function, type(exc).__name__)
                self._stop.wait(1.0)
                continue
            if messages:
                self.process(messages)

    # -- one batch ----------------------------------------------------------------------------------

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(MAX_RECEIVE, count)),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))

    def receive_batch(self) -> list[dict[str, Any]]:
        """Up to ``batch_size`` messages: the first long poll, then fill for at most the batching window."""
        messages = self._receive(self.batch_size, self.wait_seconds)
        if not messages:
            return []
        deadline = time.monotonic() + self.batching_window
        while len(messages) < self.batch_size and time.monotonic() < deadline and not self._stop.is_set():
            more = self._receive(self.batch_size - len(messages), 0)
            if more:
                messages.extend(more)
            else:
                self._stop.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        return messages

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The SQS event Lambda hands the function for these received messages."""
        return {"Records": [self._record(message) for message in messages]}

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": {key: str(value) for key, value in (message.get("Attributes") or {}).items()},
            "messageAttributes": {
                name: _message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def process(self, messages: list[dict[str, Any]]) -> list[str]:
        """Invoke the function with one batch and delete what succeeded; returns the failed message ids."""
        started = time.perf_counter()
        receives = [int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1")) for message in messages]
        twins = [message for message in messages if self.duplicate_rate and self._rng.random() < self.duplicate_rate]
        if twins:
            failed, error = self._delivered_twice(messages, twins)
        else:
            failed, error = self._deliver(messages)
        failed_set = set(failed)
        done = [message for message in messages if message["MessageId"] not in failed_set]
        self._delete(done)
        self.batches += 1
        self.deleted += len(done)
        self.failed += len(failed)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms > self.settings.timeout * 1000:
            log.warning(
                "retry batch ran %.0f ms, beyond the function's %d s timeout", elapsed_ms, self.settings.timeout
            )
        log.info(
            "retry batch: %d message(s), receive count up to %d: %d done, %d back to the queue%s %.0fms",
            len(messages),
            max(receives),
            len(done),
            len(failed),
            error,
            elapsed_ms,
        )
        return failed

    def _deliver(self, messages: list[dict[str, Any]]) -> tuple[list[str], str]:
        """One invocation with these messages: (the ids it failed, the error it raised or "")."""
        ids = [message["MessageId"] for message in messages]
        try:
            with self.invocation_lock:
                result = self._invoke(self.function, self.event(messages))
        except Exception as exc:  # Lambda: the whole batch returns to the queue
            return list(ids), f" error={type(exc).__name__}"
        return self._failures(result, ids), ""

    def _delivered_twice(self, messages: list[dict[str, Any]], twins: list[dict[str, Any]]) -> tuple[list[str], str]:
        """The batch, and at once a second invocation with ``twins`` (received twice, as SQS may). A message
        stays on the queue only if every invocation that had it failed it: one success deletes it."""
        self.duplicated += len(twins)
        second: list[tuple[list[str], str]] = []
        thread = threading.Thread(target=lambda: second.append(self._deliver(twins)), name="tf-local-duplicate")
        thread.start()
        failed, error = self._deliver(messages)
        thread.join()
        twin_failed, twin_error = second[0] if second else ([m["MessageId"] for m in twins], " error=Lost")
        twin_ids = {message["MessageId"] for message in twins}
        failed = [mid for mid in failed if mid not in twin_ids or mid in twin_failed]
        return failed, error or twin_error

    def _failures(self, result: Any, ids: list[str]) -> list[str]:
        if not self.settings.report_batch_item_failures:
            return []
        if not isinstance(result, dict) or not result.get("batchItemFailures"):
            return []  # None, {} or an empty list: the batch succeeded
        failures = result["batchItemFailures"]
        named = [item.get("itemIdentifier") if isinstance(item, dict) else None for item in failures]
        if any(not name or name not in ids for name in named):
            log.warning("retry batch: batchItemFailures names an unknown message: the whole batch fails")
            return list(ids)
        return [str(name) for name in named]

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), MAX_RECEIVE):
            chunk = messages[start : start + MAX_RECEIVE]
            answer = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in answer.get("Failed", []):
                log.warning("retry batch: delete failed (%s)", failure.get("Code"))


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's MessageAttributeValue -> the Lambda event's shape (binary as base64 text)."""
    attribute: dict[str, Any] = {}
    if value.get("StringValue") is not None:
        attribute["stringValue"] = value["StringValue"]
    binary = value.get("BinaryValue")
    if binary is not None:
        attribute["binaryValue"] = (
            base64.b64encode(binary).decode() if isinstance(binary, bytes | bytearray) else binary
        )
    attribute["stringListValues"] = list(value.get("StringListValues") or [])
    attribute["binaryListValues"] = [_base64(item) for item in value.get("BinaryListValues") or []]
    attribute["dataType"] = value.get("DataType", "String")
    return attribute


def _base64(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes | bytearray) else value
