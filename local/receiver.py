"""A vendor's callback endpoint, on 127.0.0.1: records every callback, checks its signature with the
documented recipe, and answers as scripted (200 by default; e.g. ``["503", "200"]`` or ``"slow:3"``).

``GET /_receiver/callbacks`` lists what arrived (newest last) with ``signature_valid`` for each.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tf_retainer.events.callbacks import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

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
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{HOST}:{self._server.server_address[1]}/callbacks"

    def script(self, *behaviours: str) -> None:
        with self._lock:
            self.behaviours = list(behaviours)

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.arrivals += 1
                status, delay = receiver._next()
                if delay:
                    time.sleep(delay)
                receiver._record(dict(self.headers.items()), body, status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                with receiver._lock:
                    payload = json.dumps(receiver.received).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="tf-local-callbacks", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

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
