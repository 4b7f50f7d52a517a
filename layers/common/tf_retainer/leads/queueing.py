"""The retry queue's next message for a lead. Its step was recorded due at the message's time plus the
pending grace, as if the message were on its way (one write per step, not two); if the send fails, the lead
is made due soon instead, so the sweeper finds it within minutes. Used by attempts and by the sweeper, which
loads neither the rules nor TrustedForm's client."""

from __future__ import annotations

from datetime import datetime, timedelta

from tf_retainer.domain.lead import Lead
from tf_retainer.domain.retry_message import RetryMessage
from tf_retainer.leads.deps import Deps
from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.runtime.clock import iso
from tf_retainer.runtime.observability import Metric, count, logger
from tf_retainer.runtime.settings import Settings


def queued_check_after(settings: Settings, not_before: datetime) -> str:
    """When a lead whose retry message is on its way is overdue: its planned attempt + the pending grace."""
    return iso(not_before + timedelta(seconds=settings.pending_grace_seconds))


def enqueue_retry(deps: Deps, lead: Lead, *, attempt: int, not_before: datetime, now: datetime) -> None:
    """Queue the next attempt of ``lead`` (recorded with ``queued_check_after``). A failure is counted and
    logged, never raised: the lead is made due within the unqueued grace, and the sweeper queues it again.

    A writer that dies between its step and the send leaves the lead due at its planned attempt + the pending
    grace: found by the sweeper then, later than the unqueued grace, still found."""
    message = RetryMessage(lead_id=lead.lead_id, attempt=attempt, not_before=not_before)
    try:
        deps.retry_queue.send(message, now=now)
    except Exception:
        count(Metric.ENQUEUE_FAILURES)
        logger.exception("could not enqueue retry", extra={"lead_id": lead.lead_id})
        _due_soon(deps, lead, due=now + timedelta(seconds=deps.settings.unqueued_grace_seconds))


def _due_soon(deps: Deps, lead: Lead, *, due: datetime) -> None:
    """The message was not sent: the lead is next due at ``due``. If this write is lost too, the lead is only
    looked at later (at its recorded ``check_after``)."""
    try:
        deps.writer.move_check_after(lead, check_after=iso(due))
    except StoreUnavailable:
        logger.warning("retry message not sent, lead not made due sooner", extra={"lead_id": lead.lead_id})
