"""TrustedForm Certificate API v4 client: one POST per retain, the raw exchange kept as evidence.

ActiveProspect keeps no request logs, so every exchange is captured as it went over the wire, with
the API key redacted wherever it could appear.

httpx is imported when the first retain is sent, not with this module: the functions that never call
TrustedForm (the sweeper, the call gate) do not pay for it (~15 ms of import and ~30 ms to build the
client's connection pool and TLS context).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tf_retainer.domain.exchange import ErrorKind, Exchange
from tf_retainer.runtime.observability import trace_httpx

if TYPE_CHECKING:
    import httpx

API_VERSION = "4.0"
REDACTED = "[REDACTED]"
MAX_STORED_BODY = 100_000  # characters: a DynamoDB item holds 400 KB
USER_AGENT = "tf-retainer/0.1"
# A call is never given less than this, however late it is sent: a shorter one would time out and be billed.
MIN_TIMEOUT_SECONDS = 0.5


class TrustedFormClient:
    """A long-lived client: one connection pool reused across invocations, redirects never followed."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._connect_timeout = connect_timeout
        self._transport = transport
        self._client: httpx.Client | None = None
        self._building = threading.Lock()  # a retry batch's threads may send their first retains at once

    @property
    def _http(self) -> httpx.Client:
        """Built on the first retain, then reused for the container's life."""
        if self._client is None:
            with self._building:
                if self._client is None:
                    self._client = self._new_http()
        return self._client

    def _new_http(self) -> httpx.Client:
        import httpx

        trace_httpx()  # this client makes the service's only calls to TrustedForm
        return httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(10.0, connect=self._connect_timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            transport=self._transport,
            headers={"User-Agent": USER_AGENT},
            # Never the environment's proxies or .netrc: a proxy would see the Authorization header.
            trust_env=False,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def retain(
        self,
        cert_id: str,
        *,
        api_key: str,
        reference: str,
        vendor: str,
        match_lead: dict[str, str] | None,
        insights: tuple[str, ...] = (),
        scans: dict[str, list[str]] | None = None,
        verify: dict[str, Any] | None = None,
        retain: bool = True,
        deadline: float,
        attempt: int,
        before_send: Callable[[dict[str, Any]], None] | None = None,
    ) -> Exchange:
        """One POST with the operations asked for: match_lead, retain, insights (+ page scans), verify.

        Each operation is billed: ``retain=False`` asks what the buyer needs to decide without paying to
        retain, and ``match_lead=None`` without matching (TrustedForm takes no retain without
        ``match_lead``: a retaining call always carries it). ``before_send`` gets the request exactly
        as it will go (key redacted) before it is sent; if it raises, nothing is sent. The call may take what
        is left until ``deadline`` (on time.monotonic's clock) once ``before_send`` has returned.
        """

        body: dict[str, Any] = {}
        if match_lead:
            body["match_lead"] = match_lead
        if retain:
            body["retain"] = {"reference": reference, "vendor": vendor}
        if insights or scans:
            body["insights"] = {"properties": sorted(insights), **({"scans": scans} if scans else {})}
        if verify is not None:
            body["verify"] = verify
        request = self._http.build_request(
            "POST",
            f"{self._base_url}/{cert_id}",
            json=body,
            headers={
                "Accept": "application/json",
                "Api-Version": API_VERSION,
                "Authorization": _basic_auth(api_key),
            },
        )
        return self._send(request, api_key=api_key, attempt=attempt, deadline=deadline, before_send=before_send)

    def _send(
        self,
        request: httpx.Request,
        *,
        api_key: str,
        attempt: int,
        deadline: float,
        before_send: Callable[[dict[str, Any]], None] | None,
    ) -> Exchange:
        import httpx

        captured = _capture_request(request, api_key)
        if before_send is not None:
            before_send(captured)
        timeout = max(MIN_TIMEOUT_SECONDS, deadline - time.monotonic())  # what is left once it is on record
        request.extensions["timeout"] = httpx.Timeout(timeout, connect=min(self._connect_timeout, timeout)).as_dict()
        started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        started = time.perf_counter()
        try:
            response = self._http.send(request)
            response.read()
        except httpx.TimeoutException as exc:
            return _failed(attempt, started_at, started, captured, "timeout", type(exc).__name__)
        except httpx.TransportError as exc:
            return _failed(attempt, started_at, started, captured, "connection", type(exc).__name__)
        exchange = Exchange(
            attempt=attempt,
            started_at=started_at,
            duration_ms=(time.perf_counter() - started) * 1000,
            request=captured,
            response=_capture_response(response, api_key),
        )
        try:
            exchange._json = response.json()
        except ValueError:
            exchange._json = None
        return exchange


def _basic_auth(api_key: str) -> str:
    return "Basic " + base64.b64encode(f"API:{api_key}".encode()).decode()


def _redact(text: str, api_key: str) -> str:
    if not api_key:
        return text
    for secret in (api_key, _basic_auth(api_key).removeprefix("Basic ")):
        text = text.replace(secret, REDACTED)
    return text


def _clip(text: str) -> str:
    return text if len(text) <= MAX_STORED_BODY else text[:MAX_STORED_BODY] + "…[truncated]"


def _capture_request(request: httpx.Request, api_key: str) -> dict[str, Any]:
    headers = {
        name: (f"Basic {REDACTED}" if name == "authorization" else _redact(value, api_key))
        for name, value in request.headers.items()
    }
    return {
        "method": request.method,
        "url": str(request.url),
        "headers": headers,
        "body": _redact(request.content.decode("utf-8", "replace"), api_key),
    }


def _capture_response(response: httpx.Response, api_key: str) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "reason": response.reason_phrase,
        "http_version": response.http_version,
        "headers": {name: _redact(value, api_key) for name, value in response.headers.items()},
        "body": _clip(_redact(response.text, api_key)),
    }


def _failed(
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
