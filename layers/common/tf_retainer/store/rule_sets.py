"""The buyer's rule sets: every change a new immutable version; the active one copied beside them so
intake reads it with one GetItem."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3

from tf_retainer.decisions.rulebook import RuleSetVersion
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.runtime.clock import iso
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.conflicts import all_unavailable_when_transient
from tf_retainer.store.versions import RulesChanged, put_version

__all__ = ["RuleStore", "RulesChanged"]


def _stored(item: dict[str, Any]) -> RuleSetVersion:
    return RuleSetVersion(
        scope=item["scope"],
        version=int(item["version"]),
        rules=RuleSet.model_validate(item["rules"]),
        created_at=item["created_at"],
        actor=item.get("actor", ""),
    )


@all_unavailable_when_transient
class RuleStore:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")

    def active(self, scope: str) -> RuleSetVersion | None:
        return self._get(keys.rules_pk(scope), keys.ACTIVE)

    def version(self, scope: str, version: int) -> RuleSetVersion | None:
        return self._get(keys.rules_pk(scope), keys.rules_version_sk(version))

    def versions(self, scope: str) -> list[RuleSetVersion]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues=serialize({":pk": keys.rules_pk(scope), ":v": keys.RULES_VERSION_PREFIX}),
        )
        return [_stored(deserialize(item)) for page in pages for item in page["Items"]]

    def publish(self, scope: str, rules: RuleSet, *, actor: str, now: datetime) -> RuleSetVersion:
        """A new version, made active; all or nothing, and refused if another change came first."""
        current = self.active(scope)
        stored = RuleSetVersion(scope, (current.version if current else 0) + 1, rules, iso(now), actor)
        item = {
            "scope": scope,
            "version": stored.version,
            "rules": rules.model_dump(mode="json", exclude_unset=True),
            "created_at": stored.created_at,
            "actor": actor,
        }
        put_version(
            self._client, self.table_name, keys.rules_pk(scope), item, seen=current.version if current else None
        )
        return stored

    def _get(self, pk: str, sk: str) -> RuleSetVersion | None:
        out = self._client.get_item(TableName=self.table_name, Key=serialize(keys.key(pk, sk)), ConsistentRead=True)
        return _stored(deserialize(out["Item"])) if "Item" in out else None
