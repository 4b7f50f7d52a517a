"""An HTTP exchange with an outside provider captured as evidence: the request exactly as it went and the
answer as it came, every secret (and, for a screen, the phone number) replaced wherever it appears, bodies
clipped to what a DynamoDB item holds. Shared by the TrustedForm client and the screening providers.

httpx is imported by the callers when they first send, never by this module's import.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tf_retainer.domain.exchange import ErrorKind, Exchange

if TYPE_CHECKING:
    import httpx

REDACTED = "[REDACTED]"
MAX_STORED_BODY = 100_000  # characters: a DynamoDB item holds 400 KB
USER_AGENT = "tf-retainer/0.1"

Scrub = Callable[[str], str]


class LazyHttp:
    """One long-lived httpx client (one connection pool, reused across invocations), built on the first
    call: redirects never followed, never the environment's proxies or .netrc (a proxy would see the key)."""

    def __init__(self, *, connect_timeout: float, transport: httpx.BaseTransport | None = None) -> None:
        self.connect_timeout = connect_timeout
        self._transport = transport
        self._client: httpx.Client | None = None
        self._building = threading.Lock()  # a retry batch's threads may send their first calls at once

    def get(self) -> httpx.Client:
        if self._client is None:
            with self._building:
                if self._client is None:
                    self._client = self._new()
        return self._client

    def _new(self) -> httpx.Client:
        import httpx

        from tf_retainer.runtime.observability import trace_httpx

        trace_httpx()
        return httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(10.0, connect=self.connect_timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            transport=self._transport,
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def redactor(secrets: tuple[str, ...], also: Scrub | None = None) -> Scrub:
    """Replace each secret (longest first: one may contain another) with REDACTED, then ``also``."""
    ordered = sorted((secret for secret in secrets if secret), key=len, reverse=True)

    def scrub(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, REDACTED)
        return also(text) if also else text

    return scrub


def clip(text: str) -> str:
    return text if len(text) <= MAX_STORED_BODY else text[:MAX_STORED_BODY] + "…[truncated]"


def capture_request(request: httpx.Request, scrub: Scrub, *, hidden_headers: dict[str, str]) -> dict[str, Any]:
    """``hidden_headers``: header name (lower case) -> what is stored instead of its value."""
    headers = {name: hidden_headers.get(name) or scrub(value) for name, value in request.headers.items()}
    return {
        "method": request.method,
        "url": scrub(str(request.url)),
        "headers": headers,
        "body": scrub(request.content.decode("utf-8", "replace")),
    }


def capture_response(response: httpx.Response, scrub: Scrub) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "reason": response.reason_phrase,
        "http_version": response.http_version,
        "headers": {name: scrub(value) for name, value in response.headers.items()},
        "body": clip(scrub(response.text)),
    }


def failed(
    attempt: int, started_at: str, started: float, request: dict[str, Any], kind: ErrorKind, detail: str
) -> Exchange:
    return Exchange(
        attempt=attempt,
        started_at=started_at,
        duration_ms=(time.perf_counter() - started) * 1000,
        request=request,
        error=kind,
        error_detail=detail,
    )


def send(
    http: httpx.Client,
    request: httpx.Request,
    *,
    captured: dict[str, Any],
    scrub: Scrub,
    attempt: int,
    deadline: float,
    connect_timeout: float,
    min_timeout: float,
) -> Exchange:
    """Send ``request`` (already on record as ``captured``) with what is left until ``deadline`` (at least
    ``min_timeout``), and capture what came back, or how it failed."""
    import httpx

    timeout = max(min_timeout, deadline - time.monotonic())
    request.extensions["timeout"] = httpx.Timeout(timeout, connect=min(connect_timeout, timeout)).as_dict()
    started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    started = time.perf_counter()
    try:
        response = http.send(request)
        response.read()
    except httpx.TimeoutException as exc:
        return failed(attempt, started_at, started, captured, "timeout", type(exc).__name__)
    except httpx.TransportError as exc:
        return failed(attempt, started_at, started, captured, "connection", type(exc).__name__)
    exchange = Exchange(
        attempt=attempt,
        started_at=started_at,
        duration_ms=(time.perf_counter() - started) * 1000,
        request=captured,
        response=capture_response(response, scrub),
    )
    try:
        exchange._json = response.json()
    except ValueError:
        exchange._json = None
    return exchange
