"""The local stack's scheduler: a run's report is logged, never taken for a failure (the sweeper's report
counts its overdue leads, the consent run's lists its revocations: both shapes are reports)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from local.scheduler import RateSchedule


def test_the_sweepers_report_is_logged_not_counted_as_a_failed_run(caplog):
    reports = {"SweeperFunction": {"overdue": 3, "recovered": ["a", "b"], "skipped": 1}}
    ran = threading.Event()

    def invoke(function: str, event: dict[str, Any]) -> Any:
        ran.set()
        return reports[function]

    schedule = RateSchedule("SweeperFunction", 0.01, invoke)
    with caplog.at_level(logging.WARNING, logger="tf_retainer.local.scheduler"):
        schedule.start()
        assert ran.wait(5)
        schedule.stop()
    assert schedule.runs >= 1
    assert "SweeperFunction requeued 2 overdue lead(s)" in caplog.text
    assert "failed" not in caplog.text
