"""The buyer's calling override (the law of the hour, over the shipped rules): every change a new immutable
version, the active one copied beside them so the gate reads it with one GetItem (CALLING / ACTIVE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tf_retainer.decisions.calling import CallingOverride, StoredOverride
from tf_retainer.runtime.clock import iso
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.table import Table
from tf_retainer.store.versions import put_version


def _stored(item: dict[str, Any]) -> StoredOverride:
    # JSON text: the item codec leaves None out of maps, and an override's nulls mean something ("sun": null, no
    # contact on Sundays; "cap": null or a state null, removed). Versions stored as a map before are read as such.
    override = item["override"]
    return StoredOverride(
        version=int(item["version"]),
        override=CallingOverride.model_validate_json(override)
        if isinstance(override, str)
        else CallingOverride.model_validate(override),
        created_at=item["created_at"],
        actor=item.get("actor", ""),
    )


class CallingRuleStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def active(self) -> StoredOverride | None:
        item = self._table.get(keys.CALLING_RULES, keys.ACTIVE)
        return _stored(item) if item else None

    def versions(self) -> list[StoredOverride]:
        pages = self._table.client.get_paginator("query").paginate(
            TableName=self._table.name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues=serialize({":pk": keys.CALLING_RULES, ":v": keys.RULES_VERSION_PREFIX}),
        )
        return [_stored(deserialize(item)) for page in pages for item in page["Items"]]

    def publish(self, override: CallingOverride, *, actor: str, now: datetime) -> StoredOverride:
        """A new version, made active; all or nothing, and refused (RulesChanged) if another change came first."""
        current = self.active()
        stored = StoredOverride((current.version if current else 0) + 1, override, iso(now), actor)
        item = {
            "version": stored.version,
            "override": override.model_dump_json(exclude_unset=True),
            "created_at": stored.created_at,
            "actor": actor,
        }
        put_version(
            self._table.client, self._table.name, keys.CALLING_RULES, item, seen=current.version if current else None
        )
        return stored
