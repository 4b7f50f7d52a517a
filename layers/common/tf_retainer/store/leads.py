"""Leads, their evidence chains and certificate claims.

A lead's history events and raw exchanges are entries of its chain (``chain.py``), each put once under
the next free number: two writers of the same step cannot both succeed, and no transaction is needed.
A step that changes the lead writes its entry first, then brings the state item up to it (conditional
on the state not having moved). A writer that dies between the two leaves the state behind its chain;
the next to look (an attempt taking the lead, the sweeper) rolls it forward from the entry. Only the
reservation (the lead, its certificate and the vendor's lead id, all or nothing) is a transaction.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import boto3
from botocore.exceptions import ClientError

from tf_retainer.domain.lead import CertificateRecord, Claim, Event, HistoryItem, Lead, LeadRecord
from tf_retainer.domain.models import Status
from tf_retainer.evidence import chain
from tf_retainer.runtime.clock import iso
from tf_retainer.store import capacity, keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.conflicts import (
    CertificateTaken,
    DuplicateLead,
    Reserved,
    StaleAttempt,
    duplicate_of,
    error_code,
    failed_item,
    retry_conflicts,
)
from tf_retainer.store.items import ItemBuilder, VendorLead, history_item, snapshot, stored_entry, stored_link

__all__ = ["CertificateTaken", "DuplicateLead", "LeadStore", "Recovery", "Reserved", "StaleAttempt", "VendorLead"]

# Published history events (outcome_events.py): an entry holding one carries its type in ``o``.
PUBLISHED_TYPES = frozenset({Status.RETAINED.value, Status.REJECTED.value, Status.EXPIRED.value, "requeued"})
# Writers racing for the next entry number: each loss means another entry went in, so a few suffice.
APPEND_TRIES = 8
RELEASED = (Status.REJECTED, Status.EXPIRED)


class Recovery(enum.Enum):
    """What a sweep did with one overdue lead."""

    REQUEUED = "requeued"
    ROLLED_FORWARD = "rolled_forward"  # its state was behind its chain: brought up to it, nothing to retry
    SKIPPED = "skipped"  # it moved on, or an attempt holds it


class LeadStore:
    def __init__(self, table_name: str, *, retention_days: int, client: Any = None) -> None:
        self.table_name = table_name
        self._items = ItemBuilder(table_name, retention=timedelta(days=retention_days))
        self._client = client or boto3.client("dynamodb")
        self.writes = capacity.meter(self._client)  # write units consumed, as DynamoDB reports them

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
            current = self.get_lead(holder.lead_id) if holder.lead_id else None
            if current is not None and current.status not in RELEASED:
                return CertificateTaken(claim=_claim_of(holder, current))
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
                retry_conflicts(partial(self._client.update_item, **request))
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
            out = retry_conflicts(lambda: self._client.update_item(**request))
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
        current = self.get_lead(before.lead_id)
        if current is None:
            return Recovery.SKIPPED
        newer = self._entries_after(current.lead_id, current.applied)
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
            last = self._last_entry(lead.lead_id)
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
                newer = self._entries_after(before.lead_id, before.applied)
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
            retry_conflicts(lambda: self._client.update_item(**self._items.lead_update(before, target)))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            current = self.get_lead(before.lead_id)  # rolled forward meanwhile by another: the same state
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
            self._client.put_item(**self._items.entry(lead_id, entry, now, outcome=_published(events))["Put"])
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _roll_forward(self, lead: Lead, newer: list[chain.Entry] | None = None) -> bool:
        """Bring the state up to a step recorded after it (its writer died before applying it). True when
        there was one: the lead is not as the caller read it."""
        newer = self._entries_after(lead.lead_id, lead.applied) if newer is None else newer
        steps = [entry for entry in newer if entry.state is not None]
        if not steps:
            return False
        try:
            self._client.update_item(**self._items.roll_forward(lead.lead_id, steps[-1]))
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
        applied = self._get(keys.lead_pk(lead.lead_id), keys.entry_sk(lead.applied))
        if applied is None:
            raise RuntimeError(f"lead {lead.lead_id}: entry {lead.applied} is missing from its chain")
        return lead.applied, bytes(applied["h"]).hex()

    @staticmethod
    def _genesis(lead: Lead) -> str:
        return chain.genesis(lead.lead_id, lead.vendor, lead.cert_id, lead.received_at)

    def _entries_after(self, lead_id: str, seq: int) -> list[chain.Entry]:
        out = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :after AND :last",
            ExpressionAttributeValues=serialize(
                {":pk": keys.lead_pk(lead_id), ":after": keys.entry_sk(seq + 1), ":last": keys.entry_sk(999_999)}
            ),
            ConsistentRead=True,
        )
        return [stored_entry(deserialize(item)) for item in out["Items"]]

    def _last_entry(self, lead_id: str) -> chain.Entry | None:
        out = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :entries)",
            ExpressionAttributeValues=serialize({":pk": keys.lead_pk(lead_id), ":entries": keys.ENTRY_PREFIX}),
            ConsistentRead=True,
            ScanIndexForward=False,
            Limit=1,
        )
        return stored_entry(deserialize(out["Items"][0])) if out["Items"] else None

    def _transact(self, items: list[dict[str, Any]]) -> None:
        retry_conflicts(lambda: self._client.transact_write_items(TransactItems=items))

    # --- reads -------------------------------------------------------------------------------

    def get_lead(self, lead_id: str) -> Lead | None:
        item = self._get(keys.lead_pk(lead_id), keys.STATE)
        return Lead.model_validate(item) if item else None

    def find_vendor_lead(self, vendor: str, vendor_lead_id: str) -> str | None:
        """Our lead id for a vendor's own lead_id."""
        item = self._get(keys.vendor_lead_pk(vendor, vendor_lead_id), keys.IDEMPOTENCY)
        return item["lead_id"] if item else None

    def read_lead(self, lead_id: str) -> LeadRecord | None:
        """The lead, its history and its raw exchanges, each in the order written (one query)."""
        items = self._query_pk(keys.lead_pk(lead_id))
        state = next((item for item in items if keys.is_state(item)), None)
        if state is None:
            return None
        lead = Lead.model_validate(state)
        links = [stored_link(item) for item in items if keys.is_entry(item)]
        entries = [chain.parse(link.content, stored_hash=link.stored_hash) for link in links]
        return LeadRecord(
            lead=lead,
            history=[
                history_item(event, entry, lead.lead_id, lead.cert_id) for entry in entries for event in entry.events
            ],
            exchanges=[exchange for entry in entries for exchange in entry.exchanges],
            chain=links,
        )

    def chain_links(self, lead_id: str) -> list[chain.Link]:
        """A lead's chain as stored, unchecked: what ``chain.verify`` checks."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :entries)",
            ExpressionAttributeValues=serialize({":pk": keys.lead_pk(lead_id), ":entries": keys.ENTRY_PREFIX}),
            ConsistentRead=True,
        )
        return [stored_link(deserialize(item)) for page in pages for item in page["Items"]]

    def history_page(self, lead_id: str, *, after: str | None, limit: int) -> tuple[list[HistoryItem], str | None]:
        """Up to ``limit`` of a lead's history events, oldest first, from the cursor ``after`` (from the
        previous page: ``ENTRY#<n>:<event index>``, the next event to give); and the next page's cursor."""
        start_sk, skip = keys.entry_sk(1), 0
        if after:
            start_sk, _, position = after.partition(":")
            skip = int(position or 0)
        events: list[HistoryItem] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :last",
            "ExpressionAttributeValues": serialize(
                {":pk": keys.lead_pk(lead_id), ":from": start_sk, ":last": keys.entry_sk(999_999)}
            ),
            "ConsistentRead": True,
            "Limit": limit + 1,  # an entry holds one event or more: enough to fill the page, and to know
        }
        while True:
            out = self._client.query(**request)
            for item in map(deserialize, out["Items"]):
                entry = stored_entry(item)
                first = skip if item["sk"] == start_sk else 0
                for index in range(first, len(entry.events)):
                    if len(events) == limit:
                        return events, f"{item['sk']}:{index}"
                    events.append(history_item(entry.events[index], entry, lead_id, None))
            if "LastEvaluatedKey" not in out:
                return events, None
            request["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def exchanges(self, lead_id: str) -> list[dict[str, Any]]:
        """A lead's raw TrustedForm exchanges, in the order made."""
        links = self.chain_links(lead_id)
        return [exchange for link in links for exchange in chain.parse(link.content).exchanges]

    def read_certificate(self, cert_id: str) -> CertificateRecord | None:
        """The certificate's claim and the history of every lead that held it or came with it, in time order."""
        found = self._get(keys.cert_pk(cert_id), keys.CLAIM)
        if found is None:
            return None
        claim = Claim.model_validate(found)
        lead_ids = [*claim.previous_holders, *([claim.lead_id] if claim.lead_id else []), *claim.reused_by]
        records = {lead_id: self.read_lead(lead_id) for lead_id in dict.fromkeys(lead_ids)}
        if (holder := records.get(claim.lead_id or "")) is not None:
            claim = _claim_of(claim, holder.lead)
        history = [event for record in records.values() if record is not None for event in record.history]
        history.sort(key=lambda event: event.at)
        return CertificateRecord(cert_id=cert_id, claim=claim, history=history)

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        out = self._client.get_item(TableName=self.table_name, Key=serialize(keys.key(pk, sk)), ConsistentRead=True)
        return deserialize(out["Item"]) if "Item" in out else None

    def _query_pk(self, pk: str) -> list[dict[str, Any]]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": pk}),
            ConsistentRead=True,
        )
        return [deserialize(item) for page in pages for item in page["Items"]]

    def vendor_leads(
        self, vendor: str, *, since: datetime, until: datetime | None = None, limit: int | None = None
    ) -> list[Lead]:
        """A vendor's leads received in a period, oldest first (the vendor index, keys only, then the states)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=keys.VENDOR_INDEX,
            KeyConditionExpression="gsi1pk = :v AND gsi1sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues=serialize(
                {":v": keys.vendor_index_pk(vendor), ":lo": iso(since), ":hi": iso(until) if until else "~"}
            ),
            PaginationConfig={"MaxItems": limit} if limit else {},
        )
        found = [deserialize(item) for page in pages for item in page["Items"]]
        states = self._states([keys.lead_id_of(item["pk"]) for item in found])
        return [Lead.model_validate(state) for item in found if (state := states.get(item["pk"])) is not None]

    def _states(self, lead_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Lead state items by partition key, read 100 at a time (BatchGetItem; what it leaves unprocessed,
        asked again)."""
        states: dict[str, dict[str, Any]] = {}
        for start in range(0, len(lead_ids), 100):
            wanted = [
                serialize(keys.key(keys.lead_pk(lead_id), keys.STATE)) for lead_id in lead_ids[start : start + 100]
            ]
            request: dict[str, Any] = {self.table_name: {"Keys": wanted}}
            while request:
                out = self._client.batch_get_item(RequestItems=request)
                for item in out["Responses"].get(self.table_name, []):
                    state = deserialize(item)
                    states[state["pk"]] = state
                request = out.get("UnprocessedKeys") or {}
        return states

    def consumer_leads(self, kind: str, fingerprint: str) -> list[Lead]:
        """Every lead (any vendor) carrying this email or phone fingerprint, oldest first: a Query of the
        consumer index (KEYS_ONLY), then each lead's state read whole. Leads stored before the index
        existed are in it only once ``index_contacts`` has put them there."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=keys.CONTACT_INDEXES[kind],
            KeyConditionExpression=f"{keys.CONTACT_INDEX_KEYS[kind]} = :fingerprint",
            ExpressionAttributeValues=serialize({":fingerprint": keys.contact_index_pk(kind, fingerprint)}),
        )
        lead_ids = [keys.lead_id_of(deserialize(item)["pk"]) for page in pages for item in page["Items"]]
        leads = [lead for lead_id in lead_ids if (lead := self.get_lead(lead_id)) is not None]
        return sorted(leads, key=lambda lead: (lead.received_at, lead.lead_id))

    def index_contacts(self, vendor: str) -> tuple[int, int]:
        """Backfill: put a vendor's leads that are missing from the consumer indexes into them (read from
        the vendor index, every date). Returns (leads put in, leads already there or without contact)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=keys.VENDOR_INDEX,
            KeyConditionExpression="gsi1pk = :v",
            ExpressionAttributeValues=serialize({":v": keys.vendor_index_pk(vendor)}),
        )
        indexed = skipped = 0
        found = [keys.lead_id_of(deserialize(item)["pk"]) for page in pages for item in page["Items"]]
        for item in self._states(found).values():
            lead = Lead.model_validate(item)
            wanted = keys.contact_index_keys(lead.match_lead)
            if all(item.get(name) == value for name, value in wanted.items()) or not self._index_contacts_of(lead):
                skipped += 1
            else:
                indexed += 1
        return indexed, skipped

    def _index_contacts_of(self, lead: Lead) -> bool:
        request = self._items.contact_index(lead)
        if request is None:
            return False
        try:
            retry_conflicts(lambda: self._client.update_item(**request))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # expired meanwhile: nothing to index
                raise
            return False
        return True

    def open_leads(self, *, overdue_at: datetime | None = None, limit: int | None = None) -> list[Lead]:
        """Received or pending leads (the sparse open index, one query per shard), by time to be checked.

        ``overdue_at``: only those whose time to be checked is before that moment.
        """
        leads: list[Lead] = []
        for shard in keys.open_shards():
            condition, values = "gsi2pk = :shard", {":shard": shard}
            if overdue_at is not None:
                condition += " AND gsi2sk < :now"
                values[":now"] = iso(overdue_at)
            pages = self._client.get_paginator("query").paginate(
                TableName=self.table_name,
                IndexName=keys.LIST_INDEX,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=serialize(values),
                PaginationConfig={"MaxItems": limit} if limit else {},
            )
            leads += [Lead.model_validate(deserialize(item)) for page in pages for item in page["Items"]]
        leads.sort(key=lambda lead: lead.check_after or "")
        return leads[:limit] if limit is not None else leads


def _published(events: list[Event]) -> str | None:
    """The type of the last published event among ``events`` (what the stream's filter matches)."""
    return next((event.type for event in reversed(events) if event.type in PUBLISHED_TYPES), None)


def _claim_of(claim: Claim, holder: Lead) -> Claim:
    """The claim as the intake decides on it: the holder's status and what TrustedForm said of it."""
    return claim.model_copy(update={"status": holder.status, **holder.facts()})
