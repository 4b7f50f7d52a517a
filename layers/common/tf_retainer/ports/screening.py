"""The screening ports: the providers that screen a phone number (one port, an adapter per provider under
``providers/``), their keys, the per-number results every lead shares, and the sealed phone number.

Implemented by ``providers/screening/`` (Blacklist Alliance, DNC.com, Twilio Lookup; Jornaya, the second
consent record, behind its own port), ``aws/secrets.py``
(the keys), ``store/screen_results.py`` (DynamoDB) and ``aws/contact_key.py`` (KMS); built in wiring.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Protocol

from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.screens import Provider, Screen, ScreenResult


class ScreenFault(StrEnum):
    """Why a provider gave no answer (``findings`` None)."""

    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"  # no connection, or a 5xx
    THROTTLED = "throttled"  # 429 (Retry-After honoured)
    ACCOUNT = "account"  # our key refused (401/403, DNC.com's login page): the account's trouble, alarmed
    UNEXPECTED = "unexpected"  # an answer we cannot read, or our request refused (400): alarmed


@dataclass(frozen=True, slots=True)
class ScreenAnswer:
    """One provider call: the exchange as evidence (key and number redacted) and what it says, normalised."""

    exchange: Exchange
    findings: dict[str, Any] | None = None
    fault: ScreenFault | None = None
    retry_after: float | None = None


class ScreeningProvider(Protocol):
    """One provider's API: one call per screen of one number, captured as evidence.

    ``national``: the 10-digit number. ``consent_date``: the date a reassigned-number check asks about.
    ``before_send`` gets the request exactly as it will go (key and number redacted) before it is sent; if
    it raises, nothing is sent. The call may take what is left until ``deadline`` (time.monotonic)."""

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
    ) -> ScreenAnswer: ...

    def close(self) -> None: ...


class ConsentRecordProvider(Protocol):
    """A second consent record's provider (Jornaya's TCPA Guardian): one audit of the lead's token, captured
    as evidence with the key and the lead data redacted.

    ``lead_data``: the lead's contact details in clear by Jornaya's labels (``email``, ``phone1``), sent for
    its data-integrity check (only what is known now: a retry has no email). ``brand_names``: the brands the
    consent must name (at most 30). ``source``: who sent the lead (Jornaya's ``lpc``)."""

    def audit(
        self,
        token: str,
        *,
        source: str,
        lead_data: Mapping[str, str],
        brand_names: Sequence[str],
        credentials: Mapping[str, str],
        deadline: float,
        attempt: int,
        before_send: Callable[[dict[str, Any]], None] | None = None,
    ) -> ScreenAnswer: ...

    def close(self) -> None: ...


class ProviderCredentials(Protocol):
    """A provider's key (its secret's fields); ``force`` re-reads it. Raises ApiKeyUnavailable."""

    def __call__(self, provider: Provider, force: bool) -> Mapping[str, str]: ...


class SealUnavailable(RuntimeError):
    """The KMS key could not seal or unseal a number."""


class ContactSeal(Protocol):
    """A phone number sealed for one lead (KMS, the lead's id as its context): only that lead's screens can
    read it back. Raises SealUnavailable."""

    def seal(self, national: str, lead_id: str) -> str: ...

    def unseal(self, sealed: str, lead_id: str) -> str: ...


@dataclass(frozen=True, slots=True)
class ResultKey:
    """One screen of one number (and, for a reassigned-number check, of one consent date)."""

    screen: Screen
    number_key: str
    consent_date: str | None = None


@dataclass(frozen=True, slots=True)
class StoredResult:
    """The per-number result as stored: the last answer, and who is asking the provider now (a lease)."""

    result: ScreenResult | None
    lease_owner: str | None = None
    lease_until: str | None = None
    lapsed_owner: str | None = None  # a claim's: the lease is the caller's, taken over from this lapsed holder


class ScreenResults(Protocol):
    """The last answer about each number, shared by every lead that carries it, and the lease that lets one
    caller at a time ask the provider: one call per number per screen per window, however many leads."""

    def read(self, key: ResultKey) -> StoredResult | None: ...

    def claim(
        self, key: ResultKey, *, owner: str, now: str, until: str, fresh_after: str, expires: int
    ) -> StoredResult | None:
        """Take the lease (None) unless an answer newer than ``fresh_after`` is stored or another caller's
        lease runs past ``now``: then what stopped it. A lease taken over from a holder whose lease lapsed (it
        never let go: it died) is the caller's too, said with ``lapsed_owner``. ``expires``: the item's TTL."""
        ...

    def store(self, key: ResultKey, result: ScreenResult, *, owner: str, expires: int) -> None: ...

    def release(self, key: ResultKey, *, owner: str) -> None: ...


@dataclass(frozen=True)
class Screening:
    """What the screens work with; ``adapters`` holds the number's providers SCREENS names, ``consent_record``
    the LeadiD audit's (SCREENS leadid=jornaya)."""

    adapters: Mapping[Provider, ScreeningProvider]
    credentials: ProviderCredentials
    results: ScreenResults
    seal: ContactSeal
    consent_record: ConsentRecordProvider | None = None

    def close(self) -> None:
        for adapter in self.adapters.values():
            adapter.close()
        if self.consent_record is not None:
            self.consent_record.close()
