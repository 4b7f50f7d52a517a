"""The retry queue and its dead-letter queue: redrive, requeue, depths."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from tf_retainer.domain.lead import Event
from tf_retainer.domain.retry_message import RetryMessage
from tf_retainer.runtime.clock import parse_iso
from tf_retainer.store.lead_table import LeadTable
from tf_retainer.wiring import build_retry_queue

from .target import OpsError, Target

# What SQS (or moto) answers when message move tasks are not available.
UNSUPPORTED_CODES = {
    "NotImplemented",
    "UnsupportedOperation",
    "AWS.SimpleQueueService.UnsupportedOperation",
    "InvalidAction",
    "UnknownOperationException",
}


@dataclass
class RedriveResult:
    moved: int
    method: str  # "move-task" or "manual"
    task_handle: str | None = None
    status: str | None = None
    failed: int = 0
    notes: list[str] = field(default_factory=list)


def queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def depth(sqs: Any, url: str) -> dict[str, int]:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def _unsupported(exc: BaseException) -> bool:
    if isinstance(exc, NotImplementedError):  # moto in-process
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        # moto's server answers 500 with an HTML page: any server error falls back to the manual move,
        # which is always correct (only slower).
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in UNSUPPORTED_CODES or status >= 500
    return False


def redrive(
    target: Target,
    *,
    max_messages: int | None = None,
    manual: bool = False,
    wait_seconds: float = 300,
    progress: Callable[[str], None] = print,
) -> RedriveResult:
    """Move messages from the retry DLQ back to the retry queue.

    SQS's own message move task first (server-side, keeps message attributes); it cannot stop after
    N messages, so ``max_messages`` (or ``manual``) uses receive/send/delete in batches of 10.
    """
    sqs = target.client("sqs")
    dlq_url, queue_url = target.need_dlq(), target.need_queue()
    if not manual and max_messages is None:
        try:
            return _move_task(sqs, dlq_url, queue_url, wait_seconds, progress)
        except (ClientError, NotImplementedError) as exc:
            if not _unsupported(exc):
                raise
            progress("message move tasks not available here: moving messages by hand")
    return _manual(sqs, dlq_url, queue_url, max_messages, progress)


def _move_task(
    sqs: Any, dlq_url: str, queue_url: str, wait_seconds: float, progress: Callable[[str], None]
) -> RedriveResult:
    source = queue_arn(sqs, dlq_url)
    handle = sqs.start_message_move_task(SourceArn=source, DestinationArn=queue_arn(sqs, queue_url))["TaskHandle"]
    progress(f"started message move task {handle}")
    deadline = time.monotonic() + wait_seconds
    moved, status = 0, "RUNNING"
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source, MaxResults=1).get("Results", [])
        task = next((t for t in tasks if t.get("TaskHandle") == handle), tasks[0] if tasks else {})
        moved = int(task.get("ApproximateNumberOfMessagesMoved", moved))
        status = task.get("Status", status)
        total = task.get("ApproximateNumberOfMessagesToMove")
        progress(f"{status.lower()}: moved {moved}" + (f" of {total}" if total is not None else ""))
        if status in ("COMPLETED", "CANCELLED", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(2)
    result = RedriveResult(moved=moved, method="move-task", task_handle=handle, status=status)
    if status == "FAILED":
        result.notes.append(f"move task failed: {task.get('FailureReason', 'no reason given')}")
    elif status not in ("COMPLETED", "CANCELLED"):
        result.notes.append("still running: check the DLQ depth with `tf-retainer summary`")
    return result


def _manual(
    sqs: Any, dlq_url: str, queue_url: str, max_messages: int | None, progress: Callable[[str], None]
) -> RedriveResult:
    result = RedriveResult(moved=0, method="manual")
    batch_number = 0
    while max_messages is None or result.moved < max_messages:
        want = 10 if max_messages is None else min(10, max_messages - result.moved)
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=want,
            WaitTimeSeconds=1,
            VisibilityTimeout=120,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        batch_number += 1
        entries = []
        for index, message in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
            attributes = {
                name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
                for name, value in (message.get("MessageAttributes") or {}).items()
            }
            if attributes:
                entry["MessageAttributes"] = attributes
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        ok = {entry["Id"] for entry in sent.get("Successful", [])}
        if ok:
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages) if str(i) in ok
                ],
            )
        failed = len(messages) - len(ok)
        result.moved += len(ok)
        result.failed += failed
        progress(
            f"batch {batch_number}: moved {len(ok)} (total {result.moved})"
            + (f", {failed} failed and stay in the DLQ" if failed else "")
        )
        if failed:
            result.notes.append("some messages could not be sent; they return to the DLQ when their visibility ends")
            break
    return result


@dataclass
class Requeued:
    lead_id: str
    attempt: int
    message_id: str
    warnings: list[str] = field(default_factory=list)


def requeue(target: Target, store: LeadTable, lead_id: str, *, now: datetime | None = None) -> Requeued:
    """Put an open (received or pending) lead back on the retry queue for its next attempt, now."""
    now = now or datetime.now(UTC)
    lead = store.reader.get_lead(lead_id)
    if lead is None:
        raise OpsError(f"no lead {lead_id}", code=1)
    if lead.status.is_final:
        raise OpsError(f"lead {lead_id} is {lead.status}: only received or pending leads are retried", code=1)
    message = RetryMessage(lead_id=lead_id, attempt=lead.attempts + 1, not_before=now)
    detail = {"status": lead.status.value, "attempt": message.attempt}
    store.writer.add_history(lead, [Event("requeued", "operator", detail)], now=now)
    sqs = target.client("sqs")
    target.need_queue()
    message_id = build_retry_queue(target.settings(), sqs).send(message, now=now)
    result = Requeued(lead_id=lead_id, attempt=message.attempt, message_id=message_id)
    if lead.lease_until and parse_iso(lead.lease_until) > now:
        result.warnings.append(
            f"an attempt holds the lead until {lead.lease_until}: the retry worker will skip it until then"
        )
    return result
