"""A lead's next chain entry, as every writer builds it: what the step wrote, numbered after the head."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tf_retainer.domain import chain
from tf_retainer.domain.lead import Event, Lead
from tf_retainer.domain.models import Status
from tf_retainer.runtime.clock import iso
from tf_retainer.store.items import snapshot

# Published history events (events/outcomes.py): an entry holding one carries its type in ``o``.
PUBLISHED_TYPES = frozenset({Status.RETAINED.value, Status.REJECTED.value, Status.EXPIRED.value, "requeued"})
# Published events that say everything their event needs, in an entry that does not hold the lead.
STANDALONE_TYPES = frozenset({"consent_revoked"})


def genesis(lead: Lead) -> str:
    return chain.genesis(lead.lead_id, lead.vendor, lead.cert_id, lead.received_at)


def next_entry(
    lead: Lead,
    head: int,
    prev: str,
    events: list[Event],
    exchanges: list[dict[str, Any]],
    now: datetime,
    *,
    state: Lead | None,
    calls: list[dict[str, Any]] | None = None,
) -> chain.Entry:
    written = [{"type": e.type, "actor": e.actor, "detail": e.detail} for e in events]
    if head == 0:  # the lead's first entry records its arrival, at the time it arrived
        received = {"status": Status.RECEIVED.value, "vendor": lead.vendor}
        written.insert(0, {"type": "received", "actor": "intake", "at": lead.received_at, "detail": received})
    return chain.Entry(
        seq=head + 1,
        at=iso(now),
        prev=prev,
        events=written,
        exchanges=exchanges,
        state=snapshot(state) if state is not None else None,
        calls=calls or [],
    )


def published(events: list[Event]) -> str | None:
    """The type of the last published event among ``events`` (what the stream's filter matches)."""
    return next((event.type for event in reversed(events) if event.type in PUBLISHED_TYPES), None)


def published_alone(events: list[Event]) -> str | None:
    """The type of the last event among ``events`` that is published on its own (consent_revoked)."""
    return next((event.type for event in reversed(events) if event.type in STANDALONE_TYPES), None)
