"""The reservation: a lead and its certificate's claim, both or neither (the one transaction of the lead
store), or the lead refused at once because another lead holds the certificate. A lead without a
certificate (kept on its LeadiD token alone) claims its token the same way (keys.claim_pk), and so does a
lead with both records whose vendor relies on tokens (``Lead.leadid_claim``): one lead per token.

A vendor's own lead id needs no item of its own: it names the lead (``Keyring.vendor_lead``), so the state
put that would overwrite a lead of the same id fails, and says which lead it found."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from tf_retainer.domain.lead import Claim, Event, Lead
from tf_retainer.domain.models import Reason, Status
from tf_retainer.ports.leads import CertificateTaken, DuplicateLead, Reserved
from tf_retainer.runtime.clock import iso
from tf_retainer.store.codec import deserialize
from tf_retainer.store.conflicts import duplicate_of, error_code, failed_item, own_write, retry_conflicts
from tf_retainer.store.entries import genesis, next_entry, published
from tf_retainer.store.items import ItemBuilder
from tf_retainer.store.table import Table, claim_of

# Claims changing hands under a reservation: each loss means the holder moved on, so a few suffice.
CLAIM_TRIES = 8
RELEASED = (Status.REJECTED, Status.EXPIRED)
STATE, CLAIM = 0, 1  # the reservation's items, in order: the state, then its claims
# A claim: (cert_id, None) for a certificate's, (None, token) for a LeadiD token's (keys.claim_pk).
Record = tuple[str | None, str | None]


def _records(lead: Lead) -> list[Record]:
    """The claims a lead holds: its certificate's, and its LeadiD token's when it claims it (``leadid_claim``:
    a lead without a certificate always does)."""
    records: list[Record] = [(lead.cert_id, None)] if lead.cert_id is not None else []
    if lead.leadid_token is not None and (lead.cert_id is None or lead.leadid_claim):
        records.append((None, lead.leadid_token))
    return records


class Reservations:
    def __init__(self, table: Table, items: ItemBuilder) -> None:
        self._table, self._items = table, items

    def reserve(self, lead: Lead, *, actor: str, now: datetime) -> Reserved | DuplicateLead | CertificateTaken:
        """Race-safe: the lead and its claims (its certificate's; its LeadiD token's when ``leadid_claim``), all
        or none (one call; one more each time a claim's holder was refused or expired and is taken over)."""
        ttl = self._items.ttl(now)
        records = _records(lead)
        claims = {record: Claim(lead_id=lead.lead_id, vendor=lead.vendor, claimed_at=iso(now)) for record in records}
        released_by: dict[Record, str | None] = dict.fromkeys(records)
        for _ in range(CLAIM_TRIES):
            items = [self._items.new_lead(lead, ttl)]
            items += [
                self._items.claim(
                    cert, claims[(cert, token)], ttl, released_by=released_by[(cert, token)], leadid_token=token
                )
                for cert, token in records
            ]
            try:
                self._transact(items)
                return Reserved()
            except ClientError as exc:
                if own_write(exc, STATE, self._table.codec, lead):
                    return Reserved()  # applied, its answer lost: the client's retry met it
                if duplicate := duplicate_of(exc, STATE, self._table.codec, lead):
                    return duplicate
                held = [(record, item) for n, record in enumerate(records, CLAIM) if (item := failed_item(exc, n))]
                if not held:
                    raise
            for record, item in held:
                holder = Claim.model_validate(item)
                current = self._table.lead(holder.lead_id, with_match=True) if holder.lead_id else None
                if current is not None and current.status not in RELEASED:
                    taken = claim_of(holder, current)
                    return CertificateTaken(claim=taken, holder=current, leadid=record[0] is None)
                # The holder retained nothing (or is gone): take the claim over from it, and only from it.
                released_by[record] = holder.lead_id
                previous = [*holder.previous_holders, holder.lead_id]
                claims[record] = claims[record].model_copy(update={"previous_holders": previous})
        raise RuntimeError(f"lead {lead.lead_id}: its claims kept changing hands")

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
            if own_write(exc, STATE, self._table.codec, lead):
                pass  # applied, its answer lost: still to be counted
            elif first := duplicate_of(exc, STATE, self._table.codec, lead):
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

    def _transact(self, items: list[dict[str, Any]]) -> None:
        retry_conflicts(lambda: self._table.client.transact_write_items(TransactItems=items))
