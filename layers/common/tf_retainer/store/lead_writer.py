"""A lead's steps, written to its evidence chain (the LeadWriter port).

A lead's history events and raw exchanges are entries of its chain (``domain/chain.py``), each put once
under the next free number: two writers of the same step cannot both succeed, and no transaction is needed.
A step that changes the lead writes its entry first, then brings the state item up to it (conditional on
the state not having moved). A writer that dies between the two leaves the state behind its chain; the
next to look (an attempt taking the lead, the sweeper) rolls it forward from the entry. Only the
reservation (the lead, its certificate and the vendor's lead id, all or nothing) is a transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from tf_retainer.domain import chain
from tf_retainer.domain.lead import Event, Lead
from tf_retainer.ports.leads import CertificateTaken, DuplicateLead, Recovery, Reserved, StaleAttempt, VendorLead
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


class DynamoLeadWriter:
    def __init__(self, table: Table, *, retention_days: int) -> None:
        self._table = table
        self._items = ItemBuilder(table.name, retention=timedelta(days=retention_days))
        self._reservations = Reservations(table, self._items)

    # --- intake ------------------------------------------------------------------------------

    @unavailable_when_transient
    def reserve(
        self, lead: Lead, *, vendor_lead: VendorLead | None, actor: str, now: datetime
    ) -> Reserved | DuplicateLead | CertificateTaken:
        """Race-safe: the lead, its certificate and the vendor's lead_id, all or nothing (one call; two when
        the certificate's holder was refused or expired and its claim is taken over)."""
        return self._reservations.reserve(lead, vendor_lead=vendor_lead, actor=actor, now=now)

    @unavailable_when_transient
    def record_refusal(
        self, lead: Lead, *, vendor_lead: VendorLead | None, events: list[Event], now: datetime
    ) -> DuplicateLead | None:
        """A lead refused before any retain (its certificate is another lead's), with its first entry."""
        return self._reservations.record_refusal(lead, vendor_lead=vendor_lead, events=events, now=now)

    # --- attempts and outcomes ---------------------------------------------------------------

    @unavailable_when_transient
    def begin_attempt(self, lead_id: str, *, attempt: int, now: datetime, lease_seconds: float) -> Lead:
        """Take the lead for one attempt (retry worker): only one delivery of a message gets it.

        Raises StaleAttempt when the lead is final, another delivery holds it, this attempt was made, or
        a step was recorded that the state does not show yet (rolled forward here, not attempted again).
        """
        request = self._items.lease(lead_id, attempt=attempt, now=now, lease_seconds=lease_seconds)
        try:
            out = retry_conflicts(lambda: self._table.client.update_item(**request))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise StaleAttempt(lead_id) from exc
            raise
        lead = Lead.model_validate(deserialize(out["Attributes"]))
        if self._roll_forward(lead):
            raise StaleAttempt(lead_id)
        return lead

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
        current = Lead.model_validate(deserialize(out["Attributes"]))
        newer = self._table.entries_after(current.lead_id, current.applied)
        if self._roll_forward(current, newer):
            return Recovery.ROLLED_FORWARD
        step = after.model_copy(update={"applied": current.applied})
        return Recovery.REQUEUED if self._step(current, step, events, [], now, newer=newer) else Recovery.SKIPPED

    @unavailable_when_transient
    def mark_queued(self, lead: Lead, *, check_after: str) -> bool:
        """The lead's retry message is sent: it is next due at ``check_after`` (the pending grace) instead of
        soon (the unqueued grace). False when the lead moved on meanwhile (a delivery took it already)."""
        try:
            retry_conflicts(lambda: self._table.client.update_item(**self._items.queued(lead, check_after)))
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
        an operator's action, an overtaken call; ``publish``: an event that stands alone (consent_revoked)."""
        for _ in range(APPEND_TRIES):
            last = self._table.last_entry(lead.lead_id)
            head, prev = (last.seq, last.hash) if last else (0, genesis(lead))
            entry = next_entry(lead, head, prev, events, exchanges or [], now, state=None, calls=calls)
            if self._append(lead.lead_id, entry, now, events, alone=publish):
                return
        raise RuntimeError(f"lead {lead.lead_id}: could not append to its history")

    def _step(
        self,
        before: Lead,
        after: Lead,
        events: list[Event],
        exchanges: list[dict[str, Any]],
        now: datetime,
        *,
        newer: list[chain.Entry] | None = None,
    ) -> bool:
        """Entry, then state; False when another step was recorded since ``before`` (nothing written).

        ``newer``: the entries after ``before.applied``, when the caller has just read them (read again
        after a lost race for the next number)."""
        for _ in range(APPEND_TRIES):
            if newer is None:
                newer = self._table.entries_after(before.lead_id, before.applied)
            if any(entry.state is not None for entry in newer):
                self._roll_forward(before, newer)
                return False
            head, prev = self._head(before, newer)
            target = after.model_copy(update={"applied": head + 1})
            entry = next_entry(before, head, prev, events, exchanges, now, state=target)
            if self._append(before.lead_id, entry, now, events):
                break
            newer = None
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
        return True

    def _append(
        self, lead_id: str, entry: chain.Entry, now: datetime, events: list[Event], *, alone: bool = False
    ) -> bool:
        """Put the entry under its number; False when another writer took that number first. Only an entry
        that holds the lead as it became is marked for publishing (the event is built from that state), or,
        when asked (``alone``), one whose event says it all (published_alone)."""
        outcome = published(events) if entry.state is not None else published_alone(events) if alone else None
        put = self._items.entry(lead_id, entry, now, outcome=outcome)["Put"]
        try:
            retry_conflicts(lambda: self._table.client.put_item(**put))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _roll_forward(self, lead: Lead, newer: list[chain.Entry] | None = None) -> bool:
        """Bring the state up to a step recorded after it (its writer died before applying it). True when
        there was one: the lead is not as the caller read it."""
        newer = self._table.entries_after(lead.lead_id, lead.applied) if newer is None else newer
        steps = [entry for entry in newer if entry.state is not None]
        if not steps:
            return False
        try:
            self._table.client.update_item(**self._items.roll_forward(lead.lead_id, steps[-1]))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # already rolled forward
                raise
        return True

    def _head(self, lead: Lead, newer: list[chain.Entry]) -> tuple[int, str]:
        """The number and hash of the chain's last entry, given the entries after ``lead.applied``."""
        if newer:
            return newer[-1].seq, newer[-1].hash
        if lead.applied == 0:
            return 0, genesis(lead)
        applied = self._table.get(keys.lead_pk(lead.lead_id), keys.entry_sk(lead.applied))
        if applied is None:
            raise RuntimeError(f"lead {lead.lead_id}: entry {lead.applied} is missing from its chain")
        return lead.applied, bytes(applied["h"]).hex()
