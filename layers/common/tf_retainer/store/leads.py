"""Leads, their history, raw exchanges and certificate claims.

A lead's state and the history event that explains it are always written in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ..clock import iso
from ..lead import CertificateRecord, Claim, Event, Lead, LeadRecord
from . import keys
from .codec import deserialize, serialize
from .items import OPEN_STATUSES, ItemBuilder, VendorLead, history_item, time_ordered


@dataclass(frozen=True, slots=True)
class Reserved:
    pass


@dataclass(frozen=True, slots=True)
class DuplicateLead:
    """The vendor already sent this lead_id: ``lead_id`` is the first lead's id."""

    lead_id: str
    same_payload: bool


@dataclass(frozen=True, slots=True)
class CertificateTaken:
    """Another lead holds the certificate."""

    claim: Claim


class StaleAttempt(Exception):
    """The lead moved on (another delivery recorded this attempt first): nothing was written."""


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
            self._items.put(
                {
                    **claim.model_dump(mode="json", exclude_none=True),
                    **keys.key(keys.cert_pk(lead.cert_id), keys.CLAIM),
                    "ttl": ttl,
                },
                condition="attribute_not_exists(pk)",
                old_on_fail=True,
            ),
        ]
        if vendor_lead:
            items.append(self._items.vendor_lead(vendor_lead, lead.lead_id, ttl))
        received = Event("received", actor, {"status": lead.status.value, "vendor": lead.vendor})
        items += self._items.history(lead, [received], now)
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            return _reservation_conflict(exc, vendor_lead)
        return Reserved()

    def record_refusal(
        self,
        lead: Lead,
        *,
        vendor_lead: VendorLead | None,
        events: list[Event],
        owner_lead_id: str | None,
        owner_event: Event | None,
        now: datetime,
    ) -> None:
        """A lead refused before any retain (its certificate is another lead's): one transaction.

        The vendor's lead_id is reserved too, so a repeat gets the same answer.
        """
        ttl = self._items.ttl(now)
        items = [self._items.new_lead(lead, ttl)]
        if vendor_lead:
            items.append(self._items.vendor_lead(vendor_lead, lead.lead_id, ttl))
        items += self._items.history(lead, events, now)
        if owner_lead_id and owner_event:
            items += self._items.events(keys.lead_pk(owner_lead_id), owner_lead_id, lead.cert_id, [owner_event], now)
        self._client.transact_write_items(TransactItems=items)

    # --- attempts and outcomes ---------------------------------------------------------------

    def begin_attempt(self, lead_id: str, *, attempt: int, now: datetime, lease_seconds: float) -> Lead:
        """Take the lead for one attempt (retry worker): only one delivery of a message gets it.

        Raises StaleAttempt when the lead is final, another delivery holds it, or this attempt was made.
        """
        try:
            out = self._client.update_item(
                TableName=self.table_name,
                Key=serialize(keys.key(keys.lead_pk(lead_id), keys.STATE)),
                UpdateExpression="SET lease_until = :until",
                ConditionExpression=(
                    "#status IN (:received, :pending) AND attempts = :done "
                    "AND (attribute_not_exists(lease_until) OR lease_until < :now)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize(
                    {
                        ":received": OPEN_STATUSES[0],
                        ":pending": OPEN_STATUSES[1],
                        ":done": attempt - 1,
                        ":now": iso(now),
                        ":until": iso(now + timedelta(seconds=lease_seconds)),
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
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
        items += [
            self._items.put(
                {
                    **exchange,
                    **keys.key(
                        keys.lead_pk(after.lead_id), keys.exchange_sk(exchange["started_at"], exchange["attempt"], n)
                    ),
                    "lead_id": after.lead_id,
                    "cert_id": after.cert_id,
                    "ttl": self._items.ttl(now),
                }
            )
            for n, exchange in enumerate(exchanges)
        ]
        items += self._items.history(after, events, now)
        if after.status.is_final:
            items.append(self._items.settle_claim(after))
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise StaleAttempt(after.lead_id) from exc
            raise

    # --- reads -------------------------------------------------------------------------------

    def get_lead(self, lead_id: str) -> Lead | None:
        item = self._get(keys.lead_pk(lead_id), keys.STATE)
        return Lead.model_validate(item) if item else None

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
        self, vendor: str, *, since: datetime, until: datetime | None = None, limit: int = 100
    ) -> list[Lead]:
        """A vendor's leads by date, oldest first (the vendor index)."""
        out = self._client.query(
            TableName=self.table_name,
            IndexName=keys.VENDOR_INDEX,
            KeyConditionExpression="gsi1pk = :v AND gsi1sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues=serialize(
                {":v": keys.vendor_index_pk(vendor), ":lo": iso(since), ":hi": iso(until) if until else "~"}
            ),
            Limit=limit,
        )
        return [Lead.model_validate(deserialize(item)) for item in out["Items"]]

    def scan_leads(self, *, received_since: datetime) -> list[Lead]:
        """Leads received since a moment, plus every open lead whatever its age.

        A Scan reads (and is billed for) the whole table: the operator CLI's occasional look only.
        """
        pages = self._client.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression="sk = :state AND (received_at >= :since OR #status IN (:received, :pending))",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=serialize(
                {
                    ":state": keys.STATE,
                    ":since": iso(received_since),
                    ":received": OPEN_STATUSES[0],
                    ":pending": OPEN_STATUSES[1],
                }
            ),
        )
        return [Lead.model_validate(deserialize(item)) for page in pages for item in page["Items"]]


def _reservation_conflict(exc: ClientError, vendor_lead: VendorLead | None) -> DuplicateLead | CertificateTaken:
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        raise exc
    reasons = exc.response.get("CancellationReasons") or []

    def failed(index: int) -> dict[str, Any] | None:
        if index < len(reasons) and reasons[index].get("Code") == "ConditionalCheckFailed":
            return deserialize(reasons[index].get("Item") or {})
        return None

    # Index 2 is the vendor's lead_id: a repeat is answered from the first lead, whatever the cert.
    if vendor_lead and (first := failed(2)) is not None:
        return DuplicateLead(
            lead_id=first["lead_id"], same_payload=first.get("payload_hash") == vendor_lead.payload_hash
        )
    if (claim := failed(1)) is not None:
        return CertificateTaken(claim=Claim.model_validate(claim))
    raise exc
