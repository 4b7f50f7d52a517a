"""TrustedForm Certificate API v4 client: one POST per retain, the raw exchange kept as evidence.

ActiveProspect keeps no request logs, so every exchange is captured as it went over the wire, with
the API key redacted wherever it could appear.

httpx is imported when the first retain is sent, not with this module: the functions that never call
TrustedForm (the sweeper, the call gate) do not pay for it (~15 ms of import and ~30 ms to build the
client's connection pool and TLS context).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tf_retainer.domain.exchange import Exchange
from tf_retainer.providers.capture import MAX_STORED_BODY, REDACTED, LazyHttp, capture_request, redactor, send

if TYPE_CHECKING:
    import httpx

API_VERSION = "4.0"
__all__ = ["API_VERSION", "MAX_STORED_BODY", "REDACTED", "TrustedFormClient"]
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
        self._pool = LazyHttp(connect_timeout=connect_timeout, transport=transport)

    @property
    def _http(self) -> httpx.Client:
        """Built on the first retain, then reused for the container's life (this client makes the service's
        only calls to TrustedForm)."""
        return self._pool.get()

    def close(self) -> None:
        self._pool.close()

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
        scrub = redactor((api_key, _basic_auth(api_key).removeprefix("Basic ")))
        captured = capture_request(request, scrub, hidden_headers={"authorization": f"Basic {REDACTED}"})
        if before_send is not None:
            before_send(captured)
        return send(
            self._http,
            request,
            captured=captured,
            scrub=scrub,
            attempt=attempt,
            deadline=deadline,
            connect_timeout=self._connect_timeout,
            min_timeout=MIN_TIMEOUT_SECONDS,
        )


def _basic_auth(api_key: str) -> str:
    return "Basic " + base64.b64encode(f"API:{api_key}".encode()).decode()
