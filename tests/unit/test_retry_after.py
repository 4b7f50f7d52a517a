"""Retry-After, as TrustedForm and the screening providers send it: seconds or an HTTP date (RFC 9110 allows
both). One reading for every provider: a throttled call waits what it was asked to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.screens import Screen
from tf_retainer.ports.screening import ScreenFault
from tf_retainer.providers.screening.dncscrub import DncScrub


def throttled(retry_after: str | None) -> Exchange:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    response = {"status": 429, "headers": headers, "body": ""}
    return Exchange(attempt=1, started_at="2026-12-08T00:00:00.000Z", duration_ms=3.0, request={}, response=response)


def in_seconds(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("7", 7.0), (" 12 ", 12.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None), (None, None)],
)
def test_retry_after_reads_seconds_a_past_date_as_now_and_nothing_else(given, seconds):
    assert throttled(given).retry_after() == seconds


def test_a_future_http_date_is_the_seconds_until_it():
    waited = throttled(in_seconds(30)).retry_after()
    assert waited is not None and 28 <= waited <= 30


def test_a_screening_provider_s_http_date_is_honoured_like_trustedform_s():
    adapter = DncScrub({"scrub": "https://scrub.invalid", "data": "https://data.invalid"}, project_id="p")
    answer = adapter.answer(Screen.DNC, throttled(in_seconds(45)), None)
    assert answer.fault is ScreenFault.THROTTLED
    assert answer.retry_after is not None and 43 <= answer.retry_after <= 45
