"""One daemon thread per local event source (retry queue poller, stream poller): started, stopped."""

from __future__ import annotations

import threading


class BackgroundLoop:
    """Runs ``self.run()`` in a daemon thread between ``start()`` and ``stop()``; ``run`` watches
    ``self._stop`` (a ``threading.Event``) and returns once it is set."""

    function: str

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"tf-local-{self.function}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
