"""The per-number screen results (the ScreenResults port): the last answer about each number, shared by
every lead that carries it, and a lease so that one caller at a time asks the provider.

One item per screen and number (and consent date, for a reassigned-number check): ``result`` (the
ScreenResult), ``checked_at``, and while someone asks, ``lease_owner`` / ``lease_until``. Taking the lease is
one conditional UpdateItem that answers, when it fails, with the item that stopped it (ALL_OLD): a fresh
answer to use, or another caller's lease to wait on. Items expire (TTL) once no rule can use them.

DynamoDB's faults (issue 24, found by the fault soak's screens): a write refused because another writer
holds the item (TransactionConflictException, which botocore does not retry) is tried again, as the lead
store's are: an answer paid for and not shared, with its lease left held, would make the next lead with
the number wait for the lease to lapse and pay for the same answer again. A lease write applied whose answer
was lost is sent again by the client and fails its condition on the caller's own lease: it is the caller's.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from tf_retainer.domain.screens import ScreenResult
from tf_retainer.ports.screening import ResultKey, StoredResult
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.conflicts import error_code, retry_conflicts, unavailable_when_transient


def _key(key: ResultKey) -> dict[str, Any]:
    pk = keys.screen_result_pk(key.screen.value, key.number_key, key.consent_date)
    return serialize(keys.key(pk, keys.SCREEN_RESULT))


def _stored(item: dict[str, Any]) -> StoredResult:
    result = item.get("result")
    return StoredResult(
        result=ScreenResult.model_validate(result) if isinstance(result, dict) else None,
        lease_owner=item.get("lease_owner"),
        lease_until=item.get("lease_until"),
    )


class DynamoScreenResults:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")

    @unavailable_when_transient
    def read(self, key: ResultKey) -> StoredResult | None:
        out = self._client.get_item(TableName=self.table_name, Key=_key(key), ConsistentRead=True)
        return _stored(deserialize(out["Item"])) if "Item" in out else None

    @unavailable_when_transient
    def claim(
        self, key: ResultKey, *, owner: str, now: str, until: str, fresh_after: str, expires: int
    ) -> StoredResult | None:
        try:
            old = self._update(
                ReturnValues="UPDATED_OLD",
                Key=_key(key),
                UpdateExpression="SET lease_owner = :owner, lease_until = :until, #ttl = :ttl",
                ConditionExpression=(
                    "(attribute_not_exists(checked_at) OR checked_at < :fresh) "
                    "AND (attribute_not_exists(lease_until) OR lease_until < :now)"
                ),
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=serialize(
                    {":owner": owner, ":until": until, ":fresh": fresh_after, ":now": now, ":ttl": expires}
                ),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            stopped = _stored(deserialize(exc.response.get("Item") or {}))
            # our own lease: the write applied, its answer lost, and the client's retry met it
            return None if stopped.lease_owner == owner else stopped
        lapsed = deserialize(old.get("Attributes") or {}).get("lease_owner")  # a holder that never let go
        return StoredResult(None, owner, lapsed_owner=lapsed) if lapsed and lapsed != owner else None

    @unavailable_when_transient
    def store(self, key: ResultKey, result: ScreenResult, *, owner: str, expires: int) -> None:
        """The answer, kept unless a newer one is there already; the lease (if still ours) released."""
        try:
            self._update(
                Key=_key(key),
                UpdateExpression="SET #result = :result, checked_at = :at, #ttl = :ttl REMOVE lease_owner, lease_until",
                ConditionExpression="attribute_not_exists(checked_at) OR checked_at < :at OR lease_owner = :owner",
                ExpressionAttributeNames={"#result": "result", "#ttl": "ttl"},
                ExpressionAttributeValues=serialize(
                    {
                        ":result": result.model_dump(mode="json", exclude_none=True),
                        ":at": result.checked_at,
                        ":ttl": expires,
                        ":owner": owner,
                    }
                ),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # a newer answer stands: fine
                raise

    @unavailable_when_transient
    def release(self, key: ResultKey, *, owner: str) -> None:
        try:
            self._update(
                Key=_key(key),
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues=serialize({":owner": owner}),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def _update(self, **request: Any) -> Any:
        """One conditional UpdateItem, again while another writer holds the item (retry_conflicts)."""
        return retry_conflicts(lambda: self._client.update_item(TableName=self.table_name, **request))
