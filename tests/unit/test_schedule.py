from datetime import UTC, datetime, timedelta

from tf_retainer.aws.queues import sqs_delay
from tf_retainer.decisions.answer import Decision, RetryKind
from tf_retainer.domain.models import Reason, Status
from tf_retainer.leads.schedule import backoff_seconds, plan_next_attempt, retain_deadline
from tf_retainer.providers.trustedform.certificates import CertificateKind

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TRANSIENT = Decision(Status.PENDING, Reason.TRUSTEDFORM_UNAVAILABLE, RetryKind.TRANSIENT)
ACCOUNT = Decision(Status.PENDING, Reason.ACCOUNT_ERROR, RetryKind.ACCOUNT)


def test_backoff_grows_exponentially_within_jitter_and_cap(settings):
    for attempt in range(1, 12):
        ceiling = min(settings.retry_cap_seconds, settings.retry_base_seconds * 2 ** (attempt - 1))
        assert backoff_seconds(attempt, settings, lambda: 0.0) == ceiling / 2
        assert backoff_seconds(attempt, settings, lambda: 0.999999) <= ceiling
    assert backoff_seconds(30, settings, lambda: 1.0) == settings.retry_cap_seconds


def test_web_deadline_is_72_hours_less_the_margin(settings):
    assert retain_deadline(CertificateKind.WEB, NOW, settings) == NOW + timedelta(hours=71)
    created = NOW - timedelta(hours=10)
    assert retain_deadline(CertificateKind.WEB, NOW, settings, created_at=created) == created + timedelta(hours=71)
    assert retain_deadline(CertificateKind.MOBILE, NOW, settings) > NOW + timedelta(days=89)


def test_never_scheduled_after_the_deadline(settings):
    deadline = NOW + timedelta(seconds=90)
    when = plan_next_attempt(TRANSIENT, attempts_so_far=8, now=NOW, deadline=deadline, settings=settings)
    assert when == deadline  # one last try inside the window
    assert plan_next_attempt(TRANSIENT, attempts_so_far=1, now=deadline, deadline=deadline, settings=settings) is None


def test_attempts_are_capped_but_account_errors_do_not_burn_them(settings):
    far = NOW + timedelta(days=2)
    cap = settings.retry_max_attempts
    assert plan_next_attempt(TRANSIENT, attempts_so_far=cap, now=NOW, deadline=far, settings=settings) is None
    when = plan_next_attempt(ACCOUNT, attempts_so_far=cap, now=NOW, deadline=far, settings=settings)
    assert when == NOW + timedelta(seconds=settings.account_error_delay_seconds)


def test_retry_after_is_honoured(settings):
    throttled = Decision(Status.PENDING, Reason.TRUSTEDFORM_THROTTLED, RetryKind.THROTTLED, retry_after_seconds=300)
    far = NOW + timedelta(days=2)
    when = plan_next_attempt(throttled, attempts_so_far=3, now=NOW, deadline=far, settings=settings, rand=lambda: 0)
    assert when >= NOW + timedelta(seconds=300)


def test_sqs_delay_is_cut_into_hops_of_15_minutes():
    assert sqs_delay(NOW + timedelta(hours=2), NOW) == 900
    assert sqs_delay(NOW + timedelta(seconds=30.2), NOW) == 31
    assert sqs_delay(NOW - timedelta(seconds=5), NOW) == 0
