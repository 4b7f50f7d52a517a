"""What every screening provider's adapter shares: one call per screen of one number, sent only to the
provider's configured host (its production host or a loopback simulator: runtime/screening_settings.py),
captured as evidence with the key and the number redacted, and read into ``ScreenAnswer``: normalised
findings, or the fault that kept the provider from answering.

A subclass builds the request for a screen (``request``) and reads a 200 into findings (``findings``);
the statuses every provider shares (429, 401/403, 5xx, timeouts) are read here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, quote_plus, urlsplit

from tf_retainer.domain.screens import Provider, Screen, redact_number
from tf_retainer.ports.screening import ScreenAnswer, ScreenFault
from tf_retainer.providers.capture import REDACTED, LazyHttp, capture_request, redactor, send

if TYPE_CHECKING:
    import httpx

    from tf_retainer.domain.exchange import Exchange

MIN_TIMEOUT_SECONDS = 0.5


class Unreadable(ValueError):
    """A 200 whose body is not the provider's documented answer."""


class ScreeningAdapter:
    PROVIDER: ClassVar[Provider]
    CREDENTIALS: ClassVar[tuple[str, ...]]  # the fields of its key's secret (JSON)
    # header (lower case) -> what the evidence shows instead of its value
    HIDDEN_HEADERS: ClassVar[dict[str, str]] = {}
    ACCOUNT_STATUSES: ClassVar[frozenset[int]] = frozenset({401, 403})

    def __init__(
        self,
        base_urls: Mapping[str, str],
        *,
        connect_timeout: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._bases = {name: url.rstrip("/") for name, url in base_urls.items()}
        self._hosts = {urlsplit(url).netloc for url in self._bases.values()}
        self._pool = LazyHttp(connect_timeout=connect_timeout, transport=transport)

    def close(self) -> None:
        self._pool.close()

    def request(
        self, screen: Screen, national: str, credentials: Mapping[str, str], consent_date: date | None
    ) -> httpx.Request:
        raise NotImplementedError

    def findings(self, screen: Screen, exchange: Exchange, consent_date: date | None) -> dict[str, Any]:
        """What a 200 says (``exchange.json()``), normalised; Unreadable when it is not the documented answer,
        AccountRefused when it is the provider's way of refusing our key."""
        raise NotImplementedError

    def build(self, method: str, base: str, path: str, **kwargs: Any) -> httpx.Request:
        return self._pool.get().build_request(method, self._bases[base] + path, **kwargs)

    def check(
        self,
        screen: Screen,
        national: str,
        *,
        credentials: Mapping[str, str],
        consent_date: date | None,
        deadline: float,
        attempt: int,
        before_send: Callable[[dict[str, Any]], None] | None = None,
    ) -> ScreenAnswer:
        request = self.request(screen, national, credentials, consent_date)
        exchange = self.exchange(
            request,
            credentials,
            also=lambda text: redact_number(text, national),
            before_send=before_send,
            attempt=attempt,
            deadline=deadline,
        )
        exchange.provider, exchange.screen = self.PROVIDER.value, screen.value
        return self.answer(screen, exchange, consent_date)

    def exchange(
        self,
        request: httpx.Request,
        credentials: Mapping[str, str],
        *,
        also: Callable[[str], str],
        before_send: Callable[[dict[str, Any]], None] | None,
        attempt: int,
        deadline: float,
    ) -> Exchange:
        """Send ``request`` to the configured host only, on record first (``before_send``) with every form
        of the key redacted and then ``also`` (what else the request must not show in clear)."""
        if request.url.netloc.decode() not in self._hosts:  # the key goes to the configured host or nowhere
            raise ValueError(f"{self.PROVIDER}: refusing to send a request to {request.url.host}")
        secrets = tuple(
            form for value in credentials.values() for form in (value, quote(value, safe=""), quote_plus(value))
        )
        scrub = redactor(secrets, also=also)
        captured = capture_request(request, scrub, hidden_headers={**self.HIDDEN_HEADERS})
        if before_send is not None:
            before_send(captured)
        return send(
            self._pool.get(),
            request,
            captured=captured,
            scrub=scrub,
            attempt=attempt,
            deadline=deadline,
            connect_timeout=self._pool.connect_timeout,
            min_timeout=MIN_TIMEOUT_SECONDS,
        )

    def answer(self, screen: Screen, exchange: Exchange, consent_date: date | None) -> ScreenAnswer:
        if exchange.error == "timeout":
            return ScreenAnswer(exchange, fault=ScreenFault.TIMEOUT)
        if exchange.error is not None:
            return ScreenAnswer(exchange, fault=ScreenFault.UNAVAILABLE)
        status = exchange.status or 0
        if status == 429:
            return ScreenAnswer(exchange, fault=ScreenFault.THROTTLED, retry_after=exchange.retry_after())
        if status in self.ACCOUNT_STATUSES:
            return ScreenAnswer(exchange, fault=ScreenFault.ACCOUNT)
        if status >= 500:
            return ScreenAnswer(exchange, fault=ScreenFault.UNAVAILABLE)
        if status != 200:
            return ScreenAnswer(exchange, fault=ScreenFault.UNEXPECTED)
        try:
            return ScreenAnswer(exchange, findings=self.findings(screen, exchange, consent_date))
        except AccountRefused:
            return ScreenAnswer(exchange, fault=ScreenFault.ACCOUNT)
        except (Unreadable, KeyError, TypeError, ValueError):
            return ScreenAnswer(exchange, fault=ScreenFault.UNEXPECTED)


class AccountRefused(Exception):
    """A 200 that is the provider's refusal of our key (DNC.com answers its login page)."""


__all__ = ["REDACTED", "AccountRefused", "ScreeningAdapter", "Unreadable"]
