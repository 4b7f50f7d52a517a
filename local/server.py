"""The leads API over real HTTP on 127.0.0.1: each request goes through ``LocalApiGateway.handle``.

``LocalApiGateway`` (local/apigw.py) does what API Gateway does (routes, the REQUEST authorizer,
gateway responses, the proxy event); this module only turns HTTP requests into its calls and its
answers back into HTTP responses.

Paths: the deployed API lives under its stage (``https://.../dev/leads``). Locally ``/leads`` is the
path, and ``/<stage>/leads`` (``/local/leads``) is accepted too, so a base URL copied with a stage
still works. Any other prefix is an unknown path (404, as API Gateway answers).

Besides the API, ``GET /openapi.json`` is the API's OpenAPI description (generated from the intake
function's code, as ``docs/openapi.json``) and ``GET /docs`` a page to browse it (Swagger UI as Powertools
ships it, served from here: no network needed). The deployed API serves neither.

Bodies larger than API Gateway's 10 MB payload limit are refused with 413 before any function runs.
A function that raises gets the template's DEFAULT_5XX gateway response with status 502, as a Lambda
proxy integration error does on AWS.

One log line per request goes to stderr: method, path, status, milliseconds, and ``lead_id`` /
``status`` / ``reason`` when the JSON answer carries them. Never the body, headers, query string,
contact details or keys.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import AbstractContextManager
from typing import Any

from local.apigw import ApiResponse, LocalApiGateway
from local.functions import failure_summary
from local.loopback import ALL_METHODS, Answer, LoopbackServer, Request

log = logging.getLogger("tf_retainer.local.api")

# API Gateway's maximum payload size.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
# Hop-by-hop or computed here: never copied from a function's answer.
_SKIPPED_RESPONSE_HEADERS = frozenset({"content-length", "connection", "transfer-encoding", "keep-alive"})
# Keys of the JSON answer worth a place in the request log line (identifiers and outcomes only).
_LOGGED_ANSWER_KEYS = ("lead_id", "status", "reason")


class LocalApiServer(LoopbackServer):
    """HTTP in front of a :class:`LocalApiGateway`: a thread per connection.

    ``invocation_lock`` is held around each ``gateway.handle`` call. When the gateway runs functions in
    this process (tests, the default), it must be one lock for every invocation in the process, the
    API's and the retry poller's alike: Lambda runs one invocation per container at a time, and
    Powertools' Logger and Metrics are process-global (their keys and the metric set would mix between
    overlapping invocations). The local stack's gateway runs functions in a
    :class:`local.functions.WorkerPool` (a process per container) and passes ``contextlib.nullcontext()``:
    requests then run concurrently, as many at once as the pool has workers.
    """

    # listen() backlog: a burst of connections waits to be accepted instead of being reset.
    request_queue_size = 256

    def __init__(
        self,
        gateway: LocalApiGateway,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        invocation_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.gateway = gateway
        self.invocation_lock = invocation_lock if invocation_lock is not None else threading.Lock()
        self._description_lock = threading.Lock()
        self._description_json: str | None = None
        super().__init__(
            (host, port), self._answer, "tf-retainer-local", max_body=MAX_REQUEST_BYTES, methods=ALL_METHODS
        )

    def _answer(self, request: Request) -> Answer:
        path = self.strip_stage(request.path)
        # API Gateway keeps the last value of a repeated header or query parameter.
        query = {name: values[-1] for name, values in request.query.items()}
        response = self.published(request.method, path, query) or self.dispatch(
            request.method, path, request.sent_headers, request.body, query, request.client
        )
        headers, content_type = {}, None
        for name, value in response.headers.items():
            if name.lower() == "content-type":
                content_type = value
            elif name.lower() not in _SKIPPED_RESPONSE_HEADERS:
                headers[name] = value
        return Answer(response.status, response.body, content_type, headers)

    def refusal(self, status: int) -> Answer:
        """API Gateway's answers to a payload over its limit, or a request it cannot read."""
        if status == 413:
            return Answer(413, b'{"message":"Request Too Long"}')
        return Answer(400, b'{"message":"Bad Request"}')

    def answered(self, request: Request, answer: Answer | None, seconds: float) -> None:
        """One line per request: method, path, status, milliseconds, and the answer's identifiers."""
        if answer is not None:
            path, ms = self.strip_stage(request.path), seconds * 1000
            log.info("%s %s %d %.0fms%s", request.method, path, answer.status, ms, _answer_summary(answer))

    def published(self, method: str, path: str, query: dict[str, str]) -> ApiResponse | None:
        """The API's description (``/openapi.json``) and a page to browse it (``/docs``), generated from the
        intake function's code; None for every other request. Not API Gateway routes: the local stack's own."""
        from local import openapi

        if method not in ("GET", "HEAD"):
            return None
        if path == "/openapi.json" or (path == openapi.DOCS_PATH and query.get("format") == "json"):
            return ApiResponse(200, {"Content-Type": "application/json"}, self._description().encode())
        if path == openapi.DOCS_PATH:
            page = openapi.docs_page(self._description())
            return ApiResponse(200, {"Content-Type": "text/html; charset=utf-8"}, page.encode())
        if found := openapi.asset(path):
            return ApiResponse(200, {"Content-Type": found[1], "Cache-Control": "max-age=3600"}, found[0])
        return None

    def _description(self) -> str:
        with self._description_lock:  # generated once, on first request: imports the intake function
            if self._description_json is None:
                from local.openapi import generate

                self._description_json = generate()
            return self._description_json

    def strip_stage(self, path: str) -> str:
        """``/local/leads`` -> ``/leads`` (see the module docstring)."""
        prefix = f"/{self.gateway.stage}"
        if path == prefix:
            return "/"
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
        return path

    def dispatch(
        self, method: str, path: str, headers: dict[str, str], body: bytes, query: dict[str, str], source_ip: str
    ) -> ApiResponse:
        with self.invocation_lock:
            try:
                return self.gateway.handle(method, path, headers, body, source_ip=source_ip, query=query or None)
            except Exception as exc:  # a function error: API Gateway answers 502 with its 5XX template
                log.error("function error %s", failure_summary(exc))
                return self.internal_error()

    def internal_error(self) -> ApiResponse:
        spec = self.gateway.gateway_responses.get("DEFAULT_5XX", {})
        template = spec.get("ResponseTemplates", {}).get("application/json", '{"message":$context.error.messageString}')
        body = template.replace("$context.error.messageString", json.dumps("Internal server error"))
        return ApiResponse(502, {"Content-Type": "application/json"}, body.encode())


def _answer_summary(answer: Answer) -> str:
    if "json" not in (answer.content_type or ""):
        return ""
    try:
        parsed = json.loads(answer.body)
    except ValueError:
        return ""
    if not isinstance(parsed, dict):
        return ""
    parts = [f"{key}={parsed[key]}" for key in _LOGGED_ANSWER_KEYS if isinstance(parsed.get(key), str)]
    return (" " + " ".join(parts)) if parts else ""


class ApiServerThread:
    """A :class:`LocalApiServer` served from a background thread; ``stop()`` lets in-flight requests end."""

    def __init__(self, server: LocalApiServer) -> None:
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> str:
        return self.server.serve("tf-local-api", poll_interval=0.1)

    def stop(self, timeout: float = 5.0) -> None:
        self.server.stop(timeout)


def serve(
    gateway: LocalApiGateway | None = None,
    host: str = "127.0.0.1",
    port: int = 3000,
    *,
    invocation_lock: AbstractContextManager[Any] | None = None,
) -> ApiServerThread:
    """Start the API on ``host:port`` (0 picks a free port) in a background thread."""
    server = LocalApiServer(gateway or LocalApiGateway(), host, port, invocation_lock=invocation_lock)
    thread = ApiServerThread(server)
    thread.start()
    return thread


__all__ = ["MAX_REQUEST_BYTES", "ApiServerThread", "LocalApiServer", "serve"]
