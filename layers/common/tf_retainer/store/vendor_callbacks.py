"""Vendors' callback URLs and signing secrets (one per vendor): the CLI's writes, the callback function's read.

The secret is kept in the table (encrypted with the table's key, readable only through DynamoDB): the
service must sign with it, so unlike a vendor's API key it cannot be stored as a hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3

from tf_retainer.ports.vendors import CallbackTarget
from tf_retainer.runtime.clock import iso
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize


class VendorCallbackStore:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")

    def put(self, vendor: str, url: str, secret: str, *, now: datetime, active: bool = True) -> CallbackTarget:
        item = {
            **keys.key(keys.vendor_callback_pk(vendor), keys.CALLBACK),
            "vendor": vendor,
            "url": url,
            "secret": secret,
            "active": active,
            "changed_at": iso(now),
        }
        self._client.put_item(TableName=self.table_name, Item=serialize(item))
        return _target(item)

    def get(self, vendor: str) -> CallbackTarget | None:
        out = self._client.get_item(
            TableName=self.table_name,
            Key=serialize(keys.key(keys.vendor_callback_pk(vendor), keys.CALLBACK)),
            ConsistentRead=True,
        )
        return _target(deserialize(out["Item"])) if "Item" in out else None


def _target(item: dict[str, Any]) -> CallbackTarget:
    return CallbackTarget(
        vendor=item["vendor"],
        url=item["url"],
        secret=item["secret"],
        active=bool(item.get("active")),
        changed_at=item.get("changed_at", ""),
    )
