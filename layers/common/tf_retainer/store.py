"""DynamoDB access: one table, state and history always written in one transaction.

Items (see docs/architecture.md): LEAD#id/STATE, LEAD#id/EVENT#…, LEAD#id/EXCHANGE#…,
CERT#id/CLAIM, CERT#id/EVENT#…, VENDOR#v#LEAD#x/IDEMPOTENCY, VENDORKEY#sha256/VENDOR.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .models import Status

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
OPEN_STATUSES = (Status.RECEIVED.value, Status.PENDING.value)


def lead_pk(lead_id: str) -> str:
    return f"LEAD#{lead_id}"


def cert_pk(cert_id: str) -> str:
    return f"CERT#{cert_id}"


def vendor_lead_pk(vendor: str, vendor_lead_id: str) -> str:
    return f"VENDOR#{vendor}#LEAD#{vendor_lead_id}"


def vendor_key_pk(api_key: str) -> str:
    return "VENDORKEY#" + hashlib.sha256(api_key.encode()).hexdigest()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- results -----------------------------------------------------------------------------------


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
    """Another lead holds the certificate: its claim item (owner lead, status, facts)."""

    claim: dict[str, Any]


class StaleAttempt(Exception):
    """The lead moved on (another delivery recorded this attempt first): nothing was written."""


@dataclass(frozen=True, slots=True)
class Event:
    """One history event; written under the lead and, when it concerns it, the certificate."""

    type: str
    actor: str
    detail: dict[str, Any]


# --- serialisation -----------------------------------------------------------------------------


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in _to_dynamo(item).items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return _from_dynamo({k: _deserializer.deserialize(v) for k, v in item.items()})


class LeadStore:
    def __init__(self, table_name: str, *, retention_days: int, client: Any = None) -> None:
        self.table_name = table_name
        self.retention = timedelta(days=retention_days)
        self._client = client or boto3.client("dynamodb")
        self._seq = itertools.count()

    # --- building blocks ---------------------------------------------------------------------

    def _ttl(self, now: datetime) -> int:
        return int((now + self.retention).timestamp())

    def _put(self, item: dict[str, Any], *, condition: str | None = None, old_on_fail: bool = False) -> dict:
        put: dict[str, Any] = {"TableName": self.table_name, "Item": serialize(item)}
        if condition:
            put["ConditionExpression"] = condition
        if old_on_fail:
            put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Put": put}

    def _event_items(self, pk: str, lead_id: str, cert_id: str | None, events: list[Event], now: datetime) -> list:
        stamp = iso(now)
        return [
            self._put(
                {
                    "pk": pk,
                    "sk": f"EVENT#{stamp}#{next(self._seq):06d}",
                    "type": event.type,
                    "at": stamp,
                    "actor": event.actor,
                    "lead_id": lead_id,
                    "cert_id": cert_id,
                    "detail": event.detail,
                    "ttl": self._ttl(now),
                }
            )
            for event in events
        ]

    def _history(self, lead_id: str, cert_id: str | None, events: list[Event], now: datetime) -> list:
        items = self._event_items(lead_pk(lead_id), lead_id, cert_id, events, now)
        if cert_id:
            items += self._event_items(cert_pk(cert_id), lead_id, cert_id, events, now)
        return items

    def _state_put(self, state: dict[str, Any], ttl: int) -> dict[str, Any]:
        item = {**state, "pk": lead_pk(state["lead_id"]), "sk": "STATE", "ttl": ttl}
        return self._put(item, condition="attribute_not_exists(pk)")

    def _vendor_lead_put(self, vendor_lead: tuple[str, str, str], lead_id: str, ttl: int) -> dict[str, Any]:
        """The vendor's lead_id, taken once; on conflict the first holder comes back (ALL_OLD)."""
        vendor, vendor_lead_id, payload_hash = vendor_lead
        item = {
            "pk": vendor_lead_pk(vendor, vendor_lead_id),
            "sk": "IDEMPOTENCY",
            "lead_id": lead_id,
            "payload_hash": payload_hash,
            "ttl": ttl,
        }
        return self._put(item, condition="attribute_not_exists(pk)", old_on_fail=True)

    def _transact(self, items: list[dict[str, Any]]) -> None:
        self._client.transact_write_items(TransactItems=items)

    # --- intake ------------------------------------------------------------------------------

    def reserve(
        self,
        state: dict[str, Any],
        *,
        cert_id: str,
        vendor_lead: tuple[str, str, str] | None,
        actor: str,
        now: datetime,
    ) -> Reserved | DuplicateLead | CertificateTaken:
        """Race-safe: the lead, its certificate and the vendor's lead_id, all or nothing (one call).

        ``vendor_lead`` is (vendor, vendor lead id, payload hash) when the vendor gave a lead_id.
        """
        lead_id = state["lead_id"]
        ttl = self._ttl(now)
        items = [
            self._state_put(state, ttl),
            self._put(
                {
                    "pk": cert_pk(cert_id),
                    "sk": "CLAIM",
                    "lead_id": lead_id,
                    "vendor": state["vendor"],
                    "claimed_at": iso(now),
                    "status": state["status"],
                    "ttl": ttl,
                },
                condition="attribute_not_exists(pk)",
                old_on_fail=True,
            ),
        ]
        if vendor_lead:
            items.append(self._vendor_lead_put(vendor_lead, lead_id, ttl))
        received = Event("received", actor, {"status": state["status"], "vendor": state["vendor"]})
        items += self._history(lead_id, cert_id, [received], now)
        try:
            self._transact(items)
        except ClientError as exc:
            return _reservation_conflict(exc, vendor_lead)
        return Reserved()

    def record_refusal(
        self,
        state: dict[str, Any],
        *,
        cert_id: str,
        owner_lead_id: str | None,
        vendor_lead: tuple[str, str, str] | None,
        events: list[Event],
        owner_event: Event | None,
        now: datetime,
    ) -> None:
        """A lead refused before any retain (its certificate is another lead's): one transaction.

        The vendor's lead_id is reserved too, so a repeat gets the same answer.
        """
        lead_id = state["lead_id"]
        ttl = self._ttl(now)
        items = [self._state_put(state, ttl)]
        if vendor_lead:
            items.append(self._vendor_lead_put(vendor_lead, lead_id, ttl))
        items += self._history(lead_id, cert_id, events, now)
        if owner_lead_id and owner_event:
            items += self._event_items(lead_pk(owner_lead_id), owner_lead_id, cert_id, [owner_event], now)
        self._transact(items)

    # --- outcomes ----------------------------------------------------------------------------

    def begin_attempt(self, lead_id: str, *, attempt: int, now: datetime, lease_seconds: float) -> dict[str, Any]:
        """Take the lead for one attempt (retry worker): only one delivery of a message gets it.

        Returns the lead state as it is now; raises StaleAttempt when the lead is final, or another
        delivery holds it, or this attempt has already been made.
        """
        try:
            out = self._client.update_item(
                TableName=self.table_name,
                Key=serialize({"pk": lead_pk(lead_id), "sk": "STATE"}),
                UpdateExpression="SET lease_until = :until",
                ConditionExpression=(
                    "#status IN (:received, :pending) AND attempts = :done "
                    "AND (attribute_not_exists(lease_until) OR lease_until < :now)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize(
                    {
                        ":received": Status.RECEIVED.value,
                        ":pending": Status.PENDING.value,
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
        return deserialize(out["Attributes"])

    def record_outcome(
        self,
        lead_id: str,
        *,
        cert_id: str,
        expected_attempts: int,
        changes: dict[str, Any],
        events: list[Event],
        exchanges: list[dict[str, Any]],
        claim_changes: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        """State, history, the raw exchange and the certificate claim: one transaction.

        Conditional on the attempts counter, so two deliveries of the same attempt cannot both
        record; raises StaleAttempt when this one lost.
        """
        # None means "no longer true" (a pending reason once retained): removed, not stored as null.
        kept = {name: value for name, value in changes.items() if value is not None}
        dropped = [name for name, value in changes.items() if value is None]
        names = {f"#f{i}": name for i, name in enumerate(kept)}
        names.update({f"#r{i}": name for i, name in enumerate(dropped)})
        values = {f":v{i}": value for i, value in enumerate(kept.values())}
        assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(kept)))
        removals = ", ".join(["lease_until", *(f"#r{i}" for i in range(len(dropped)))])
        values.update({":expected": expected_attempts, ":received": "received", ":pending": "pending"})
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": serialize({"pk": lead_pk(lead_id), "sk": "STATE"}),
                    "UpdateExpression": f"SET {assignments} REMOVE {removals}",
                    "ConditionExpression": "attempts = :expected AND #st IN (:received, :pending)",
                    "ExpressionAttributeNames": {**names, "#st": "status"},
                    "ExpressionAttributeValues": serialize(values),
                }
            }
        ]
        for n, exchange in enumerate(exchanges):
            sk = f"EXCHANGE#{exchange['started_at']}#{exchange['attempt']:04d}#{n}"
            items.append(
                self._put(
                    {
                        **exchange,
                        "pk": lead_pk(lead_id),
                        "sk": sk,
                        "lead_id": lead_id,
                        "cert_id": cert_id,
                        "ttl": self._ttl(now),
                    }
                )
            )
        items += self._history(lead_id, cert_id, events, now)
        if claim_changes:
            claim_names = {f"#c{i}": name for i, name in enumerate(claim_changes)}
            claim_values = {f":c{i}": value for i, value in enumerate(claim_changes.values())}
            items.append(
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": serialize({"pk": cert_pk(cert_id), "sk": "CLAIM"}),
                        "UpdateExpression": "SET " + ", ".join(f"#c{i} = :c{i}" for i in range(len(claim_changes))),
                        "ExpressionAttributeNames": claim_names,
                        "ExpressionAttributeValues": serialize(claim_values),
                    }
                }
            )
        try:
            self._transact(items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise StaleAttempt(lead_id) from exc
            raise

    # --- reads -------------------------------------------------------------------------------

    def get_state(self, lead_id: str) -> dict[str, Any] | None:
        return self._get(lead_pk(lead_id), "STATE")

    def get_claim(self, cert_id: str) -> dict[str, Any] | None:
        return self._get(cert_pk(cert_id), "CLAIM")

    def get_vendor_lead(self, vendor: str, vendor_lead_id: str) -> dict[str, Any] | None:
        return self._get(vendor_lead_pk(vendor, vendor_lead_id), "IDEMPOTENCY")

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        out = self._client.get_item(TableName=self.table_name, Key=serialize({"pk": pk, "sk": sk}), ConsistentRead=True)
        return deserialize(out["Item"]) if "Item" in out else None

    def lead_items(self, lead_id: str) -> list[dict[str, Any]]:
        """Everything under the lead: state, history events, raw exchanges (sorted by sort key)."""
        return self._query_pk(lead_pk(lead_id))

    def certificate_items(self, cert_id: str) -> list[dict[str, Any]]:
        return self._query_pk(cert_pk(cert_id))

    def _query_pk(self, pk: str) -> list[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": pk}),
            ConsistentRead=True,
        )
        return [deserialize(item) for page in pages for item in page["Items"]]

    def vendor_leads(self, vendor: str, *, since: datetime, until: datetime | None = None, limit: int = 100) -> list:
        """A vendor's leads by date (GSI gsi1: VENDOR#vendor / received_at#lead_id)."""
        upper = iso(until) if until else "~"
        out = self._client.query(
            TableName=self.table_name,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :v AND gsi1sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues=serialize({":v": f"VENDOR#{vendor}", ":lo": iso(since), ":hi": upper}),
            Limit=limit,
        )
        return [deserialize(item) for item in out["Items"]]

    # --- vendor keys -------------------------------------------------------------------------

    def put_vendor_key(self, api_key: str, vendor: str, *, now: datetime) -> None:
        self._client.put_item(
            TableName=self.table_name,
            Item=serialize(
                {
                    "pk": vendor_key_pk(api_key),
                    "sk": "VENDOR",
                    "vendor": vendor,
                    "active": True,
                    "created_at": iso(now),
                    "key_hint": api_key[-4:],
                }
            ),
        )

    def set_vendor_key_active(self, key_hash_pk: str, active: bool, *, now: datetime) -> bool:
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=serialize({"pk": key_hash_pk, "sk": "VENDOR"}),
                UpdateExpression="SET active = :a, changed_at = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=serialize({":a": active, ":t": iso(now)}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def lookup_vendor_key(self, api_key: str) -> dict[str, Any] | None:
        return self._get(vendor_key_pk(api_key), "VENDOR")

    def list_vendor_keys(self) -> list[dict[str, Any]]:
        paginator = self._client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.table_name,
            FilterExpression="sk = :sk AND begins_with(pk, :p)",
            ExpressionAttributeValues=serialize({":sk": "VENDOR", ":p": "VENDORKEY#"}),
        )
        return [deserialize(item) for page in pages for item in page["Items"]]


def _reservation_conflict(
    exc: ClientError, vendor_lead: tuple[str, str, str] | None
) -> DuplicateLead | CertificateTaken:
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        raise exc
    reasons = exc.response.get("CancellationReasons") or []

    def failed(index: int) -> dict[str, Any] | None:
        if index < len(reasons) and reasons[index].get("Code") == "ConditionalCheckFailed":
            return deserialize(reasons[index].get("Item") or {})
        return None

    # Index 2 is the vendor's lead_id: a repeat is answered from the first lead, whatever the cert.
    if vendor_lead and (first := failed(2)) is not None:
        return DuplicateLead(lead_id=first["lead_id"], same_payload=first.get("payload_hash") == vendor_lead[2])
    if (claim := failed(1)) is not None:
        return CertificateTaken(claim=claim)
    raise exc
