"""The callback function's use case: one callback job from the callback queue, delivered, retried later
(a new message, delayed with backoff), or given up on (the dead-letter queue, with the reason).

Which outcomes become jobs is the template's CallbackRule: final outcomes reached after the vendor's
first answer (the event's actor is not the intake: the vendor was told 202 pending). Intake never waits
for any of this: the job starts from the outcome event, on its own queue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tf_retainer.domain.retry_message import SQS_MAX_DELAY_SECONDS
from tf_retainer.events.callbacks import CallbackJob, Delivery, Resolver, deliver, system_resolver
from tf_retainer.ports.vendors import CallbackTargets
from tf_retainer.runtime.observability import Metric, count, logger
from tf_retainer.runtime.settings import Settings

if TYPE_CHECKING:
    import httpx


@dataclass
class CallbackDeps:
    settings: Settings
    callbacks: CallbackTargets
    sqs: Any
    http: httpx.Client
    clock: Callable[[], float] = field(default=time.time)
    resolver: Resolver = field(default=system_resolver)


def backoff_seconds(settings: Settings, attempt: int) -> int:
    """Before attempt ``attempt + 1``: base, 2x base, 4x base... capped at SQS's 15-minute delay."""
    return int(min(SQS_MAX_DELAY_SECONDS, settings.callback_base_delay_seconds * 2 ** (attempt - 1)))


def notify(deps: CallbackDeps, job: CallbackJob) -> Delivery:
    target = deps.callbacks.get(job.vendor)
    if target is None or not target.active:
        return Delivery("no_callback")
    delivery = deliver(
        job,
        target.url,
        target.secret,
        client=deps.http,
        now=deps.clock(),
        allow_private=deps.settings.callback_allow_private,
        resolver=deps.resolver,
    )
    if delivery.outcome == "retry" and job.attempt < deps.settings.callback_max_attempts:
        later = job.model_copy(update={"attempt": job.attempt + 1})
        deps.sqs.send_message(
            QueueUrl=deps.settings.callback_queue_url,
            MessageBody=later.model_dump_json(),
            DelaySeconds=backoff_seconds(deps.settings, job.attempt),
        )
        count(Metric.CALLBACK_RETRIES)
    elif delivery.outcome == "retry":
        delivery = Delivery("failed", f"gave_up_after_{job.attempt}_attempts:{delivery.reason}", delivery.http_status)
    if delivery.outcome == "failed":
        dead = {"job": job.model_dump(mode="json"), "reason": delivery.reason, "http_status": delivery.http_status}
        deps.sqs.send_message(QueueUrl=deps.settings.callback_dlq_url, MessageBody=json.dumps(dead))
        count(Metric.CALLBACKS_FAILED)
    elif delivery.outcome == "delivered":
        count(Metric.CALLBACKS_DELIVERED)
    logger.info(
        "callback",
        extra={
            "event_id": job.event_id,
            "vendor": job.vendor,
            "attempt": job.attempt,
            "outcome": delivery.outcome,
            "reason": delivery.reason,
            "http_status": delivery.http_status,
        },
    )
    return delivery
