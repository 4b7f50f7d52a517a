"""The one hand-written HTTP server of the local stack: a threaded HTTP/1.1 server on 127.0.0.1 that
hands every request, as a :class:`Request`, to one callable and writes back its :class:`Answer` (or drops
the connection unanswered on None: a hang, a drop).

Under the leads API (``local.server``), the TrustedForm simulator (``local.simulator``), the provider
simulators (``local.sims.http``) and the vendor callback receiver (``local.receiver``). It brings what each
of them needs the same way: keep-alive, TCP_NODELAY, request bodies up to ``max_body`` (Content-Length or
chunked; 413 past it), a thread per connection, a listen backlog for bursts, and ``stop()`` that cuts
open connections (a hung request included).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.http_body import BodyTooLarge, read_body

MAX_BODY_BYTES = 1 << 20


@dataclass
class Answer:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"  # None: no Content-Type header
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
        return cls(status, json.dumps(payload).encode(), "application/json", dict(headers or {}))

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Answer:
        return cls(status, text.encode(), content_type)


@dataclass
class Request:
    method: str
    path: str  # without the query
    raw_path: str  # as sent, query included
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    sent_headers: dict[str, str] = field(default_factory=dict)  # names as sent (a repeated one: its last value)
    client: str = ""  # the peer's address
    # What a provider simulator (local.sims.http) notes while it answers:
    params: dict[str, str] = field(default_factory=dict)  # route parameters
    subjects: list[str] = field(default_factory=list)  # set by the handler, normalised
    secrets: list[str] = field(default_factory=list)  # credentials seen, redacted from the log
    fault: str | None = None

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))

    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) from an ``Authorization: Basic`` header; None without a readable one."""
        scheme, _, token = (self.header("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items()}


# Every method a handler may see; a server answers ``methods`` of them (501 for the rest).
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class LoopbackServer(ThreadingHTTPServer):
    """``answer`` for every request to ``address``; ``name`` is its Server header.

    Subclasses may change ``refusal`` (what a request that cannot be read is answered) and ``answered``
    (called after each answer, e.g. for a request log)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default backlog of 5 refuses connections when a client opens many at once
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        answer: Callable[[Request], Answer | None],
        name: str,
        *,
        max_body: int = MAX_BODY_BYTES,
        methods: Iterable[str] = ("GET", "POST"),
    ) -> None:
        self.answer = answer
        self.name = name
        self.max_body = max_body
        self.methods = frozenset(methods)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(self, thread_name: str, poll_interval: float = 0.05) -> str:
        """Serve from a daemon thread; returns the base URL."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": poll_interval}, name=thread_name, daemon=True
        )
        self._thread.start()
        return self.url

    def refusal(self, status: int) -> Answer | None:
        """The answer to a request whose body is too large (413) or unreadable (400); None drops it."""
        return Answer.json(413, {"error": "request body too large"}) if status == 413 else None

    def answered(self, request: Request, answer: Answer | None, seconds: float) -> None:
        """After each request (its body empty when it could not be read)."""

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and cut every open connection (a hung request included)."""
        if self._thread is not None:
            self.shutdown()
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes; with Nagle's algorithm the body waits for the client's
    # delayed ACK, adding ~40 ms to every request on a kept-alive connection
    disable_nagle_algorithm = True
    sys_version = ""
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:  # the servers log their own lines
        pass

    def version_string(self) -> str:
        return self.server.name

    def read_body(self) -> bytes:
        """The request body (Content-Length or chunked), at most the server's max_body (else BodyTooLarge)."""
        return read_body(self.rfile, self.headers, self.server.max_body)

    def _dispatch(self) -> None:
        started = time.perf_counter()
        method = self.command
        if method not in self.server.methods:
            self.send_error(501, f"Unsupported method ({method!r})")
            return
        parts = urlsplit(self.path)
        request = Request(
            method,
            parts.path or "/",
            self.path,
            parse_qs(parts.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            b"",
            sent_headers=dict(self.headers.items()),
            client=str(self.client_address[0]),
        )
        try:
            request.body = self.read_body()
            answer = self.server.answer(request)
        except BodyTooLarge:
            answer = self.server.refusal(413)
            self.close_connection = True  # a body we did not read: the connection cannot go on
        except (ValueError, OSError):
            answer = self.server.refusal(400)
            self.close_connection = True
        if answer is None:  # unanswered (hang, drop, stopping): the connection cannot go on
            self.close_connection = True
        else:
            self._send(answer)
        self.server.answered(request, answer, time.perf_counter() - started)

    def _send(self, answer: Answer) -> None:
        try:
            self.send_response(answer.status)
            if answer.content_type is not None:
                self.send_header("Content-Type", answer.content_type)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch
