"""What the archiver reads and writes on a lead's items: whether (and where) the lead is archived, and
its items' expiry.

The archived record itself is read through ``LeadStore.read_lead`` (the stable contract); this module
only needs to know that a lead's items share its partition, that the state item is ``STATE`` and that
its chain entries are numbered (``keys.entry_seq``). Nothing here deletes: an archived lead's chain
entries are given an earlier TTL, except the chain's head (its last entry, and the one the state was
brought up to): history recorded after archiving follows that head (entry n + 1 names entry n's hash),
and a chain whose head had expired would start again at entry 1. The state item keeps its own TTL (its
consumer and vendor index entries and ``archived_to`` stay findable for the whole retention).

Legal hold (``store/holds.py``): a held item has no ``ttl`` (moved to ``held_ttl``) and carries the
covering holds' ids in ``holds``. A lead any of whose items carries either is not shortened at all; an
item held after the read keeps its expiry too, since the hold removes ``ttl`` and the early expiry is
conditional on the ``ttl`` read.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from tf_retainer.ports.evidence import ArchiveMark, ItemExpiry, Marked
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.conflicts import error_code, retry_conflicts

# The only attributes the archiver's UpdateItem may name (the template's dynamodb:Attributes condition).
ARCHIVER_ATTRIBUTES = ("pk", "sk", "ttl", "archived_to", "archived_at")


class ArchiveMarks:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")

    def read(self, lead_id: str) -> ArchiveMark | None:
        """None when the lead's state item is gone."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": keys.lead_pk(lead_id)}),
            ProjectionExpression="pk, sk, #ttl, archived_to, archived_at, applied, holds, held_ttl",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ConsistentRead=True,
        )
        items = [deserialize(item) for page in pages for item in page["Items"]]
        state = next((item for item in items if keys.is_state(item)), None)
        if state is None:
            return None
        entries = [keys.entry_seq(item["sk"]) for item in items if keys.is_entry(item)]
        head = {int(state.get("applied") or 0), max(entries, default=0)}
        return ArchiveMark(
            archived_to=state.get("archived_to"),
            archived_at=state.get("archived_at"),
            held=any(item.get("holds") or "held_ttl" in item for item in items),
            items=[
                ItemExpiry(item["pk"], item["sk"], int(item["ttl"]) if "ttl" in item else None)
                for item in items
                if keys.is_entry(item) and keys.entry_seq(item["sk"]) not in head
            ],
        )

    def mark(self, lead_id: str, *, archived_to: str, archived_at: str) -> Marked:
        """Record where the lead's evidence is archived (NOT_MARKED when it already was, or its state is gone),
        then whether a legal hold covers it, read after the write (strongly consistent): a hold set meanwhile
        either held the state item before that read, and is seen here, or reads ``archived_to`` after this
        write, and locks the object itself (evidence/legal_hold.py). Either way the object is locked."""
        request = {
            "TableName": self.table_name,
            "Key": serialize(keys.key(keys.lead_pk(lead_id), keys.STATE)),
            "UpdateExpression": "SET archived_to = :to, archived_at = :at",
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(archived_to)",
            "ExpressionAttributeValues": serialize({":to": archived_to, ":at": archived_at}),
        }
        if not self._update(request):
            return Marked.NOT_MARKED
        out = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND sk = :state",
            ExpressionAttributeValues=serialize({":pk": keys.lead_pk(lead_id), ":state": keys.STATE}),
            ProjectionExpression="holds, held_ttl",
            ConsistentRead=True,
        )
        state = deserialize(out["Items"][0]) if out["Items"] else {}
        return Marked.HELD if state.get("holds") or "held_ttl" in state else Marked.MARKED

    def expire_early(self, item: ItemExpiry, ttl: int) -> bool:
        """Bring one item's expiry forward to ``ttl``, only if its TTL is still the one read (a legal hold
        that extends or removes it meanwhile wins) and later than ``ttl``."""
        if item.ttl is None or item.ttl <= ttl:
            return False
        request = {
            "TableName": self.table_name,
            "Key": serialize(keys.key(item.pk, item.sk)),
            "UpdateExpression": "SET #ttl = :ttl",
            "ConditionExpression": "#ttl = :seen",
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": serialize({":ttl": ttl, ":seen": item.ttl}),
        }
        return self._update(request)

    def _update(self, request: dict[str, Any]) -> bool:
        try:
            retry_conflicts(lambda: self._client.update_item(**request))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
