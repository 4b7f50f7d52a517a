"""EventBridge Scheduler for the local stack: invokes a function on a fixed rate (the sweeper, the
automatic vendor suspension)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from local.functions import failure_summary

log = logging.getLogger("tf_retainer.local.scheduler")


class RateSchedule:
    """Invoke ``function`` every ``seconds`` with a scheduled event, in a thread, until stopped."""

    def __init__(self, function: str, seconds: float, invoke: Callable[[str, dict[str, Any]], Any]) -> None:
        self.function = function
        self.seconds = seconds
        self._invoke = invoke
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{function}", daemon=True)
        self.runs = 0

    def describe(self) -> str:
        return f"{self.function} every {self.seconds:g} s"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        event = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}
        while not self._stopping.wait(self.seconds):
            try:
                result = self._invoke(self.function, event)
            except Exception as exc:  # a failed run is retried by the next one, as the Scheduler would
                log.warning("%s failed: %s", self.function, failure_summary(exc))
                continue
            self.runs += 1
            self._report(result)

    def _report(self, result: Any) -> None:
        """What a run did worth a line: the sweeper's requeued leads, the consent run's revocations not honoured
        in time, the vendors suspended. (The sweeper's ``overdue`` is a count, the consent run's a list.)"""
        if not isinstance(result, dict):
            return
        if result.get("recovered"):
            log.warning("%s requeued %d overdue lead(s)", self.function, len(result["recovered"]))
        if isinstance(result.get("overdue"), list) and result["overdue"]:
            log.warning("%s: %d revocation(s) not honoured in time", self.function, len(result["overdue"]))
        if result.get("suspended"):
            log.warning("%s suspended vendor(s): %s", self.function, ", ".join(result["suspended"]))
