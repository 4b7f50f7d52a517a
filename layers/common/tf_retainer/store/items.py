"""The items and write requests of the lead store, built without touching DynamoDB (unit-testable)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from tf_retainer.domain import chain
from tf_retainer.domain.lead import Claim, HistoryItem, Lead
from tf_retainer.domain.models import Status
from tf_retainer.runtime.clock import iso
from tf_retainer.store import keys
from tf_retainer.store.codec import serialize
from tf_retainer.store.lead_item import LeadCodec

OPEN_STATUSES = (Status.RECEIVED.value, Status.PENDING.value)
# Fields of the state item that an entry's snapshot leaves out: a lease is a moment's, ``applied`` and
# ``head`` name the entry the state reflects (an entry cannot name itself), and the contact fingerprints
# are kept in the chain only inside the raw exchanges that sent them to TrustedForm.
STATE_ONLY = ("lease_until", "applied", "head", "match_lead")
# Leads named on a held certificate's claim (the rest are only counted).
MAX_LISTED_REUSES = 20


def history_item(event: dict[str, Any], entry: chain.Entry, lead_id: str, cert_id: str | None) -> HistoryItem:
    """One event of an entry as the history shows it (an event without its own time has the entry's)."""
    return HistoryItem(
        at=event.get("at") or entry.at,
        type=event["type"],
        actor=event.get("actor"),
        lead_id=lead_id,
        cert_id=cert_id,
        detail=event.get("detail") or {},
    )


def _open_index(lead: Lead) -> dict[str, str | None]:
    """gsi2's keys: an open lead once a step of it is recorded (``applied``). A lead as reserved is not in it
    (the sweeper finds it through the vendor index), so one kept or refused at once never writes it."""
    indexed = not lead.status.is_final and lead.applied > 0
    return keys.open_index_keys(lead.lead_id, lead.check_after if indexed else None)


class ItemBuilder:
    """Put and Update requests for one table, every item stamped with its retention TTL."""

    def __init__(self, table_name: str, *, retention: timedelta, codec: LeadCodec) -> None:
        self.table_name = table_name
        self.retention = retention
        self.codec = codec

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

    def entry(self, lead_id: str, entry: chain.Entry, now: datetime, *, outcome: str | None) -> dict[str, Any]:
        """One link of the lead's evidence chain, written once: a second writer of the same number fails.

        ``o``: the type of the published event the entry holds, if any (the stream's filter reads it).
        """
        content = entry.content()
        item = {
            **keys.key(keys.lead_pk(lead_id), keys.entry_sk(entry.seq)),
            "b": chain.pack(content),
            "h": hashlib.sha256(content).digest(),
            "o": outcome,
            "ttl": self.ttl(now),
        }
        return self.put(item, condition="attribute_not_exists(pk)")

    def new_lead(self, lead: Lead, ttl: int) -> dict[str, Any]:
        """The lead's state, never over another lead's: on conflict (a vendor's lead id sent again: the same
        id) the stored state comes back (ALL_OLD)."""
        item = {
            **self.codec.attributes(lead),
            "m": self.codec.sealed_match(lead) or None,
            **_open_index(lead),
            **keys.key(keys.lead_pk(lead.lead_id), keys.STATE),
            "gsi1pk": keys.vendor_index_pk(lead.vendor),
            "gsi1sk": keys.vendor_index_sk(lead.received_at, lead.lead_id),
            # The consumer indexes (gsi3/gsi4 share gsi1sk as their sort key: a consumer's leads by date).
            **self.codec.consumer_index_keys(lead),
            "ttl": ttl,
        }
        return self.put(item, condition="attribute_not_exists(pk)", old_on_fail=True)

    def contact_index(self, lead: Lead) -> dict[str, Any] | None:
        """update_item arguments putting a lead stored before the consumer indexes into them (backfill);
        None when it has no fingerprint. Only if the lead still exists: an update would create it."""
        index_keys = self.codec.consumer_index_keys(lead)
        if not index_keys:
            return None
        return {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.lead_pk(lead.lead_id), keys.STATE)),
            "UpdateExpression": "SET " + ", ".join(f"{name} = :{name}" for name in index_keys),
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": serialize({f":{name}": value for name, value in index_keys.items()}),
        }

    def claim(
        self,
        cert_id: str | None,
        claim: Claim,
        ttl: int,
        *,
        released_by: str | None = None,
        leadid_token: str | None = None,
    ) -> dict[str, Any]:
        """The certificate's one claim (a lead without one: its LeadiD token's): free, or (``released_by``)
        taken over from a holder that was refused or expired, so retained nothing for the buyer. On conflict
        the holder comes back (ALL_OLD)."""
        item = {
            **claim.model_dump(mode="json", exclude_none=True),
            **keys.key(keys.claim_pk(cert_id, leadid_token), keys.CLAIM),
            "ttl": ttl,
        }
        if released_by is None:
            return self.put(item, condition="attribute_not_exists(pk)", old_on_fail=True)
        return self.put(item, condition="lead_id = :holder", values={":holder": released_by}, old_on_fail=True)

    def reuse_attempt(
        self, cert_id: str | None, lead_id: str, now: datetime, *, listed: bool, leadid_token: str | None = None
    ) -> dict[str, Any]:
        """update_item arguments counting one more lead that came with a held certificate and, while the
        list is short (``listed``), naming it: the certificate's history shows those leads' events, and
        another vendor must not be able to grow the holder's claim without bound."""
        update = "ADD reuse_attempts :one SET last_reuse_at = :now"
        condition = "attribute_exists(pk)"
        values: dict[str, Any] = {":one": 1, ":now": iso(now)}
        if listed:  # once per lead: a retried update whose first answer was lost meets its own lead listed
            update += ", reused_by = list_append(if_not_exists(reused_by, :none), :lead)"
            condition += (
                " AND (attribute_not_exists(reused_by) OR (size(reused_by) < :cap AND NOT contains(reused_by, :id)))"
            )
            values.update({":none": [], ":lead": [lead_id], ":id": lead_id, ":cap": MAX_LISTED_REUSES})
        return {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.claim_pk(cert_id, leadid_token), keys.CLAIM)),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": serialize(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def lease(
        self, lead_id: str, *, attempt: int, now: datetime, lease_seconds: float, unchanged_since: Lead | None = None
    ) -> dict[str, Any]:
        """update_item arguments taking an open lead for ``attempt``, unless another delivery (or the sweeper)
        holds it; with ``unchanged_since``, only if its chain position and time to be checked are still
        that lead's (the sweeper's, which read it from an index that may lag the table)."""
        condition = (
            "#status IN (:received, :pending) AND attempts = :done "
            "AND (attribute_not_exists(lease_until) OR lease_until < :now)"
        )
        values: dict[str, Any] = {
            ":received": OPEN_STATUSES[0],
            ":pending": OPEN_STATUSES[1],
            ":done": attempt - 1,
            ":now": iso(now),
            ":until": iso(now + timedelta(seconds=lease_seconds)),
        }
        if unchanged_since is not None:
            condition += " AND applied = :applied AND check_after = :check_after"
            values.update({":applied": unchanged_since.applied, ":check_after": unchanged_since.check_after})
        return {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.lead_pk(lead_id), keys.STATE)),
            "UpdateExpression": "SET lease_until = :until",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": serialize(values),
            "ReturnValues": "ALL_NEW",
        }

    def lead_update(self, before: Lead, after: Lead) -> dict[str, Any]:
        """Update the lead from ``before`` to ``after``, if it is still open with ``before``'s attempts and
        chain position (``applied``), and still held by ``before``'s lease if it had one (no one took the lead
        after that lease ran out): the state follows its chain, one entry at a time. Releases the lease."""
        old = {**self.codec.attributes(before), **_open_index(before)}
        new = {**self.codec.attributes(after), **_open_index(after)}
        changed = {name: value for name, value in new.items() if value != old[name] and name != "lease_until"}
        if after.status.is_final:  # out of the open index even if ``before`` was not in it by today's rule
            changed.update(dict.fromkeys(_open_index(after)))  # (a lead reserved when it held every open lead)
        update, names, values = _set_and_remove(changed, always_removed=("lease_until",))
        values.update(
            {
                ":expected": before.attempts,
                ":applied": before.applied,
                ":received": OPEN_STATUSES[0],
                ":pending": OPEN_STATUSES[1],
            }
        )
        condition = "attempts = :expected AND applied = :applied AND #st IN (:received, :pending)"
        if before.lease_until is not None:
            condition += " AND lease_until = :lease"
            values[":lease"] = before.lease_until
        return {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.lead_pk(after.lead_id), keys.STATE)),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {**names, "#st": "status"},
            "ExpressionAttributeValues": serialize(values),
        }

    def check_moved(self, lead: Lead, check_after: str) -> dict[str, Any]:
        """update_item arguments moving an open lead's time to be checked to ``check_after`` (its retry
        message could not be sent), if it is still due when ``lead`` said (nothing stepped it since: a step
        always sets a new one) and no attempt holds it."""
        moved = lead.model_copy(update={"check_after": check_after})
        update, names, values = _set_and_remove({"check_after": check_after, **_open_index(moved)})
        return {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.lead_pk(lead.lead_id), keys.STATE)),
            "UpdateExpression": update,
            "ConditionExpression": "check_after = :planned AND attribute_not_exists(lease_until)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize({**values, ":planned": lead.check_after}),
        }

    def roll_forward(self, lead_id: str, entry: chain.Entry) -> dict[str, Any]:
        """update_item arguments bringing a lead's state up to a state-changing entry its writer put but
        did not get to apply (it died between the two writes): only if the state is still behind it."""
        state = {name: value for name, value in (entry.state or {}).items() if name not in STATE_ONLY}
        lead = Lead.model_validate({**state, "applied": entry.seq, "head": entry.hash})
        attributes = {name: value for name, value in self.codec.attributes(lead).items() if name != "lease_until"}
        update, names, values = _set_and_remove({**attributes, **_open_index(lead)})
        return {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.lead_pk(lead_id), keys.STATE)),
            "UpdateExpression": update,
            "ConditionExpression": "attribute_exists(pk) AND applied < :seq",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize({**values, ":seq": entry.seq}),
        }


def _set_and_remove(
    fields: dict[str, Any], *, always_removed: tuple[str, ...] = ()
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """An UpdateExpression setting ``fields`` (a value that is no longer true, None, is removed, not stored
    as null), with its names and values."""
    kept = {name: value for name, value in fields.items() if value is not None}
    dropped = [name for name, value in fields.items() if value is None]
    names = {f"#f{i}": name for i, name in enumerate(kept)} | {f"#r{i}": name for i, name in enumerate(dropped)}
    values = {f":v{i}": value for i, value in enumerate(kept.values())}
    assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(kept)))
    removals = ", ".join([*always_removed, *(f"#r{i}" for i in range(len(dropped)))])
    parts = ([f"SET {assignments}"] if kept else []) + ([f"REMOVE {removals}"] if removals else [])
    return " ".join(parts), names, values


def stored_link(item: dict[str, Any]) -> chain.Link:
    """A stored chain entry (deserialized) as the link ``chain.verify`` checks: its bytes, its stored hash."""
    return chain.Link(keys.entry_seq(item["sk"]), chain.unpack(bytes(item["b"])), bytes(item["h"]).hex())


def stored_entry(item: dict[str, Any]) -> chain.Entry:
    """A stored chain entry (deserialized), read back: what it holds, with the hash stored beside it."""
    return chain.parse(chain.unpack(bytes(item["b"])), stored_hash=bytes(item["h"]).hex())


def snapshot(lead: Lead) -> dict[str, Any]:
    """The lead as an entry records it: what it became, without the bookkeeping of the moment."""
    return lead.model_dump(mode="json", exclude_none=True, exclude=set(STATE_ONLY))
