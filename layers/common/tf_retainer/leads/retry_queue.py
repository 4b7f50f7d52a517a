"""The retry queue's message: one more attempt for a lead, not before a moment.

One model for every writer (intake, the retry worker, the operator CLI's requeue) and the reader.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SQS_MAX_DELAY_SECONDS = 900


class RetryMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    lead_id: str = Field(min_length=1, max_length=128)
    attempt: int = Field(ge=1)
    not_before: AwareDatetime


def sqs_delay(not_before: datetime, now: datetime) -> int:
    """SQS delays stop at 15 minutes: longer waits are made of several hops."""
    return max(0, min(SQS_MAX_DELAY_SECONDS, int((not_before - now).total_seconds() + 0.999)))


def send(sqs: Any, queue_url: str, message: RetryMessage, *, now: datetime) -> str:
    """Queue the message, delayed as far towards ``not_before`` as SQS allows. Returns its id."""
    sent = sqs.send_message(
        QueueUrl=queue_url, MessageBody=message.model_dump_json(), DelaySeconds=sqs_delay(message.not_before, now)
    )
    return str(sent["MessageId"])
