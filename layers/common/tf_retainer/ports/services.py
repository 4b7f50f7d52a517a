"""The outside services' ports: TrustedForm, the retry queue, the API key, the rules in force, the event bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tf_retainer.domain import chain
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.outcome_event import OutcomeEvent
from tf_retainer.domain.retry_message import RetryMessage

if TYPE_CHECKING:
    from tf_retainer.decisions.rulebook import RulesInForce


class CertificateApi(Protocol):
    """TrustedForm's Certificate API: one POST with the operations asked for, captured as evidence."""

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
    ) -> Exchange: ...

    def close(self) -> None: ...


class RetryQueue(Protocol):
    """The retry queue: one more attempt for a lead, not before a moment."""

    def send(self, message: RetryMessage, *, now: datetime) -> str: ...


class ApiKeyUnavailable(RuntimeError):
    """The secret could not be read or holds no usable key."""


class ApiKeySource(Protocol):
    """The buyer's TrustedForm API key; ``force`` re-reads it (after a 401: it may have been rotated).
    Raises ApiKeyUnavailable."""

    def __call__(self, force: bool) -> str: ...


class RuleSource(Protocol):
    """The buyer's rules in force for a vendor."""

    def __call__(self, vendor: str) -> RulesInForce: ...


@dataclass(frozen=True, slots=True)
class PublishedEntry:
    """A new entry of a lead's chain marked for publishing (its ``event_type``), as the stream gave it."""

    entry_key: str  # the entry's sort key: with the lead id, the event's id
    event_type: str
    entry: chain.Entry


class EventBus(Protocol):
    """Where outcome events are published (EventBridge); raises when the bus refuses one."""

    def publish(self, event: OutcomeEvent) -> None: ...
