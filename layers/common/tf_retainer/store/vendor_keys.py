"""Vendors' API keys, stored hashed: the authorizer's one read and the CLI's writes."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from tf_retainer.ports.vendors import VendorKey
from tf_retainer.runtime.clock import iso
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize


def _from_item(item: dict[str, Any]) -> VendorKey:
    return VendorKey(
        vendor=item["vendor"],
        active=bool(item.get("active")),
        key_hash=item["pk"].removeprefix(keys.VENDOR_KEY_PREFIX),
        key_hint=item.get("key_hint"),
        created_at=item.get("created_at"),
        changed_at=item.get("changed_at"),
        suspended=item.get("suspended"),
        resumed_at=item.get("resumed_at"),
        role=item.get("role", "vendor"),
    )


class VendorKeyStore:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")

    def put(self, api_key: str, vendor: str, *, now: datetime, role: str = "vendor") -> VendorKey:
        digest = keys.key_hash(api_key)
        item = {
            **keys.key(keys.vendor_key_pk(digest), keys.VENDOR),
            "gsi2pk": keys.VENDOR_KEYS_LIST,
            "gsi2sk": f"{vendor}#{digest}",
            "vendor": vendor,
            "active": True,
            "created_at": iso(now),
            "key_hint": api_key[-4:],
            **({"role": role} if role != "vendor" else {}),
        }
        self._client.put_item(TableName=self.table_name, Item=serialize(item))
        return _from_item(item)

    def lookup(self, api_key: str) -> VendorKey | None:
        pk = keys.vendor_key_pk(keys.key_hash(api_key))
        out = self._client.get_item(
            TableName=self.table_name, Key=serialize(keys.key(pk, keys.VENDOR)), ConsistentRead=True
        )
        return _from_item(deserialize(out["Item"])) if "Item" in out else None

    def set_active(self, key_hash: str, active: bool, *, now: datetime, actor: str = "operator") -> bool:
        """Revoke (or restore) a key, with a history event under it. False when there is no such key."""
        return self._change(
            key_hash,
            "key_restored" if active else "key_revoked",
            "SET active = :a, changed_at = :t",
            {":a": active},
            detail={},
            actor=actor,
            now=now,
        )

    def set_suspended(
        self,
        key_hash: str,
        *,
        suspended: bool,
        reason: str | None,
        actor: str,
        now: datetime,
        seen: VendorKey | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Suspend (or resume) one key's vendor: the suspension on the key item, a history event under it
        (``detail`` adds to the event's). False when there is no such key; with ``seen`` (a suspension
        decided from the key as read then), also when the key was suspended or resumed since."""
        condition, condition_values = "attribute_exists(pk)", {}
        if suspended:
            suspension = {"reason": reason or "", "by": actor, "at": iso(now)}
            expression, values = "SET suspended = :s, changed_at = :t", {":s": suspension}
            if seen is not None:
                condition += " AND attribute_not_exists(suspended)"
                if seen.resumed_at is None:
                    condition += " AND attribute_not_exists(resumed_at)"
                else:
                    condition += " AND resumed_at = :seen_resumed"
                    condition_values[":seen_resumed"] = seen.resumed_at
        else:
            expression, values = "SET changed_at = :t, resumed_at = :t REMOVE suspended", {}
        event_type = "vendor_suspended" if suspended else "vendor_resumed"
        event_detail = {**({"reason": reason} if reason else {}), **(detail or {})}
        return self._change(
            key_hash,
            event_type,
            expression,
            {**values, **condition_values},
            detail=event_detail,
            actor=actor,
            now=now,
            condition=condition,
        )

    def _change(
        self,
        key_hash: str,
        event_type: str,
        expression: str,
        values: dict[str, Any],
        *,
        detail: dict[str, Any],
        actor: str,
        now: datetime,
        condition: str = "attribute_exists(pk)",
    ) -> bool:
        """One change to a key item (``:t`` is the change's time) and its history event, together, if
        ``condition`` holds."""
        pk, stamp = keys.vendor_key_pk(key_hash), iso(now)
        event: dict[str, Any] = {
            **keys.key(pk, keys.event_sk(stamp, 0, secrets.token_hex(6))),
            "type": event_type,
            "at": stamp,
            "actor": actor,
            "detail": detail,
        }
        update = {
            "TableName": self.table_name,
            "Key": serialize(keys.key(pk, keys.VENDOR)),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": serialize({**values, ":t": stamp}),
        }
        try:
            self._client.transact_write_items(
                TransactItems=[{"Update": update}, {"Put": {"TableName": self.table_name, "Item": serialize(event)}}]
            )
        except ClientError as exc:
            if exc.response.get("CancellationReasons", [{}])[0].get("Code") == "ConditionalCheckFailed":
                return False
            raise
        return True

    def history(self, key_hash: str) -> list[dict[str, Any]]:
        """The key's events (revoked/restored, vendor suspended/resumed), oldest first."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :events)",
            ExpressionAttributeValues=serialize({":pk": keys.vendor_key_pk(key_hash), ":events": keys.EVENT_PREFIX}),
        )
        fields = ("type", "at", "actor", "detail")
        return [{name: item.get(name) for name in fields} for page in pages for item in map(deserialize, page["Items"])]

    def list(self) -> list[VendorKey]:
        """Every key, by vendor (the list index: one query, no Scan)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=keys.LIST_INDEX,
            KeyConditionExpression="gsi2pk = :list",
            ExpressionAttributeValues=serialize({":list": keys.VENDOR_KEYS_LIST}),
        )
        return [_from_item(deserialize(item)) for page in pages for item in page["Items"]]
