"""The retry queue's next message for a lead, and the state told once it is on its way (so a lead whose
message was never sent is found again within minutes). Used by attempts and by the sweeper, which
loads neither the rules nor TrustedForm's client."""

from __future__ import annotations

from datetime import datetime, timedelta

from tf_retainer.domain.lead import Lead
from tf_retainer.domain.retry_message import RetryMessage
from tf_retainer.leads.deps import Deps
from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.runtime.clock import iso
from tf_retainer.runtime.observability import Metric, count, logger


def enqueue_retry(deps: Deps, lead: Lead, *, attempt: int, not_before: datetime, now: datetime) -> None:
    """Queue the next attempt, then tell the state its message is on its way. A failure is counted and
    logged, never raised: the lead stays due within the unqueued grace, and the sweeper queues it again."""
    message = RetryMessage(lead_id=lead.lead_id, attempt=attempt, not_before=not_before)
    try:
        deps.retry_queue.send(message, now=now)
    except Exception:
        count(Metric.ENQUEUE_FAILURES)
        logger.exception("could not enqueue retry", extra={"lead_id": lead.lead_id})
        return
    mark_queued(deps, lead, due=not_before + timedelta(seconds=deps.settings.pending_grace_seconds))


def mark_queued(deps: Deps, lead: Lead, *, due: datetime) -> None:
    """The message is sent: the lead is next due at ``due``. If this write is lost, the lead is only looked at
    sooner (within the unqueued grace), and its message, found on its way, makes the look a no-op."""
    try:
        deps.writer.mark_queued(lead, check_after=iso(due))
    except StoreUnavailable:
        logger.warning("retry message sent, not marked", extra={"lead_id": lead.lead_id})
