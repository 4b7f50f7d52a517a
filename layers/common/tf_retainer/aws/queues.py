"""SQS: the retry queue (the RetryQueue port), and the delay limit every delayed send works within."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tf_retainer.domain.retry_message import SQS_MAX_DELAY_SECONDS, RetryMessage


def sqs_delay(not_before: datetime, now: datetime) -> int:
    """SQS delays stop at 15 minutes: longer waits are made of several hops."""
    return max(0, min(SQS_MAX_DELAY_SECONDS, int((not_before - now).total_seconds() + 0.999)))


class SqsRetryQueue:
    """Sends retry messages, delayed as far towards their ``not_before`` as SQS allows."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client, self.queue_url = client, queue_url

    def send(self, message: RetryMessage, *, now: datetime) -> str:
        """Queue the message; returns its id."""
        sent = self._client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=message.model_dump_json(),
            DelaySeconds=sqs_delay(message.not_before, now),
        )
        return str(sent["MessageId"])
