"""When to try again: backoff with jitter, bounded by the certificate's retain window."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from tf_retainer.decisions.answer import Decision, RetryKind
from tf_retainer.providers.trustedform.certificates import CertificateKind
from tf_retainer.runtime.settings import Settings

# Mobile and Meta certificates stay claimable for 90 days; web (and masked) ones for 72 hours unless
# a form submit extended them, which we cannot know: assume the short window.
LONG_WINDOW = timedelta(days=90)


def retain_deadline(
    kind: CertificateKind | str | None, received_at: datetime, settings: Settings, created_at: datetime | None = None
) -> datetime:
    """The last moment an attempt may start. The certificate was created at or before it arrived.

    ``kind`` None: a lead without a certificate, kept on its LeadiD token alone. Jornaya documents a token's
    life (a year from its creation, which we cannot know) and its query limit (100 audits), nothing about
    how soon a buyer must audit it: such a lead gets a web certificate's window (RETAIN_WINDOW_HOURS), our
    stated default, well inside both (RETRY_MAX_ATTEMPTS is at most 100 audits)."""
    start = min(created_at, received_at) if created_at else received_at
    short = kind in (CertificateKind.WEB, None)
    window = timedelta(hours=settings.retain_window_hours) if short else LONG_WINDOW
    return start + window - timedelta(minutes=settings.deadline_safety_minutes)


def backoff_seconds(attempt: int, settings: Settings, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with 'equal jitter': never zero, never above the cap."""
    ceiling = min(settings.retry_cap_seconds, settings.retry_base_seconds * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + rand() * ceiling / 2


def next_delay(
    decision: Decision, attempts_so_far: int, settings: Settings, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before the next attempt after a pending decision."""
    if decision.retry is RetryKind.ACCOUNT:
        return settings.account_error_delay_seconds
    delay = backoff_seconds(attempts_so_far, settings, rand)
    if decision.retry is RetryKind.THROTTLED and decision.retry_after_seconds is not None:
        delay = max(delay, decision.retry_after_seconds) if attempts_so_far > 1 else decision.retry_after_seconds
    return delay


def plan_next_attempt(
    decision: Decision,
    *,
    attempts_so_far: int,
    now: datetime,
    deadline: datetime,
    settings: Settings,
    rand: Callable[[], float] = random.random,
) -> datetime | None:
    """When the next attempt should run, or None when none may: window closing or attempts spent."""
    burns = decision.retry is not RetryKind.ACCOUNT
    if burns and attempts_so_far >= settings.retry_max_attempts:
        return None
    when = now + timedelta(seconds=next_delay(decision, attempts_so_far, settings, rand))
    if when <= deadline:
        return when
    # One last try just before the window closes is better than giving up early.
    return deadline if deadline - now > timedelta(seconds=1) else None
