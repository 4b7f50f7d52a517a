"""Legal holds in the table: the hold items, which leads each covers, and a held lead's items kept from TTL.

DynamoDB's TTL deletes an item some time after its ``ttl``. A held item has no ``ttl`` (it is moved to
``held_ttl``, restored at release) and carries the ids of the holds covering it in ``holds`` (a string
set): an item covered by two holds keeps no expiry until both are released. Every update here is
conditional on the item existing, so none re-creates an item TTL or anything else removed.

A held lead's items are found by partition, whatever their sort keys: everything under ``LEAD#<id>``,
everything under its certificate's ``CERT#<cert id>`` (the claim and the certificate's history, which the
evidence bundle includes) and the vendor's lead id item, if any.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from tf_retainer.domain.models import Status
from tf_retainer.ports.evidence import Hold, ItemKey, LeadStanding, Member
from tf_retainer.runtime.clock import iso
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.conflicts import cancellation_codes, error_code, retry_conflicts

# An item whose condition failed (written meanwhile) is read again and retried this often.
ITEM_ATTEMPTS = 3


class HoldStore:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")

    # --- the hold items ----------------------------------------------------------------------

    def put_hold(self, hold: Hold) -> None:
        item = {
            **hold.model_dump(mode="json", exclude_none=True),
            **keys.key(keys.hold_pk(hold.hold_id), keys.HOLD),
            **keys.hold_list_keys(hold.set_at, hold.hold_id),
        }
        self._client.put_item(
            TableName=self.table_name, Item=serialize(item), ConditionExpression="attribute_not_exists(pk)"
        )

    def get_hold(self, hold_id: str) -> Hold | None:
        out = self._client.get_item(
            TableName=self.table_name, Key=serialize(keys.key(keys.hold_pk(hold_id), keys.HOLD)), ConsistentRead=True
        )
        return Hold.model_validate(deserialize(out["Item"])) if "Item" in out else None

    def active_holds(self) -> list[Hold]:
        """Every active hold, oldest first (the hold list in gsi2: no Scan)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=keys.LIST_INDEX,
            KeyConditionExpression="gsi2pk = :holds",
            ExpressionAttributeValues=serialize({":holds": keys.HOLDS_LIST}),
        )
        return [Hold.model_validate(deserialize(item)) for page in pages for item in page["Items"]]

    def mark_applied(self, hold_id: str, now: datetime) -> None:
        self._update(
            keys.key(keys.hold_pk(hold_id), keys.HOLD),
            "SET applied_at = :now",
            "attribute_exists(pk)",
            {":now": iso(now)},
        )

    def release(self, hold_id: str, *, actor: str, reason: str | None, now: datetime, ttl: int) -> bool:
        """Mark the hold released (it leaves the active list; its record expires like evidence). False when
        it was not active."""
        values = {":false": False, ":true": True, ":by": actor, ":at": iso(now), ":ttl": ttl}
        update = "SET active = :false, released_by = :by, released_at = :at, #ttl = :ttl"
        if reason:
            update += ", release_reason = :reason"
            values[":reason"] = reason
        try:
            self._update(
                keys.key(keys.hold_pk(hold_id), keys.HOLD),
                update + " REMOVE gsi2pk, gsi2sk",
                "attribute_exists(pk) AND active = :true",
                values,
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    # --- the leads a hold covers -------------------------------------------------------------

    def members(self, hold_id: str) -> list[Member]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :leads)",
            ExpressionAttributeValues=serialize({":pk": keys.hold_pk(hold_id), ":leads": keys.hold_member_sk("")}),
        )
        return [Member.model_validate(deserialize(item)) for page in pages for item in page["Items"]]

    def add_member(self, hold_id: str, member: Member) -> bool:
        """Record that the hold covers the lead (once) and count it on the hold, in one transaction: a
        process dying between two writes would leave the member uncounted for good (the next run finds
        it recorded and counts nothing). False if already there."""
        item = {
            **member.model_dump(mode="json", exclude_none=True),
            **keys.key(keys.hold_pk(hold_id), keys.hold_member_sk(member.lead_id)),
        }
        put = {"TableName": self.table_name, "Item": serialize(item), "ConditionExpression": "attribute_not_exists(pk)"}
        count = {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.hold_pk(hold_id), keys.HOLD)),
            "UpdateExpression": "ADD leads :one",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": serialize({":one": 1}),
        }
        try:
            retry_conflicts(lambda: self._client.transact_write_items(TransactItems=[{"Put": put}, {"Update": count}]))
        except ClientError as exc:
            if cancellation_codes(exc)[:1] != ["ConditionalCheckFailed"]:
                raise
            return False
        return True

    def mark_swept(self, hold_id: str, lead_id: str, *, lead_open: bool, now: datetime) -> None:
        self._update(
            keys.key(keys.hold_pk(hold_id), keys.hold_member_sk(lead_id)),
            "SET swept_at = :now, lead_open = :open",
            "attribute_exists(pk)",
            {":now": iso(now), ":open": lead_open},
        )

    def mark_member_released(self, hold_id: str, lead_id: str, *, now: datetime, ttl: int) -> None:
        self._update(
            keys.key(keys.hold_pk(hold_id), keys.hold_member_sk(lead_id)),
            "SET released_at = :now, #ttl = :ttl",
            "attribute_exists(pk)",
            {":now": iso(now), ":ttl": ttl},
        )

    # --- a held lead's items -----------------------------------------------------------------

    def lead_items(self, member: Member) -> list[dict[str, Any]]:
        """Keys, ``ttl`` and ``holds`` of every item of the lead: its partition, its certificate's and its
        LeadiD token's when it claims it."""
        claims = [keys.cert_pk(member.cert_id)] if member.cert_id else []
        claims += [keys.leadid_pk(member.leadid_token)] if member.leadid_token else []
        return [item for pk in [keys.lead_pk(member.lead_id), *claims] for item in self._partition(pk)]

    def standing(self, lead_id: str) -> LeadStanding | None:
        """Whether the lead is still open and where its evidence was archived, in one read of its state
        (None: the state is gone)."""
        out = self._client.get_item(
            TableName=self.table_name,
            Key=serialize(keys.key(keys.lead_pk(lead_id), keys.STATE)),
            ProjectionExpression="#st, archived_to",
            ExpressionAttributeNames={"#st": "status"},
            ConsistentRead=True,
        )
        if "Item" not in out:
            return None
        state = deserialize(out["Item"])
        return LeadStanding(
            open=not Status(state["status"]).is_final, archived_to=str(state.get("archived_to") or "") or None
        )

    def hold_items(self, member: Member, hold_id: str) -> int:
        """Take every item of the lead out of TTL for this hold. Returns how many items changed."""
        return sum(self._hold_item(item, hold_id) for item in self.lead_items(member))

    def release_items(self, member: Member, hold_id: str, *, now: datetime, grace: timedelta) -> int:
        """Take this hold off the lead's items; an item no other hold covers gets its expiry back (its
        original ``ttl``, or ``now + grace`` if that has passed). Returns how many items got an expiry."""
        items = self.lead_items(member)
        restored = 0
        for item in items:
            if hold_id in item.get("holds", set()):
                restored += self._release_item(ItemKey(item["pk"], item["sk"]), hold_id, now=now, grace=grace)
        # Another hold still covers the lead: the items written since it last looked (this release's own
        # history event) are held for it now.
        lead_pk = keys.lead_pk(member.lead_id)
        others = set().union(*(item.get("holds", set()) for item in items if item["pk"] == lead_pk)) - {hold_id}
        for other in sorted(others):
            self.hold_items(member, other)
        return restored

    def _hold_item(self, item: dict[str, Any], hold_id: str) -> bool:
        key = ItemKey(item["pk"], item["sk"])
        current: dict[str, Any] | None = item
        for _ in range(ITEM_ATTEMPTS):
            if current is None or ("ttl" not in current and hold_id in current.get("holds", set())):
                return False  # gone, or held already
            if "ttl" in current:
                update, condition = "SET held_ttl = :ttl REMOVE #ttl ADD holds :hold", "#ttl = :ttl"
                values = {":ttl": current["ttl"], ":hold": {hold_id}}
            else:
                update, condition, values = "ADD holds :hold", "attribute_not_exists(#ttl)", {":hold": {hold_id}}
            try:
                self._update(keys.key(key.pk, key.sk), update, f"attribute_exists(pk) AND {condition}", values)
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                current = self._get_bookkeeping(key)  # written meanwhile: look again
                continue
            return True
        raise RuntimeError(f"item {key} kept changing while it was being held")

    def _release_item(self, key: ItemKey, hold_id: str, *, now: datetime, grace: timedelta) -> bool:
        try:
            out = self._update(
                keys.key(key.pk, key.sk),
                "DELETE holds :hold",
                "attribute_exists(pk) AND contains(holds, :id)",
                {":hold": {hold_id}, ":id": hold_id},
                return_values="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False  # gone, or released already
        item = deserialize(out.get("Attributes", {}))
        if item.get("holds"):
            return False  # another hold still stands on it
        if "held_ttl" not in item:
            return False  # it had no expiry before the hold: none is invented
        expiry = max(int(item["held_ttl"]), int((now + grace).timestamp()))
        try:
            # Only if no hold was added meanwhile (the daily apply step racing this release).
            self._update(
                keys.key(key.pk, key.sk),
                "SET #ttl = :ttl REMOVE held_ttl",
                "attribute_exists(pk) AND attribute_not_exists(holds)",
                {":ttl": expiry},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    # --- plumbing ----------------------------------------------------------------------------

    def _partition(self, pk: str) -> list[dict[str, Any]]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": pk}),
            ProjectionExpression="pk, sk, #ttl, holds",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ConsistentRead=True,
        )
        return [deserialize(item) for page in pages for item in page["Items"]]

    def _get_bookkeeping(self, key: ItemKey) -> dict[str, Any] | None:
        out = self._client.get_item(
            TableName=self.table_name,
            Key=serialize(keys.key(key.pk, key.sk)),
            ProjectionExpression="pk, sk, #ttl, holds",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ConsistentRead=True,
        )
        return deserialize(out["Item"]) if "Item" in out else None

    def _update(
        self,
        item_key: dict[str, str],
        update: str,
        condition: str,
        values: dict[str, Any],
        *,
        return_values: str | None = None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": serialize(item_key),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": serialize(values),
        }
        if "#ttl" in update or "#ttl" in condition:
            request["ExpressionAttributeNames"] = {"#ttl": "ttl"}
        if return_values:
            request["ReturnValues"] = return_values
        result: dict[str, Any] = retry_conflicts(lambda: self._client.update_item(**request))
        return result
