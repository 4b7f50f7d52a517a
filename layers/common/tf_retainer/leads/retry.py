"""The retry worker's use case: one message, one more attempt for a pending lead."""

from __future__ import annotations

import time
from datetime import timedelta

from tf_retainer.domain.models import Reason
from tf_retainer.domain.retry_message import RetryMessage
from tf_retainer.leads.attempt import attempt_budget
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.outcome import expire
from tf_retainer.leads.screening import screen_then_retain
from tf_retainer.ports.leads import StaleAttempt
from tf_retainer.runtime.observability import Metric, count, logger

# An attempt may start a little after its planned time (queue lag); the deadline's safety margin
# (DEADLINE_SAFETY_MINUTES) is what keeps it inside TrustedForm's window.
LATE_GRACE = timedelta(minutes=2)
# What the lease outlasts the invocation by: Lambda ends an invocation at its Timeout (the local stack kills
# its worker a second after), so an attempt cannot act later than that; the margin covers clocks that differ.
INVOCATION_MARGIN_SECONDS = 5.0


class UnknownLead(Exception):
    """A retry message names a lead we do not have: a poison message (it goes to the DLQ)."""


class LeaseHeld(Exception):
    """Another delivery of this message is working on the lead: try again after the visibility timeout."""


def retry_lead(deps: Deps, message: RetryMessage, deadline: float | None = None) -> str:
    """Wait longer (another hop), skip a duplicate delivery, expire, or attempt, every remote call done before
    the invocation's ``deadline`` (on time.monotonic's clock).

    Returns what happened (for the batch log). Raises for a message that must be delivered again.
    """
    now = deps.clock()
    if message.not_before - now > timedelta(seconds=1):
        # SQS delays stop at 15 minutes: this was one hop of a longer wait. Raises if it cannot requeue,
        # so the message is not deleted.
        deps.retry_queue.send(message, now=now)
        return "deferred"
    lease = attempt_lease(deps, deadline)
    try:
        lead = deps.writer.begin_attempt(message.lead_id, attempt=message.attempt, now=now, lease_seconds=lease)
    except StaleAttempt:
        return _stale(deps, message)
    try:
        if now > lead.deadline_at + LATE_GRACE:
            reason = Reason.RETAIN_WINDOW_CLOSED
            return str(expire(deps, lead, attempt=message.attempt, reason=reason, actor="retry").status)
        count(Metric.RETRY_ATTEMPTS)
        budget = attempt_budget(deps, deps.settings.retry_timeout_seconds, deadline)
        answer = screen_then_retain(deps, lead, attempt=message.attempt, budget=budget, actor="retry")
    except StaleAttempt:  # its first write found a step recorded since (rolled forward): nothing was sent
        return _stale(deps, message)
    return str(answer.status)


def attempt_lease(deps: Deps, deadline: float | None) -> float:
    """How long the attempt holds its lead, its invocation ending at ``deadline`` (time.monotonic's clock)."""
    left = None if deadline is None else deadline - time.monotonic()
    return lease_seconds(deps.settings.retry_lease_seconds, left)


def lease_seconds(configured: float, invocation_left: float | None) -> float:
    """The configured lease, or until the invocation (``invocation_left`` seconds to go) has surely ended if
    that is later. An attempt slowed past its lease (a table throttled, a paused process) may still call
    TrustedForm or record its outcome; a delivery that took the lead meanwhile would retain it again."""
    if invocation_left is None:
        return configured
    return max(configured, invocation_left + INVOCATION_MARGIN_SECONDS)


def _stale(deps: Deps, message: RetryMessage) -> str:
    lead = deps.reader.get_lead(message.lead_id)
    if lead is None:
        raise UnknownLead(message.lead_id)
    if lead.status.is_final or lead.attempts >= message.attempt:
        count(Metric.DUPLICATE_DELIVERIES)
        logger.info("duplicate delivery skipped", extra={"lead_id": message.lead_id, "attempt": message.attempt})
        return "duplicate"
    raise LeaseHeld(message.lead_id)
