"""The revocation ledger (the RevocationLedger port): each revocation once, and a notice of it under every
token of its consumer, for the call gate to read with one strongly consistent Query per token.

Keys (``keys.py``): the revocation is REVOCATION#<id> / REVOCATION, listed in gsi2 (REVOCATIONS#OPEN until it
is honoured, then REVOCATIONS#HONOURED); a notice is REVOKED#<the token's consumer index key> /
<expressed at>#<id>, so the ledger is keyed as the consumer index is (``Keyring.consumer``).

Nothing stored names the consumer to a reader of the table: the consumer as keyed tokens, the message sealed
under the consumer key (``Keyring.seal_text``, named by the revocation's id and recording time: each record
is written once), unsealed when read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from tf_retainer.domain.revocation import MAX_LISTED_LEADS, Notice, Revocation
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.conflicts import error_code, failed_item, retry_conflicts, unavailable_when_transient
from tf_retainer.store.table import Table

NOTICE_FIELDS = ("revocation_id", "expressed_at", "scope", "recorded_at")


class DynamoRevocations:
    def __init__(self, table: Table, *, retention_days: int) -> None:
        self._table = table
        self._keyring = table.codec.keyring
        self._retention = timedelta(days=retention_days)

    @unavailable_when_transient
    def record(self, revocation: Revocation) -> tuple[Revocation, bool]:
        ttl = int((parse_iso(revocation.recorded_at) + self._retention).timestamp())
        record = {
            **revocation.model_dump(mode="json", exclude_none=True, exclude={"message"}),
            **({"message": self._seal(revocation)} if revocation.message is not None else {}),
            **keys.key(keys.revocation_pk(revocation.revocation_id), keys.REVOCATION),
            **keys.revocation_list_keys(revocation.recorded_at, revocation.revocation_id, honoured=False),
            "ttl": ttl,
        }
        notice = {**revocation.notice.model_dump(mode="json"), "ttl": ttl}
        puts: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": serialize(record),
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        for kind, tokens in sorted(revocation.consumer.items()):
            for token in tokens:
                sk = keys.revoked_sk(revocation.expressed_at, revocation.revocation_id)
                item = {**keys.key(keys.revoked_pk(kind, token), sk), **notice}
                puts.append({"Put": {"TableName": self._table.name, "Item": serialize(item)}})
        try:
            retry_conflicts(lambda: self._table.client.transact_write_items(TransactItems=puts))
        except ClientError as exc:
            first = failed_item(exc, 0)
            if first is None:
                raise
            return self._revocation(first), False
        return revocation, True

    def get(self, revocation_id: str) -> Revocation | None:
        item = self._table.get(keys.revocation_pk(revocation_id), keys.REVOCATION)
        return self._revocation(item) if item else None

    @unavailable_when_transient
    def notices(self, tokens: dict[str, str], *, consistent: bool = True) -> list[Notice]:
        found: dict[str, Notice] = {}
        for kind, token in sorted(tokens.items()):
            if kind not in keys.CONTACT_INDEX_KEYS or not token:
                continue
            for item in self._table.partition(keys.revoked_pk(kind, token), consistent=consistent):
                notice = Notice.model_validate({name: item[name] for name in NOTICE_FIELDS})
                found.setdefault(notice.revocation_id, notice)
        return sorted(found.values(), key=lambda notice: (notice.expressed_at, notice.revocation_id))

    @unavailable_when_transient
    def mark_honoured(self, revocation_id: str, *, honored_at: str, leads: list[str], lead_count: int) -> bool:
        return self._update_if(
            revocation_id,
            "SET honored_at = :at, leads = :leads, lead_count = :count, gsi2pk = :honoured",
            "attribute_exists(pk) AND attribute_not_exists(honored_at)",
            {":at": honored_at, ":leads": leads, ":count": lead_count, ":honoured": keys.REVOCATIONS_HONOURED},
        )

    @unavailable_when_transient
    def add_leads(self, revocation_id: str, lead_ids: list[str]) -> None:
        """One update, whoever else adds leads at the same moment (intakes, the scheduled run): appended to the
        list while it has room for them all, else only counted; nothing while it is not honoured (``apply``
        lists its own leads then)."""
        if not lead_ids:
            return
        added = {":added": len(lead_ids)}
        room = {":new": lead_ids, ":room": MAX_LISTED_LEADS - len(lead_ids)}
        if not self._update_if(
            revocation_id,
            "SET leads = list_append(leads, :new) ADD lead_count :added",
            "attribute_exists(honored_at) AND size(leads) <= :room",
            {**added, **room},
        ):
            self._update_if(revocation_id, "ADD lead_count :added", "attribute_exists(honored_at)", added)

    def _update_if(self, revocation_id: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        """The revocation item updated when ``condition`` holds; False when it did not."""
        request = {
            "TableName": self._table.name,
            "Key": serialize(keys.key(keys.revocation_pk(revocation_id), keys.REVOCATION)),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": serialize(values),
        }
        try:
            retry_conflicts(lambda: self._table.client.update_item(**request))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def unhonoured(self, *, recorded_before: datetime | None = None, limit: int | None = None) -> list[Revocation]:
        until = iso(recorded_before) if recorded_before is not None else "~"
        return self._list(keys.REVOCATIONS_OPEN, "0", until, limit)  # every recorded_at is after "0"

    def listed(self, *, since: datetime, until: datetime | None = None) -> list[Revocation]:
        low, high = iso(since), iso(until) if until is not None else "~"
        found = self._list(keys.REVOCATIONS_OPEN, low, high) + self._list(keys.REVOCATIONS_HONOURED, low, high)
        return sorted(found, key=lambda revocation: (revocation.recorded_at, revocation.revocation_id))

    def _list(self, listed: str, low: str, high: str, limit: int | None = None) -> list[Revocation]:
        pages = self._table.client.get_paginator("query").paginate(
            TableName=self._table.name,
            IndexName=keys.LIST_INDEX,
            KeyConditionExpression="gsi2pk = :list AND gsi2sk BETWEEN :low AND :high",
            ExpressionAttributeValues=serialize({":list": listed, ":low": low, ":high": high}),
            PaginationConfig={"MaxItems": limit} if limit else {},
        )
        return [self._revocation(deserialize(item)) for page in pages for item in page["Items"]]

    def _seal(self, revocation: Revocation) -> bytes:
        assert revocation.message is not None
        return self._keyring.seal_text((revocation.revocation_id, revocation.recorded_at), revocation.message)

    def _revocation(self, item: dict[str, Any]) -> Revocation:
        fields = keys.without_bookkeeping(item)
        if "message" in fields:
            name = (str(fields["revocation_id"]), str(fields["recorded_at"]))
            fields["message"] = self._keyring.unseal_text(name, bytes(fields["message"]))
        return Revocation.model_validate(fields)
