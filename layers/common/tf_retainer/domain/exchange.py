"""One HTTP exchange with an outside service (TrustedForm, a screening provider), as sent and as received,
key redacted: the evidence the service keeps of every call, since the providers keep no request logs for us.

A TrustedForm exchange names no provider (every exchange stored before the screens is one); any other names
its ``provider`` and, for a screen, the ``screen`` it answered and what the call cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

ErrorKind = Literal["timeout", "connection"]


@dataclass(slots=True)
class Exchange:
    """One HTTP exchange, as sent and as received (key redacted)."""

    attempt: int
    started_at: str
    duration_ms: float
    request: dict[str, Any]
    response: dict[str, Any] | None = None
    error: ErrorKind | None = None
    error_detail: str | None = None
    call_id: str | None = None  # pairs the exchange with its request, recorded before it was sent
    provider: str | None = None  # None: TrustedForm
    screen: str | None = None
    cost: float | None = None  # dollars, as the buyer's settings price the provider's call
    _json: Any = field(default=None, repr=False)

    @property
    def status(self) -> int | None:
        return self.response["status"] if self.response else None

    def json(self) -> Any:
        """The response body parsed as JSON, or None when it is not JSON."""
        return self._json

    def header(self, name: str) -> str | None:
        if not self.response:
            return None
        return self.response["headers"].get(name.lower())

    def retry_after(self) -> float | None:
        """The seconds the answer's Retry-After asks to wait: given as seconds or as an HTTP date (RFC 9110
        allows both); None without one, or with one that is neither."""
        value = (self.header("retry-after") or "").strip()
        if value.isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())

    def to_item(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
            "request": self.request,
            "response": self.response,
            "error": self.error,
            "error_detail": self.error_detail,
            "call_id": self.call_id,
            **{
                name: value
                for name, value in (("provider", self.provider), ("screen", self.screen), ("cost", self.cost))
                if value is not None
            },
        }

    @property
    def is_trustedform(self) -> bool:
        return self.provider is None
