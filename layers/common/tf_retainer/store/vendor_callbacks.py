"""Vendors' callback URLs and signing secrets (one per vendor): the CLI's writes, the callback function's read.

The service must sign with the secret, so unlike a vendor's API key it cannot be kept as a hash. It is
kept sealed: encrypted under CallbackSecretKey (KMS), with the vendor in the encryption context, so the
roles that may read the table (intake, retry, the sweeper, holds, the archiver) read only ciphertext. The
registration path (an operator's `tf-retainer vendors callback set`) may encrypt; only CallbackFunction's
role may decrypt (the key's policy: template.yaml). An item written before secrets were sealed keeps its
secret in clear until `tf-retainer vendors callback seal` seals it in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3

from tf_retainer.ports.vendors import CallbackTarget
from tf_retainer.runtime.clock import iso
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize

PURPOSE = "tf-retainer vendor callback secret"


class NoSealingKey(RuntimeError):
    """No callback secret key was given: a secret is never stored in clear."""


class VendorCallbackStore:
    def __init__(self, table_name: str, *, client: Any = None, kms: Any = None, key_id: str = "") -> None:
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")
        self._kms = kms
        self._key_id = key_id
        self._opened: dict[tuple[str, bytes], str] = {}  # (vendor, sealed) -> secret: one Decrypt each

    def put(self, vendor: str, url: str, secret: str, *, now: datetime, active: bool = True) -> CallbackTarget:
        item = {
            **keys.key(keys.vendor_callback_pk(vendor), keys.CALLBACK),
            "vendor": vendor,
            "url": url,
            "sealed_secret": self._seal(vendor, secret),
            "active": active,
            "changed_at": iso(now),
        }
        self._client.put_item(TableName=self.table_name, Item=serialize(item))
        return _target(item, secret)

    def get(self, vendor: str) -> CallbackTarget | None:
        """The vendor's callback with its secret (decrypted: CallbackFunction's role only)."""
        item = self._item(vendor)
        return None if item is None else _target(item, self._unseal(vendor, item))

    def registration(self, vendor: str) -> CallbackTarget | None:
        """The vendor's callback without its secret (the operator's view: no decryption)."""
        item = self._item(vendor)
        return None if item is None else _target(item, "")

    def set_active(self, vendor: str, active: bool, *, now: datetime) -> bool:
        """Stop (or resume) calling the vendor back, its secret untouched. False: no such callback."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=serialize(keys.key(keys.vendor_callback_pk(vendor), keys.CALLBACK)),
                UpdateExpression="SET active = :active, changed_at = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=serialize({":active": active, ":now": iso(now)}),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def seal(self, vendor: str) -> bool:
        """Seal a secret stored in clear before secrets were sealed, in place (the vendor keeps it). False:
        nothing to seal."""
        item = self._item(vendor)
        if item is None or "secret" not in item:
            return False
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=serialize(keys.key(keys.vendor_callback_pk(vendor), keys.CALLBACK)),
                UpdateExpression="SET sealed_secret = :sealed REMOVE secret",
                ConditionExpression="secret = :clear",
                ExpressionAttributeValues=serialize(
                    {":sealed": self._seal(vendor, str(item["secret"])), ":clear": item["secret"]}
                ),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False  # changed meanwhile (set again: sealed)
        return True

    def _item(self, vendor: str) -> dict[str, Any] | None:
        out = self._client.get_item(
            TableName=self.table_name,
            Key=serialize(keys.key(keys.vendor_callback_pk(vendor), keys.CALLBACK)),
            ConsistentRead=True,
        )
        return deserialize(out["Item"]) if "Item" in out else None

    def _seal(self, vendor: str, secret: str) -> bytes:
        if self._kms is None or not self._key_id:
            raise NoSealingKey("no callback secret key (CallbackSecretKey): a secret is never stored in clear")
        out = self._kms.encrypt(KeyId=self._key_id, Plaintext=secret.encode(), EncryptionContext=_context(vendor))
        return bytes(out["CiphertextBlob"])

    def _unseal(self, vendor: str, item: dict[str, Any]) -> str:
        if "sealed_secret" not in item:
            return str(item.get("secret", ""))  # stored before sealing: `vendors callback seal` seals it
        if self._kms is None or not self._key_id:
            raise NoSealingKey("no callback secret key (CallbackSecretKey) to open the vendor's secret with")
        sealed = bytes(item["sealed_secret"])
        if (vendor, sealed) not in self._opened:
            out = self._kms.decrypt(KeyId=self._key_id, CiphertextBlob=sealed, EncryptionContext=_context(vendor))
            self._opened[(vendor, sealed)] = bytes(out["Plaintext"]).decode()
        return self._opened[(vendor, sealed)]


def _context(vendor: str) -> dict[str, str]:
    """Binds a sealed secret to its vendor: moved to another vendor's item, it does not open."""
    return {"purpose": PURPOSE, "vendor": vendor}


def _target(item: dict[str, Any], secret: str) -> CallbackTarget:
    return CallbackTarget(
        vendor=item["vendor"],
        url=item["url"],
        secret=secret,
        active=bool(item.get("active")),
        changed_at=item.get("changed_at", ""),
    )
