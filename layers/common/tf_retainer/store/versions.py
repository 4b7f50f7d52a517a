"""Versioned documents (the buyer's rule sets, the calling override): every change a new immutable version
under V#<version>, the active one copied beside them under ACTIVE so a reader needs one GetItem."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tf_retainer.store import keys
from tf_retainer.store.codec import serialize
from tf_retainer.store.conflicts import cancellation_codes


class RulesChanged(Exception):
    """Another change was made since the rule set was read: nothing was written."""


def put_version(client: Any, table_name: str, pk: str, item: dict[str, Any], *, seen: int | None) -> None:
    """A new immutable version (``item["version"]``) and the same as the partition's active one, all or
    nothing, if the active version is still ``seen`` (None: there was none). Raises RulesChanged."""
    version_put = {
        "TableName": table_name,
        "Item": serialize({**keys.key(pk, keys.rules_version_sk(item["version"])), **item}),
        "ConditionExpression": "attribute_not_exists(pk)",
    }
    active_put: dict[str, Any] = {
        "TableName": table_name,
        "Item": serialize({**keys.key(pk, keys.ACTIVE), **item}),
        "ConditionExpression": "attribute_not_exists(pk)" if seen is None else "version = :seen",
    }
    if seen is not None:
        active_put["ExpressionAttributeValues"] = serialize({":seen": seen})
    try:
        client.transact_write_items(TransactItems=[{"Put": version_put}, {"Put": active_put}])
    except ClientError as exc:
        if "ConditionalCheckFailed" in cancellation_codes(exc):
            raise RulesChanged(pk) from exc
        raise
