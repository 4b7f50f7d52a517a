"""The items and write requests of the lead store, built without touching DynamoDB (unit-testable)."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..clock import iso
from ..lead import CertificateFacts, Claim, Event, HistoryItem, Lead
from ..models import Status
from . import keys
from .codec import serialize

OPEN_STATUSES = (Status.RECEIVED.value, Status.PENDING.value)


@dataclass(frozen=True, slots=True)
class VendorLead:
    """The vendor's own lead_id, taken once per vendor, with a hash of what was posted under it."""

    vendor: str
    vendor_lead_id: str
    payload_hash: str


def history_item(item: dict[str, Any]) -> HistoryItem:
    return HistoryItem(
        at=item["at"],
        type=item["type"],
        actor=item.get("actor"),
        lead_id=item.get("lead_id"),
        cert_id=item.get("cert_id"),
        detail=item.get("detail") or {},
    )


def time_ordered(items: list[dict[str, Any]], time_key: str) -> list[dict[str, Any]]:
    # Sort keys carry the ISO time and a sequence: keep that order, time first.
    return sorted(items, key=lambda item: (str(item.get(time_key) or ""), item["sk"]))


def _open_index(lead: Lead) -> dict[str, str | None]:
    return keys.open_index_keys(lead.lead_id, lead.check_after if not lead.status.is_final else None)


class ItemBuilder:
    """Put and Update requests for one table, every item stamped with its retention TTL."""

    def __init__(self, table_name: str, *, retention: timedelta) -> None:
        self.table_name = table_name
        self.retention = retention
        self._seq = itertools.count()
        self._writer = secrets.token_hex(6)  # this container's, in every event key it writes

    def ttl(self, now: datetime) -> int:
        return int((now + self.retention).timestamp())

    def put(
        self,
        item: dict[str, Any],
        *,
        condition: str | None = None,
        old_on_fail: bool = False,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> dict:
        put: dict[str, Any] = {"TableName": self.table_name, "Item": serialize(item)}
        if condition:
            put["ConditionExpression"] = condition
        if names:
            put["ExpressionAttributeNames"] = names
        if values:
            put["ExpressionAttributeValues"] = serialize(values)
        if old_on_fail:
            put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Put": put}

    def events(self, pk: str, lead_id: str, cert_id: str | None, events: list[Event], now: datetime) -> list:
        stamp = iso(now)
        return [
            self.put(
                {
                    **keys.key(pk, keys.event_sk(stamp, next(self._seq), self._writer)),
                    "type": event.type,
                    "at": stamp,
                    "actor": event.actor,
                    "lead_id": lead_id,
                    "cert_id": cert_id,
                    "detail": event.detail,
                    "ttl": self.ttl(now),
                }
            )
            for event in events
        ]

    def history(self, lead: Lead, events: list[Event], now: datetime) -> list:
        return self.events(keys.lead_pk(lead.lead_id), lead.lead_id, lead.cert_id, events, now) + self.events(
            keys.cert_pk(lead.cert_id), lead.lead_id, lead.cert_id, events, now
        )

    def new_lead(self, lead: Lead, ttl: int) -> dict[str, Any]:
        item = {
            **lead.model_dump(mode="json", exclude_none=True),
            **_open_index(lead),
            **keys.key(keys.lead_pk(lead.lead_id), keys.STATE),
            "gsi1pk": keys.vendor_index_pk(lead.vendor),
            "gsi1sk": keys.vendor_index_sk(lead.received_at, lead.lead_id),
            # The consumer indexes (gsi3/gsi4 share gsi1sk as their sort key: a consumer's leads by date).
            **keys.contact_index_keys(lead.match_lead),
            "ttl": ttl,
        }
        return self.put(item, condition="attribute_not_exists(pk)")

    def contact_index(self, lead: Lead) -> dict[str, Any] | None:
        """update_item arguments putting a lead stored before the consumer indexes into them (backfill);
        None when it has no fingerprint. Only if the lead still exists: an update would create it."""
        index_keys = keys.contact_index_keys(lead.match_lead)
        if not index_keys:
            return None
        return {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.lead_pk(lead.lead_id), keys.STATE)),
            "UpdateExpression": "SET " + ", ".join(f"{name} = :{name}" for name in index_keys),
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": serialize({f":{name}": value for name, value in index_keys.items()}),
        }

    def vendor_lead(self, vendor_lead: VendorLead, lead_id: str, ttl: int) -> dict[str, Any]:
        """The vendor's lead_id, taken once; on conflict the first holder comes back (ALL_OLD)."""
        item = {
            **keys.key(keys.vendor_lead_pk(vendor_lead.vendor, vendor_lead.vendor_lead_id), keys.IDEMPOTENCY),
            "lead_id": lead_id,
            "payload_hash": vendor_lead.payload_hash,
            "ttl": ttl,
        }
        return self.put(item, condition="attribute_not_exists(pk)", old_on_fail=True)

    def claim(self, cert_id: str, claim: Claim, ttl: int) -> dict[str, Any]:
        """The certificate's one claim: free, or released by a holder that was refused or expired (it
        retained nothing for the buyer). On conflict the holder comes back (ALL_OLD)."""
        item = {
            **claim.model_dump(mode="json", exclude_none=True),
            **keys.key(keys.cert_pk(cert_id), keys.CLAIM),
            "ttl": ttl,
        }
        return self.put(
            item,
            condition="attribute_not_exists(pk) OR #status IN (:rejected, :expired)",
            names={"#status": "status"},
            values={":rejected": Status.REJECTED.value, ":expired": Status.EXPIRED.value},
            old_on_fail=True,
        )

    def reuse_attempt(self, cert_id: str, now: datetime) -> dict[str, Any]:
        """update_item arguments counting one more lead that came with a held certificate (a count, not
        an event per attempt: another vendor must not be able to flood the holder's history)."""
        return {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.cert_pk(cert_id), keys.CLAIM)),
            "UpdateExpression": "ADD reuse_attempts :one SET last_reuse_at = :now",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": serialize({":one": 1, ":now": iso(now)}),
        }

    def exchanges(self, lead: Lead, exchanges: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """Raw exchanges with TrustedForm, stored as captured, under the lead."""
        return [
            self.put(
                {
                    **exchange,
                    **keys.key(
                        keys.lead_pk(lead.lead_id), keys.exchange_sk(exchange["started_at"], exchange["attempt"], n)
                    ),
                    "lead_id": lead.lead_id,
                    "cert_id": lead.cert_id,
                    "ttl": self.ttl(now),
                }
            )
            for n, exchange in enumerate(exchanges)
        ]

    def lease(self, lead_id: str, *, attempt: int, now: datetime, lease_seconds: float) -> dict[str, Any]:
        """update_item arguments taking an open lead for ``attempt``, unless another delivery holds it."""
        return {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.lead_pk(lead_id), keys.STATE)),
            "UpdateExpression": "SET lease_until = :until",
            "ConditionExpression": (
                "#status IN (:received, :pending) AND attempts = :done "
                "AND (attribute_not_exists(lease_until) OR lease_until < :now)"
            ),
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": serialize(
                {
                    ":received": OPEN_STATUSES[0],
                    ":pending": OPEN_STATUSES[1],
                    ":done": attempt - 1,
                    ":now": iso(now),
                    ":until": iso(now + timedelta(seconds=lease_seconds)),
                }
            ),
            "ReturnValues": "ALL_NEW",
        }

    def lead_update(self, before: Lead, after: Lead, *, unleased_at: datetime | None = None) -> dict[str, Any]:
        """Update the lead from ``before`` to ``after``, if it is still open with ``before``'s attempts.

        ``unleased_at``: also only if ``before``'s time to be checked is unchanged and no attempt holds the
        lead at that moment (the sweeper's and the operator's requeue).
        """
        old = {**before.model_dump(mode="json"), **_open_index(before)}
        new = {**after.model_dump(mode="json"), **_open_index(after)}
        changed = {name: value for name, value in new.items() if value != old[name] and name != "lease_until"}
        # A value that is no longer true (a pending reason once retained) is removed, not stored as null.
        kept = {name: value for name, value in changed.items() if value is not None}
        dropped = [name for name, value in changed.items() if value is None]
        names = {f"#f{i}": name for i, name in enumerate(kept)} | {f"#r{i}": name for i, name in enumerate(dropped)}
        values = {f":v{i}": value for i, value in enumerate(kept.values())}
        values.update({":expected": before.attempts, ":received": OPEN_STATUSES[0], ":pending": OPEN_STATUSES[1]})
        assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(kept)))
        removals = ", ".join(["lease_until", *(f"#r{i}" for i in range(len(dropped)))])
        condition = "attempts = :expected AND #st IN (:received, :pending)"
        if unleased_at is not None:
            condition += " AND check_after = :seen AND (attribute_not_exists(lease_until) OR lease_until < :now)"
            values.update({":seen": before.check_after, ":now": iso(unleased_at)})
        update = f"SET {assignments} REMOVE {removals}" if kept else f"REMOVE {removals}"
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": serialize(keys.key(keys.lead_pk(after.lead_id), keys.STATE)),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {**names, "#st": "status"},
                "ExpressionAttributeValues": serialize(values),
            }
        }

    def settle_claim(self, lead: Lead) -> dict[str, Any]:
        """The claim takes the lead's final status and what TrustedForm said about the certificate."""
        changes = {
            "status": lead.status.value,
            **CertificateFacts.model_validate(lead.model_dump()).model_dump(mode="json", exclude_none=True),
        }
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": serialize(keys.key(keys.cert_pk(lead.cert_id), keys.CLAIM)),
                "UpdateExpression": "SET " + ", ".join(f"#c{i} = :c{i}" for i in range(len(changes))),
                "ExpressionAttributeNames": {f"#c{i}": name for i, name in enumerate(changes)},
                "ExpressionAttributeValues": serialize({f":c{i}": value for i, value in enumerate(changes.values())}),
            }
        }
