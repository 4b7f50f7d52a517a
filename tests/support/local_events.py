"""The outcome events a local stack (``python -m local.stack``, tests/e2e) delivered to its example subscriber
queue (the template's LeadEventsRule -> LeadEventsQueue), read over the stack's moto endpoint."""

from __future__ import annotations

import json
import time
from typing import Any


def lead_events(state: dict[str, Any], lead_id: str, timeout: float = 60) -> list[dict[str, Any]]:
    """``lead_id``'s events (EventBridge envelopes) on the stack's events queue, once any arrived (a second
    one, were there one, is right behind the first); [] when none came within ``timeout`` seconds. Another
    lead's events are left on the queue."""
    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=state["endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    queue_url = state["events_queue_url"]

    def receive(wait_seconds: int) -> list[dict[str, Any]]:
        out = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        found = []
        for message in out.get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail"]["answer"]["lead_id"] == lead_id:
                found.append(event)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return found

    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not found:
        found = receive(1)
    if found:
        time.sleep(1)
        found += receive(0)
    return found
