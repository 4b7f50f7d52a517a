"""The TrustedForm calls of one attempt, each recorded before it is sent.

TrustedForm keeps no log of requests, so ours is the only one: a call's request goes into the lead's chain
(an entry of its own, with the answers of the attempt's earlier calls) before the request leaves, and its
answer follows in the next entry. A call whose answer is never written (a crash mid-call, a table that
stayed throttled) still shows in the chain as a request without an answer, and no call is ever sent
without its request on record: if the entry cannot be written, the call is not made.

Cost: one more entry a call (about 1 write unit). Worth it: without it, a lost answer would leave a call
TrustedForm billed, and may have retained, with no trace of it anywhere.

The screens of the lead's phone number (leads/screening.py) go the same way before TrustedForm is asked:
each provider call's request in an entry before it is sent, its exchange (``screened``) and what it found
(``notes``, events) in the next entry, and the lead's results (``lead_update``) in the outcome's state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.lead import Event, Lead
from tf_retainer.domain.screens import ScreenResult
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.screen_asks import screened_event


@dataclass
class Calls:
    deps: Deps
    lead: Lead
    attempt: int
    actor: str
    exchanges: list[Exchange] = field(default_factory=list)  # TrustedForm's
    written: int = 0  # how many of ``exchanges`` the chain holds already (with a later call's request)
    screened: list[Exchange] = field(default_factory=list)  # the screening providers'
    screened_written: int = 0
    notes: list[Event] = field(default_factory=list)  # what the screens found, for the next entry
    notes_written: int = 0
    noted: set[str] = field(default_factory=set)  # the calls whose findings are in ``notes`` already
    lead_update: dict[str, Any] = field(default_factory=dict)  # what the outcome's state takes from them

    def next_id(self) -> str:
        """``<attempt>.<call>/<random>``: readable, and unique even when an attempt is made again (its
        first try died after sending, and its request is on record unanswered)."""
        return f"{self.attempt}.{len(self.screened) + len(self.exchanges) + 1}/{uuid.uuid4().hex[:8]}"

    def recorder(self, call_id: str, **tags: str) -> Callable[[dict[str, Any]], None]:
        """What the TrustedForm client (or a screening provider, ``tags``: its provider and screen) calls with
        the request, as it will go, before sending it."""

        def record(request: dict[str, Any]) -> None:
            detail = {"attempt": self.attempt, "call_id": call_id, **tags}
            self.deps.writer.add_history(
                self.lead,
                [*self.unwritten_notes(), Event("calling", self.actor, detail)],
                now=self.deps.clock(),
                calls=[{"call_id": call_id, "attempt": self.attempt, **tags, "request": request}],
                exchanges=self.unwritten_items(),
            )
            self._all_written()

        return record

    def write_answers(self, found: ScreenResult) -> None:
        """A screen's answer, with what it found (``screened``) and what else the chain lacks, in an entry now:
        before it is shared with the other leads of its number (leads/screen_asks.Recorder), and where a next
        attempt takes it from if this one dies before its step (leads/screen_recovery.recovered)."""
        self.notes.append(screened_event(found, self.actor))
        self.noted.add(found.call_id or "")
        items = self.unwritten_items()
        self.deps.writer.add_history(self.lead, self.unwritten_notes(), now=self.deps.clock(), exchanges=items)
        self._all_written()

    def _all_written(self) -> None:
        self.written, self.screened_written, self.notes_written = (
            len(self.exchanges),
            len(self.screened),
            len(self.notes),
        )

    def add(self, exchange: Exchange, call_id: str) -> Exchange:
        exchange.call_id = call_id
        self.exchanges.append(exchange)
        return exchange

    def request(self, call_id: str, provider: str, screen: str) -> Callable[[dict[str, Any]], None]:
        """A screening provider's call (leads/screen_asks.Recorder): its request on record before it is sent."""
        return self.recorder(call_id, provider=provider, screen=screen)

    def answer(self, exchange: Exchange) -> None:
        """A screening provider's exchange, written with the next entry."""
        self.screened.append(exchange)

    def unwritten_items(self) -> list[dict[str, Any]]:
        """The exchanges whose answers the chain does not hold yet, as stored (the screens' first)."""
        unwritten = self.screened[self.screened_written :] + self.exchanges[self.written :]
        return [exchange.to_item() for exchange in unwritten]

    def unwritten_notes(self) -> list[Event]:
        return self.notes[self.notes_written :]
