"""Daemon threads for the local event sources (retry queue pollers, stream poller): started, stopped."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("tf_retainer.local.background")


class BackgroundLoop:
    """Runs ``self.run()`` in ``self.concurrency`` daemon threads between ``start()`` and ``stop()``; ``run``
    watches ``self._stop`` (a ``threading.Event``) and returns once it is set."""

    function: str
    concurrency: int = 1

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for n in range(max(1, self.concurrency)):
            thread = threading.Thread(target=self.run, name=f"tf-local-{self.function}-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the threads to return and wait up to ``timeout`` seconds for each. One still running then (a
        batch that did not end when asked) is logged and left behind: a daemon, gone with the process."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        running = [thread.name for thread in self._threads if thread.is_alive()]
        if running:
            log.warning("%s: still running %g s after stop: %s", self.function, timeout, ", ".join(running))
        self._threads = []
