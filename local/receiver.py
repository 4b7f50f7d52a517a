"""A vendor's callback endpoint, on 127.0.0.1: records every callback, checks its signature with the
documented recipe, and answers as scripted (200 by default; e.g. ``["503", "200"]`` or ``"slow:3"``).

``GET /_receiver/callbacks`` lists what arrived (newest last) with ``signature_valid`` for each.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tf_retainer.events.callbacks import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

from local.loopback import Answer, LoopbackServer, Request

HOST = "127.0.0.1"


@dataclass
class CallbackReceiver:
    secret: str = ""
    port: int = 0
    behaviours: list[str] = field(default_factory=list)  # consumed one per callback; the last repeats
    received: list[dict[str, Any]] = field(default_factory=list)
    arrivals: int = 0  # callbacks that reached the receiver, answered yet or not (a slow one is recorded after)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{HOST}:{self._server.server_address[1]}/callbacks"

    def script(self, *behaviours: str) -> None:
        with self._lock:
            self.behaviours = list(behaviours)

    def start(self) -> CallbackReceiver:
        self._server = LoopbackServer((HOST, self.port), self._answer, "tf-retainer-callback-receiver")
        self._server.serve("tf-local-callbacks")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _answer(self, request: Request) -> Answer:
        if request.method == "GET":
            with self._lock:
                return Answer.json(200, self.received)
        with self._lock:
            self.arrivals += 1
        status, delay = self._next()
        if delay:
            time.sleep(delay)
        self._record(request.sent_headers, request.body, status)
        return Answer(status, b"", None)

    def _next(self) -> tuple[int, float]:
        with self._lock:
            behaviour = (
                (self.behaviours.pop(0) if len(self.behaviours) > 1 else self.behaviours[0])
                if self.behaviours
                else "200"
            )
        if behaviour.startswith("slow:"):
            return 200, float(behaviour.split(":", 1)[1])
        return int(behaviour), 0.0

    def _record(self, headers: dict[str, str], body: bytes, status: int) -> None:
        lowered = {name.lower(): value for name, value in headers.items()}
        timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
        signed = lowered.get(SIGNATURE_HEADER.lower(), "")
        entry = {
            "event_id": lowered.get(EVENT_ID_HEADER.lower()),
            "timestamp": timestamp,
            "signature_valid": bool(self.secret) and verify(self.secret, timestamp, body, signed, now=time.time()),
            "answered": status,
            "body": json.loads(body or b"null"),
        }
        with self._lock:
            self.received.append(entry)
