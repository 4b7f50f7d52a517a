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
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from tf_retainer.domain import chain
from tf_retainer.domain.lead import Claim, Event, Lead
from tf_retainer.domain.models import Status
from tf_retainer.ports.leads import CertificateTaken, DuplicateLead, Recovery, Reserved, StaleAttempt, VendorLead
from tf_retainer.runtime.clock import iso
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize
from tf_retainer.store.conflicts import duplicate_of, error_code, failed_item, retry_conflicts
from tf_retainer.store.items import ItemBuilder, snapshot
from tf_retainer.store.table import Table, claim_of

# Published history events (events/outcomes.py): an entry holding one carries its type in ``o``.
PUBLISHED_TYPES = frozenset({Status.RETAINED.value, Status.REJECTED.value, Status.EXPIRED.value, "requeued"})
# Writers racing for the next entry number: each loss means another entry went in, so a few suffice.
APPEND_TRIES = 8
RELEASED = (Status.REJECTED, Status.EXPIRED)


class DynamoLeadWriter:
    def __init__(self, table: Table, *, retention_days: int) -> None:
        self._table = table
        self._items = ItemBuilder(table.name, retention=timedelta(days=retention_days))

    # --- intake ------------------------------------------------------------------------------

    def reserve(
        self, lead: Lead, *, vendor_lead: VendorLead | None, actor: str, now: datetime
    ) -> Reserved | DuplicateLead | CertificateTaken:
        """Race-safe: the lead, its certificate and the vendor's lead_id, all or nothing (one call; two when
        the certificate's holder was refused or expired and its claim is taken over)."""
        ttl = self._items.ttl(now)
        claim = Claim(lead_id=lead.lead_id, vendor=lead.vendor, claimed_at=iso(now))
        released_by: str | None = None
        for _ in range(APPEND_TRIES):
            items = [
                self._items.new_lead(lead, ttl),
                self._items.claim(lead.cert_id, claim, ttl, released_by=released_by),
            ]
            if vendor_lead:
                items.append(self._items.vendor_lead(vendor_lead, lead.lead_id, ttl))
            try:
                self._transact(items)
                return Reserved()
            except ClientError as exc:
                if vendor_lead and (duplicate := duplicate_of(exc, 2, vendor_lead)):
                    return duplicate
                held = failed_item(exc, 1)
                if held is None:
                    raise
            holder = Claim.model_validate(held)
            current = self._table.lead(holder.lead_id) if holder.lead_id else None
            if current is not None and current.status not in RELEASED:
                return CertificateTaken(claim=claim_of(holder, current))
            # The holder retained nothing (or is gone): take the claim over from it, and only from it.
            released_by = holder.lead_id
            claim = claim.model_copy(update={"previous_holders": [*holder.previous_holders, holder.lead_id]})
        raise RuntimeError(f"certificate {lead.cert_id}: its claim kept changing hands")

    def record_refusal(
        self, lead: Lead, *, vendor_lead: VendorLead | None, events: list[Event], now: datetime
    ) -> DuplicateLead | None:
        """A lead refused before any retain (its certificate is another lead's): the lead, its first entry
        and the vendor's lead_id in one transaction, then one more reuse counted on the certificate's claim.

        The vendor's lead_id is reserved too, so a repeat gets the same answer. Returns the first lead
        when another delivery of the same vendor lead was refused first (nothing written then).
        """
        ttl = self._items.ttl(now)
        entry = self._next_entry(
            lead, 0, self._genesis(lead), events, [], now, state=lead.model_copy(update={"applied": 1})
        )
        items = [self._items.new_lead(lead.model_copy(update={"applied": 1}), ttl)]
        if vendor_lead:
            items.append(self._items.vendor_lead(vendor_lead, lead.lead_id, ttl))
        items.append(self._items.entry(lead.lead_id, entry, now, outcome=_published(events)))
        try:
            self._transact(items)
        except ClientError as exc:
            if vendor_lead and (first := duplicate_of(exc, 1, vendor_lead)):
                return first
            raise
        self._count_reuse(lead, now)
        return None

    def _count_reuse(self, lead: Lead, now: datetime) -> None:
        for listed in (True, False):
            request = self._items.reuse_attempt(lead.cert_id, lead.lead_id, now, listed=listed)
            try:
                retry_conflicts(partial(self._table.client.update_item, **request))
                return
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
        # Neither: the claim went (its retention ended).

    # --- attempts and outcomes ---------------------------------------------------------------

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

    def record_recovery(self, before: Lead, after: Lead, *, events: list[Event], now: datetime) -> Recovery:
        """An overdue open lead handed back to the retry queue: its new time to be checked and why.

        Only if nothing moved it since it was read and no attempt holds it now (SKIPPED otherwise). A lead
        whose state was behind a recorded step is brought up to it instead (ROLLED_FORWARD): not requeued.
        """
        current = self._table.lead(before.lead_id)
        if current is None:
            return Recovery.SKIPPED
        newer = self._table.entries_after(current.lead_id, current.applied)
        if self._roll_forward(current, newer):
            return Recovery.ROLLED_FORWARD
        unchanged = current.applied == before.applied and current.check_after == before.check_after
        leased = current.lease_until is not None and current.lease_until >= iso(now)
        if not unchanged or leased or current.status.is_final:
            return Recovery.SKIPPED
        step = after.model_copy(update={"applied": current.applied})
        return Recovery.REQUEUED if self._step(current, step, events, [], now, newer=newer) else Recovery.SKIPPED

    def add_history(
        self, lead: Lead, events: list[Event], *, now: datetime, exchanges: list[dict[str, Any]] | None = None
    ) -> None:
        """History (and raw exchanges) that change nothing else: an operator's action, an overtaken call."""
        for _ in range(APPEND_TRIES):
            last = self._table.last_entry(lead.lead_id)
            head, prev = (last.seq, last.hash) if last else (0, self._genesis(lead))
            entry = self._next_entry(lead, head, prev, events, exchanges or [], now, state=None)
            if self._append(lead.lead_id, entry, now, events):
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
            entry = self._next_entry(before, head, prev, events, exchanges, now, state=target)
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

    def _next_entry(
        self,
        lead: Lead,
        head: int,
        prev: str,
        events: list[Event],
        exchanges: list[dict[str, Any]],
        now: datetime,
        *,
        state: Lead | None,
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
        )

    def _append(self, lead_id: str, entry: chain.Entry, now: datetime, events: list[Event]) -> bool:
        """Put the entry under its number; False when another writer took that number first."""
        try:
            self._table.client.put_item(**self._items.entry(lead_id, entry, now, outcome=_published(events))["Put"])
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
            return 0, self._genesis(lead)
        applied = self._table.get(keys.lead_pk(lead.lead_id), keys.entry_sk(lead.applied))
        if applied is None:
            raise RuntimeError(f"lead {lead.lead_id}: entry {lead.applied} is missing from its chain")
        return lead.applied, bytes(applied["h"]).hex()

    @staticmethod
    def _genesis(lead: Lead) -> str:
        return chain.genesis(lead.lead_id, lead.vendor, lead.cert_id, lead.received_at)

    def _transact(self, items: list[dict[str, Any]]) -> None:
        retry_conflicts(lambda: self._table.client.transact_write_items(TransactItems=items))


def _published(events: list[Event]) -> str | None:
    """The type of the last published event among ``events`` (what the stream's filter matches)."""
    return next((event.type for event in reversed(events) if event.type in PUBLISHED_TYPES), None)
