"""A lead's steps, written to its evidence chain (the LeadWriter port).

A lead's history events and raw exchanges are entries of its chain (``domain/chain.py``), each put once
under the next free number: two writers of the same step cannot both succeed, and no transaction is needed.
A step that changes the lead writes its entry first, then brings the state item up to it (conditional on
the state not having moved), with the entry's number and hash. A writer that dies between the two leaves
the state behind its chain; the next to append (an attempt's first call, the sweeper) finds the entry and
rolls the state forward from it. Only the reservation (the lead and its certificate's claim, both or
neither) is a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from tf_retainer.domain import chain
from tf_retainer.domain.lead import Event, Lead
from tf_retainer.ports.leads import CertificateTaken, DuplicateLead, Recovery, Reserved, StaleAttempt
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize
from tf_retainer.store.conflicts import (
    error_code,
    retry_conflicts,
    unavailable_when_transient,
)
from tf_retainer.store.entries import genesis, next_entry, published, published_alone
from tf_retainer.store.items import ItemBuilder
from tf_retainer.store.reservation import Reservations
from tf_retainer.store.table import Table

# Writers racing for the next entry number: each loss means another entry went in, so a few suffice.
APPEND_TRIES = 8
# How long the sweeper holds a lead for its requeue (three writes): a sweeper that dies holding it frees it.
RECOVERY_LEASE_SECONDS = 30.0
# Chain ends this writer knows (one per lead it is working on): a container works on a few leads at once.
KNOWN_HEADS = 1024


@dataclass(frozen=True, slots=True)
class Head:
    """The end of a lead's chain as this writer last knew it: entry ``seq`` (hash ``hash``), every entry after
    ``applied`` up to it history only (no step), so the next step still follows the state's ``applied``."""

    applied: int
    seq: int
    hash: str


class DynamoLeadWriter:
    """Every append is optimistic: the next entry is put under the number after the chain's end as last known
    (from the state's ``applied``/``head``, or this writer's own last append), on the condition that the
    number is free. Numbers are dense, so a put that succeeds proves nothing was appended meanwhile; one that
    fails reads what was (one query) and decides. A lead's step therefore costs its writes and no read."""

    def __init__(self, table: Table, items: ItemBuilder, *, in_flight: timedelta) -> None:
        """``in_flight``: the longest an intake may be between a lead's claims and its state (its lifetime)."""
        self._table = table
        self._items = items
        self._reservations = Reservations(table, self._items, in_flight=in_flight)
        self._heads: dict[str, Head] = {}

    # --- intake ------------------------------------------------------------------------------

    @unavailable_when_transient
    def reserve(self, lead: Lead, *, actor: str, now: datetime) -> Reserved | DuplicateLead | CertificateTaken:
        """Race-safe: the lead's claims, then the lead (a call each; one more when a claim's holder was refused
        or expired and its claim is taken over)."""
        reserved = self._reservations.reserve(lead, actor=actor, now=now)
        if isinstance(reserved, Reserved):
            self._know(lead.lead_id, Head(0, 0, genesis(lead)))
        return reserved

    @unavailable_when_transient
    def record_refusal(self, lead: Lead, *, events: list[Event], now: datetime) -> DuplicateLead | None:
        """A lead refused before any retain (its certificate is another lead's), with its first entry."""
        return self._reservations.record_refusal(lead, events=events, now=now)

    # --- attempts and outcomes ---------------------------------------------------------------

    @unavailable_when_transient
    def begin_attempt(self, lead_id: str, *, attempt: int, now: datetime, lease_seconds: float) -> Lead:
        """Take the lead for one attempt (retry worker): only one delivery of a message gets it. One write,
        no read: the lease's answer is the state.

        Raises StaleAttempt when the lead is final, another delivery holds it or this attempt was made. A
        step recorded that the state does not show yet is found by the attempt's first append (the first
        call's request), which then raises StaleAttempt before anything is sent.
        """
        self._table.codec.keyring.load()  # unsealing the lead needs it: never take a lease it cannot use
        request = self._items.lease(lead_id, attempt=attempt, now=now, lease_seconds=lease_seconds)
        try:
            out = retry_conflicts(lambda: self._table.client.update_item(**request))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise StaleAttempt(lead_id) from exc
            raise
        return self._table.codec.lead(deserialize(out["Attributes"]), with_match=True)

    @unavailable_when_transient
    def record_outcome(
        self,
        before: Lead,
        after: Lead,
        *,
        events: list[Event],
        exchanges: list[dict[str, Any]],
        now: datetime,
    ) -> None:
        """The lead's step: its entry (events, raw exchanges, the lead as it became), then its state.

        Only if no other step was recorded since ``before`` was read, so two deliveries of one attempt
        cannot both record; raises StaleAttempt when this one lost (its entry is not written then).
        """
        if not self._step(before, after, events, exchanges, now):
            raise StaleAttempt(after.lead_id)

    @unavailable_when_transient
    def record_recovery(self, before: Lead, after: Lead, *, events: list[Event], now: datetime) -> Recovery:
        """An overdue open lead handed back to the retry queue: its new time to be checked and why.

        The sweeper first takes the lead as a retry delivery does (the same conditional lease, and only if
        nothing moved it since ``before`` was read): while either holds it, the other stands back, so an
        attempt is never overtaken by a requeue of itself (SKIPPED when the lead moved on or is held). A lead
        whose state was behind a recorded step is brought up to it instead (ROLLED_FORWARD): not requeued.
        """
        request = self._items.lease(
            before.lead_id,
            attempt=before.attempts + 1,
            now=now,
            lease_seconds=RECOVERY_LEASE_SECONDS,
            unchanged_since=before,
        )
        try:
            out = retry_conflicts(lambda: self._table.client.update_item(**request))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return Recovery.SKIPPED
            raise
        current = self._table.codec.lead(deserialize(out["Attributes"]))
        newer = self._table.entries_after(current.lead_id, current.applied)
        if self._roll_forward(current, newer):
            return Recovery.ROLLED_FORWARD
        self._know(current.lead_id, self._head_after(current, newer))
        step = after.model_copy(update={"applied": current.applied, "head": current.head})
        # Anything appended since that read came from an attempt acting on the lead (the sweeper was slowed
        # past its lease): a requeue recorded after it would send the lead to TrustedForm again.
        stepped = self._step(current, step, events, [], now, only_after_known_head=True)
        return Recovery.REQUEUED if stepped else Recovery.SKIPPED

    @unavailable_when_transient
    def move_check_after(self, lead: Lead, *, check_after: str) -> bool:
        """The lead is next due at ``check_after`` instead (its retry message could not be sent: sooner).
        False when the lead moved on meanwhile (stepped, or an attempt holds it)."""
        try:
            retry_conflicts(lambda: self._table.client.update_item(**self._items.check_moved(lead, check_after)))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    @unavailable_when_transient
    def add_history(
        self,
        lead: Lead,
        events: list[Event],
        *,
        now: datetime,
        exchanges: list[dict[str, Any]] | None = None,
        calls: list[dict[str, Any]] | None = None,
        publish: bool = False,
    ) -> None:
        """History (raw exchanges, requests about to be sent) that changes nothing else: a call's request,
        an operator's action, an overtaken call; ``publish``: an event that stands alone (consent_revoked).

        A call's request (``calls``) is written only while ``lead`` is still the lead as stored: when a
        step was recorded since (another delivery's, or one whose state was never applied), StaleAttempt
        is raised and the call must not be made."""
        head = self._optimistic_head(lead)
        for _ in range(APPEND_TRIES):
            entry = next_entry(lead, head.seq, head.hash, events, exchanges or [], now, state=None, calls=calls)
            if self._append(lead.lead_id, entry, now, events, alone=publish):
                self._know(lead.lead_id, Head(head.applied, entry.seq, entry.hash))
                return
            newer = self._table.entries_after(lead.lead_id, lead.applied)
            if calls and any(found.state is not None for found in newer):
                self._roll_forward(lead, newer)
                raise StaleAttempt(lead.lead_id)
            head = self._head_after(lead, newer)
        raise RuntimeError(f"lead {lead.lead_id}: could not append to its history")

    def _step(
        self,
        before: Lead,
        after: Lead,
        events: list[Event],
        exchanges: list[dict[str, Any]],
        now: datetime,
        *,
        only_after_known_head: bool = False,
    ) -> bool:
        """Entry, then state; False when another step was recorded since ``before`` (nothing written), or, with
        ``only_after_known_head``, when anything was appended after the chain's end as this writer knew it."""
        head = self._optimistic_head(before)
        for _ in range(APPEND_TRIES):
            target = after.model_copy(update={"applied": head.seq + 1})
            entry = next_entry(before, head.seq, head.hash, events, exchanges, now, state=target)
            if self._append(before.lead_id, entry, now, events):
                target = target.model_copy(update={"head": entry.hash})
                break
            newer = self._table.entries_after(before.lead_id, before.applied)
            if any(found.state is not None for found in newer):
                self._roll_forward(before, newer)
                return False
            if only_after_known_head:
                return False
            head = self._head_after(before, newer)
        else:
            raise RuntimeError(f"lead {before.lead_id}: could not append to its history")
        try:
            retry_conflicts(lambda: self._table.client.update_item(**self._items.lead_update(before, target)))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            current = self._table.lead(before.lead_id)  # rolled forward meanwhile by another: the same state
            if current is None or current.applied < entry.seq:
                raise
        self._know(before.lead_id, Head(entry.seq, entry.seq, entry.hash))
        return True

    def _append(
        self, lead_id: str, entry: chain.Entry, now: datetime, events: list[Event], *, alone: bool = False
    ) -> bool:
        """Put the entry under its number; False when another writer took that number first. Only an entry
        that holds the lead as it became is marked for publishing (the event is built from that state), or,
        when asked (``alone``), one whose event says it all (published_alone).

        The number may be taken by this very entry: a put that DynamoDB applied but whose answer was lost
        (a read timeout) is sent again by the client, and fails its condition on itself. That is not a race
        lost (the step would be misread as overtaken, and its exchanges written again): the stored entry's
        hash says whose it is. So it does when the client's retry failed otherwise (throttled): an entry
        applied must not be reported unwritten, or its exchanges would be written again with the next."""
        outcome = published(events) if entry.state is not None else published_alone(events) if alone else None
        put = self._items.entry(lead_id, entry, now, outcome=outcome)["Put"]
        try:
            retry_conflicts(lambda: self._table.client.put_item(**put))
        except ClientError as exc:
            stored = self._table.get(keys.lead_pk(lead_id), keys.entry_sk(entry.seq))  # (an error: raised as is)
            if stored is not None and bytes(stored["h"]).hex() == entry.hash:
                return True
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _roll_forward(self, lead: Lead, newer: list[chain.Entry]) -> bool:
        """Bring the state up to a step recorded after it (its writer died before applying it). True when
        there was one: the lead is not as the caller read it."""
        steps = [entry for entry in newer if entry.state is not None]
        if not steps:
            return False
        self._heads.pop(lead.lead_id, None)
        request = self._items.roll_forward(lead.lead_id, steps[-1])
        try:
            retry_conflicts(lambda: self._table.client.update_item(**request))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # already rolled forward
                raise
        return True

    def _optimistic_head(self, lead: Lead) -> Head:
        """Where the next entry should go: after this writer's own last append for the lead, if it followed
        the same state, else after the state's ``applied`` entry (a put there fails if anything followed)."""
        known = self._heads.get(lead.lead_id)
        if known is not None and known.applied == lead.applied:
            return known
        return self._state_head(lead)

    def _state_head(self, lead: Lead) -> Head:
        """The state's own ``applied`` entry: its number and hash."""
        if lead.applied == 0:
            return Head(0, 0, genesis(lead))
        if lead.head is not None:
            return Head(lead.applied, lead.applied, lead.head)
        # A state stored before it kept its head's hash: read that entry's.
        applied = self._table.get(keys.lead_pk(lead.lead_id), keys.entry_sk(lead.applied))
        if applied is None:
            raise RuntimeError(f"lead {lead.lead_id}: entry {lead.applied} is missing from its chain")
        return Head(lead.applied, lead.applied, bytes(applied["h"]).hex())

    def _head_after(self, lead: Lead, newer: list[chain.Entry]) -> Head:
        """The chain's end given the entries after ``lead.applied`` (none of them a step)."""
        if newer:
            return Head(lead.applied, newer[-1].seq, newer[-1].hash)
        return self._state_head(lead)

    def _know(self, lead_id: str, head: Head) -> None:
        if len(self._heads) >= KNOWN_HEADS and lead_id not in self._heads:
            self._heads.pop(next(iter(self._heads)))  # the oldest: its attempt is long over
        self._heads[lead_id] = head
