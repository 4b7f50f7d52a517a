"""The transport under ``local.sims.http``: a threaded HTTP/1.1 server that hands every request, as a
``Request``, to one callable and writes back the ``Answer`` (or drops the connection on None)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import threading
from collections.abc import Callable
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
    content_type: str = "application/json"
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
    params: dict[str, str] = field(default_factory=dict)
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


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default backlog of 5 refuses connections when a client opens many at once
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], answer: Callable[[Request], Answer | None], name: str) -> None:
        self.answer = answer
        self.name = name
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def stop(self) -> None:
        """Stop serving and cut every open connection (a hung request included)."""
        self.shutdown()
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes; with Nagle's algorithm the body waits for the client's
    # delayed ACK, adding ~40 ms to every request on a kept-alive connection
    disable_nagle_algorithm = True
    sys_version = ""
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:  # the simulators log their own lines
        pass

    def version_string(self) -> str:
        return f"{self.server.name}-simulator"

    def read_body(self) -> bytes:
        """The request body (Content-Length or chunked), at most MAX_BODY_BYTES (else BodyTooLarge)."""
        return read_body(self.rfile, self.headers, MAX_BODY_BYTES)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        answer: Answer | None = None
        try:
            body = self.read_body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            query = parse_qs(parts.query, keep_blank_values=True)
            answer = self.server.answer(Request(method, parts.path, self.path, query, headers, body))
        except BodyTooLarge:
            answer = Answer.json(413, {"error": "request body too large"})
        except (ValueError, OSError):
            pass
        if answer is None or answer.status == 413:
            # unanswered (hang, drop, stopping), or a body we did not read: the connection cannot go on
            self.close_connection = True
        if answer is None:
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")
