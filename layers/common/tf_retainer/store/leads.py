"""Leads, their history, raw exchanges and certificate claims.

A lead's state and the history event that explains it are always written in one transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ..clock import iso
from ..lead import CertificateRecord, Claim, Event, HistoryItem, Lead, LeadRecord
from . import keys
from .codec import deserialize, serialize
from .conflicts import (
    CertificateTaken,
    DuplicateLead,
    Reserved,
    StaleAttempt,
    cancellation_codes,
    duplicate_of,
    error_code,
    reservation_conflict,
    retry_conflicts,
)
from .items import ItemBuilder, VendorLead, history_item, time_ordered

__all__ = ["CertificateTaken", "DuplicateLead", "LeadStore", "Reserved", "StaleAttempt", "VendorLead"]


class LeadStore:
    def __init__(self, table_name: str, *, retention_days: int, client: Any = None) -> None:
        self.table_name = table_name
        self._items = ItemBuilder(table_name, retention=timedelta(days=retention_days))
        self._client = client or boto3.client("dynamodb")

    # --- intake ------------------------------------------------------------------------------

    def reserve(
        self, lead: Lead, *, vendor_lead: VendorLead | None, actor: str, now: datetime
    ) -> Reserved | DuplicateLead | CertificateTaken:
        """Race-safe: the lead, its certificate and the vendor's lead_id, all or nothing (one call)."""
        ttl = self._items.ttl(now)
        claim = Claim(lead_id=lead.lead_id, vendor=lead.vendor, claimed_at=iso(now), status=lead.status)
        items = [
            self._items.new_lead(lead, ttl),
            self._items.claim(lead.cert_id, claim, ttl),
        ]
        if vendor_lead:
            items.append(self._items.vendor_lead(vendor_lead, lead.lead_id, ttl))
        received = Event("received", actor, {"status": lead.status.value, "vendor": lead.vendor})
        items += self._items.history(lead, [received], now)
        try:
            self._transact(items)
        except ClientError as exc:
            return reservation_conflict(exc, vendor_lead)
        return Reserved()

    def record_refusal(
        self, lead: Lead, *, vendor_lead: VendorLead | None, events: list[Event], now: datetime
    ) -> DuplicateLead | None:
        """A lead refused before any retain (its certificate is another lead's): one transaction, then one
        more reuse attempt counted on the certificate's claim.

        The vendor's lead_id is reserved too, so a repeat gets the same answer. Returns the first lead
        when another delivery of the same vendor lead was refused first (nothing written then).
        """
        ttl = self._items.ttl(now)
        items = [self._items.new_lead(lead, ttl)]
        if vendor_lead:
            items.append(self._items.vendor_lead(vendor_lead, lead.lead_id, ttl))
        items += self._items.history(lead, events, now)
        try:
            self._transact(items)
        except ClientError as exc:
            if vendor_lead and (first := duplicate_of(exc, 1, vendor_lead)):
                return first
            raise
        try:
            retry_conflicts(lambda: self._client.update_item(**self._items.reuse_attempt(lead.cert_id, now)))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # the claim went (its retention ended)
                raise
        return None

    # --- attempts and outcomes ---------------------------------------------------------------

    def begin_attempt(self, lead_id: str, *, attempt: int, now: datetime, lease_seconds: float) -> Lead:
        """Take the lead for one attempt (retry worker): only one delivery of a message gets it.

        Raises StaleAttempt when the lead is final, another delivery holds it, or this attempt was made.
        """
        request = self._items.lease(lead_id, attempt=attempt, now=now, lease_seconds=lease_seconds)
        try:
            out = retry_conflicts(lambda: self._client.update_item(**request))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise StaleAttempt(lead_id) from exc
            raise
        return Lead.model_validate(deserialize(out["Attributes"]))

    def record_outcome(
        self,
        before: Lead,
        after: Lead,
        *,
        events: list[Event],
        exchanges: list[dict[str, Any]],
        now: datetime,
    ) -> None:
        """The lead's new state, its history, the raw exchanges and, once final, the claim: one transaction.

        Conditional on the lead being open with ``before``'s attempts, so two deliveries of one attempt
        cannot both record; raises StaleAttempt when this one lost.
        """
        items: list[dict[str, Any]] = [self._items.lead_update(before, after)]
        items += self._items.exchanges(after, exchanges, now)
        items += self._items.history(after, events, now)
        if after.status.is_final:
            items.append(self._items.settle_claim(after))
        try:
            self._transact(items)
        except ClientError as exc:
            if cancellation_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                raise StaleAttempt(after.lead_id) from exc
            raise

    def record_recovery(self, before: Lead, after: Lead, *, events: list[Event], now: datetime) -> bool:
        """An overdue open lead handed back to the retry queue: its new time to be checked and why.

        Only if nothing moved it since it was read and no attempt holds it now; False otherwise.
        """
        items = [self._items.lead_update(before, after, unleased_at=now), *self._items.history(after, events, now)]
        try:
            self._transact(items)
        except ClientError as exc:
            if cancellation_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def add_history(
        self, lead: Lead, events: list[Event], *, now: datetime, exchanges: list[dict[str, Any]] | None = None
    ) -> None:
        """History (and raw exchanges) that change nothing else: an operator's action, an overtaken call."""
        self._transact(self._items.history(lead, events, now) + self._items.exchanges(lead, exchanges or [], now))

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
        """The lead, its history and its raw exchanges, each in time order (one query)."""
        items = self._query_pk(keys.lead_pk(lead_id))
        state = next((item for item in items if keys.is_state(item)), None)
        if state is None:
            return None
        events = time_ordered([item for item in items if keys.is_event(item)], "at")
        exchanges = time_ordered([item for item in items if keys.is_exchange(item)], "started_at")
        return LeadRecord(
            lead=Lead.model_validate(state),
            history=[history_item(item) for item in events],
            exchanges=[keys.without_bookkeeping(item) for item in exchanges],
        )

    def history_page(self, lead_id: str, *, after: str | None, limit: int) -> tuple[list[HistoryItem], str | None]:
        """Up to ``limit`` of a lead's history events, oldest first, after the event ``after`` (a cursor
        from the previous page); and the cursor of the next page, if there is one."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :events)",
            "ExpressionAttributeValues": serialize({":pk": keys.lead_pk(lead_id), ":events": keys.EVENT_PREFIX}),
            "ConsistentRead": True,
            "Limit": limit,
        }
        if after:
            request["ExclusiveStartKey"] = serialize(keys.key(keys.lead_pk(lead_id), after))
        out = self._client.query(**request)
        events = [history_item(deserialize(item)) for item in out["Items"]]
        last = out.get("LastEvaluatedKey")
        return events, (deserialize(last)["sk"] if last else None)

    def exchanges(self, lead_id: str) -> list[dict[str, Any]]:
        """A lead's raw TrustedForm exchanges, in time order (its history is not read)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :exchanges)",
            ExpressionAttributeValues=serialize({":pk": keys.lead_pk(lead_id), ":exchanges": keys.EXCHANGE_PREFIX}),
            ConsistentRead=True,
        )
        items = [deserialize(item) for page in pages for item in page["Items"]]
        return [keys.without_bookkeeping(item) for item in time_ordered(items, "started_at")]

    def read_certificate(self, cert_id: str) -> CertificateRecord | None:
        items = self._query_pk(keys.cert_pk(cert_id))
        if not items:
            return None
        claim = next((Claim.model_validate(item) for item in items if keys.is_claim(item)), None)
        events = time_ordered([item for item in items if keys.is_event(item)], "at")
        return CertificateRecord(cert_id=cert_id, claim=claim, history=[history_item(item) for item in events])

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
        """A vendor's leads received in a period, oldest first (the vendor index)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=keys.VENDOR_INDEX,
            KeyConditionExpression="gsi1pk = :v AND gsi1sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues=serialize(
                {":v": keys.vendor_index_pk(vendor), ":lo": iso(since), ":hi": iso(until) if until else "~"}
            ),
            PaginationConfig={"MaxItems": limit} if limit else {},
        )
        return [Lead.model_validate(deserialize(item)) for page in pages for item in page["Items"]]

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
        for item in (deserialize(item) for page in pages for item in page["Items"]):
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
