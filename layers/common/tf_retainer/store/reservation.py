"""The reservation: a lead's claims, then the lead, or the lead refused at once because another lead holds
its certificate. A lead without a certificate (kept on its LeadiD token alone) claims its token the same way
(keys.claim_pk), and so does a lead with both records whose vendor relies on tokens (``Lead.leadid_claim``):
one lead per token.

Claims first, each a conditional put, then the state: single writes (a realistic lead's claim and state,
5 write units with the state's three index entries) where one transaction of the same items cost 7. Of what
the transaction gave (both or neither) the order keeps what matters: a state is never stored without its
claims. What it adds, a claim whose lead is not stored, is one of two things, told apart by its age.
Younger than ``in_flight`` (the longest an intake can live: the sweeper's received grace), its intake is
between the two writes, milliseconds from its state: wait for it. Older, its intake died there, having
answered no vendor and retained nothing: take the claim over.

A vendor's own lead id needs no item of its own: it names the lead (``Keyring.vendor_lead``), so the state
put that would overwrite a lead of the same id fails, and says which lead it found."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from tf_retainer.domain.lead import Claim, Event, Lead
from tf_retainer.domain.models import Reason, Status
from tf_retainer.ports.leads import CertificateTaken, DuplicateLead, Reserved, StoreUnavailable
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.store.codec import deserialize
from tf_retainer.store.conflicts import (
    duplicate_of,
    error_code,
    failed_item,
    own_write,
    refused_item,
    retry_conflicts,
)
from tf_retainer.store.entries import genesis, next_entry, published
from tf_retainer.store.items import ItemBuilder
from tf_retainer.store.table import Table, came_with, claim_of

# Claims changing hands under a reservation: each loss means the holder moved on, so a few suffice.
CLAIM_TRIES = 8
RELEASED = (Status.REJECTED, Status.EXPIRED)
STATE = 0  # record_refusal's transaction: the state, then its first entry
# The pauses while a claim's lead is between its two writes (1.5 s in all; then the vendor is told to retry).
IN_FLIGHT_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.75)
# A claim: (cert_id, None) for a certificate's, (None, token) for a LeadiD token's (keys.claim_pk).
Record = tuple[str | None, str | None]


def _records(lead: Lead) -> list[Record]:
    """The claims a lead holds: its certificate's, and its LeadiD token's when it claims it (``leadid_claim``:
    a lead without a certificate always does)."""
    records: list[Record] = [(lead.cert_id, None)] if lead.cert_id is not None else []
    if lead.leadid_token is not None and (lead.cert_id is None or lead.leadid_claim):
        records.append((None, lead.leadid_token))
    return records


def _holds(lead: Lead, record: Record) -> bool:
    """Whether ``lead`` holds the claim on ``record``: it came with it and retained or may still retain."""
    return came_with(lead, *record) and lead.status not in RELEASED


class Reservations:
    def __init__(
        self, table: Table, items: ItemBuilder, *, in_flight: timedelta, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._table, self._items = table, items
        self._in_flight, self._sleep = in_flight, sleep

    def reserve(self, lead: Lead, *, actor: str, now: datetime) -> Reserved | DuplicateLead | CertificateTaken:
        """Race-safe: the lead's claims (its certificate's; its LeadiD token's when ``leadid_claim``), then the
        lead. One call each; one more each time a claim's holder was refused or expired and is taken over.

        Raises StoreUnavailable when a claim's lead is still not stored after the pauses (its intake is slow
        to write it): the vendor sends the lead again."""
        ttl = self._items.ttl(now)
        for record in _records(lead):
            if taken := self._claim(lead, record, ttl, now):
                return taken  # a claim it made before is released by the refused lead's state (record_refusal)
        try:
            self._put(self._items.new_lead(lead, ttl))
        except ClientError as exc:
            stored = refused_item(exc)
            if own_write(stored, self._table.codec, lead):
                return Reserved()  # applied, its answer lost: the client's retry met it
            if duplicate := duplicate_of(stored, self._table.codec, lead):
                # A claim this post made is left naming a lead that did not come with it: released (_holds).
                return duplicate
            raise
        return Reserved()

    def _claim(self, lead: Lead, record: Record, ttl: int, now: datetime) -> CertificateTaken | None:
        """Put the lead's claim on ``record`` (None: it holds it, perhaps already: a put whose answer was lost,
        or this lead's id sent again), or say which lead holds it."""
        cert, token = record
        claim = Claim(lead_id=lead.lead_id, vendor=lead.vendor, claimed_at=iso(now))
        released_by: str | None = None
        for _ in range(CLAIM_TRIES):
            try:
                self._put(self._items.claim(cert, claim, ttl, released_by=released_by, leadid_token=token))
                return None
            except ClientError as exc:
                if (held := refused_item(exc)) is None:
                    raise
            holder = Claim.model_validate(held)
            if holder.lead_id == lead.lead_id:
                return None
            current = self._holding(holder, record, now)
            if current is not None:
                return CertificateTaken(claim=claim_of(holder, current), holder=current, leadid=cert is None)
            # The holder retained nothing, or never was stored: take the claim over from it, and only from it.
            released_by = holder.lead_id
            claim = claim.model_copy(update={"previous_holders": [*holder.previous_holders, holder.lead_id]})
        raise RuntimeError(f"lead {lead.lead_id}: its claims kept changing hands")

    def _holding(self, holder: Claim, record: Record, now: datetime) -> Lead | None:
        """The lead that holds ``record`` by ``holder``, None if it released it (or never was stored). A
        claim whose lead is not stored yet is waited for while its intake may be alive."""
        if holder.lead_id is None:
            return None
        for pause in (*IN_FLIGHT_PAUSES, None):
            current = self._table.lead(holder.lead_id, with_match=True)
            if current is not None:
                return current if _holds(current, record) else None
            if holder.claimed_at is None or now - parse_iso(holder.claimed_at) > self._in_flight:
                return None  # its intake died between its claim and its state
            if pause is None:
                break
            self._sleep(pause)
        raise StoreUnavailable(f"lead {holder.lead_id} holds the claim and is not stored yet")

    def record_refusal(self, lead: Lead, *, events: list[Event], now: datetime) -> DuplicateLead | None:
        """A lead refused before any retain (its certificate is another lead's): the lead and its first entry
        in one transaction, then one more reuse counted on the certificate's claim.

        Returns the first lead when another delivery of the same vendor lead was refused first (nothing
        written then): a repeat gets the same answer.
        """
        ttl = self._items.ttl(now)
        entry = next_entry(lead, 0, genesis(lead), events, [], now, state=lead.model_copy(update={"applied": 1}))
        stored = lead.model_copy(update={"applied": 1, "head": entry.hash})
        items = [
            self._items.new_lead(stored, ttl),
            self._items.entry(lead.lead_id, entry, now, outcome=published(events)),
        ]
        try:
            self._transact(items)
        except ClientError as exc:
            refused = failed_item(exc, STATE)
            if own_write(refused, self._table.codec, lead):
                pass  # applied, its answer lost: still to be counted
            elif first := duplicate_of(refused, self._table.codec, lead):
                return first
            else:
                raise
        self._count_reuse(lead, now)
        return None

    def _count_reuse(self, lead: Lead, now: datetime) -> None:
        """One more reuse on the claim, naming the lead while the list is short. Counted once: an update
        DynamoDB applied whose answer was lost is sent again by the client and finds the lead listed.
        (Past the list's cap a lost answer can count a reuse twice: the count is then approximate.)"""
        on_token = lead.cert_id is None or lead.reason is Reason.LEADID_REUSED  # the claim that refused it
        cert, token = (None, lead.leadid_token) if on_token else (lead.cert_id, None)
        for listed in (True, False):
            request = self._items.reuse_attempt(cert, lead.lead_id, now, listed=listed, leadid_token=token)
            try:
                retry_conflicts(partial(self._table.client.update_item, **request))
                return
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                found = deserialize(exc.response.get("Item") or {})
                if lead.lead_id in (found.get("reused_by") or []):
                    return  # counted already
        # Neither: the claim went (its retention ended).

    def _put(self, item: dict[str, Any]) -> None:
        retry_conflicts(partial(self._table.client.put_item, **item["Put"]))

    def _transact(self, items: list[dict[str, Any]]) -> None:
        retry_conflicts(lambda: self._table.client.transact_write_items(TransactItems=items))
