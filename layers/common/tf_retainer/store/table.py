"""One table, read the way every part of the lead store reads it: one item, one partition, a lead's
chain entries after a number, lead states a hundred at a time."""

from __future__ import annotations

from typing import Any

from tf_retainer.domain import chain
from tf_retainer.domain.lead import Claim, Lead
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.items import stored_entry, stored_link
from tf_retainer.store.lead_item import LeadCodec


class Table:
    """The table's name and the client every store of the lead's items shares (one connection pool)."""

    def __init__(self, table_name: str, client: Any, codec: LeadCodec) -> None:
        self.name = table_name
        self.client = client
        self.codec = codec

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        out = self.client.get_item(TableName=self.name, Key=serialize(keys.key(pk, sk)), ConsistentRead=True)
        return deserialize(out["Item"]) if "Item" in out else None

    def lead(self, lead_id: str, *, with_match: bool = False) -> Lead | None:
        item = self.get(keys.lead_pk(lead_id), keys.STATE)
        return self.codec.lead(item, with_match=with_match) if item else None

    def partition(self, pk: str, *, consistent: bool = True) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("query").paginate(
            TableName=self.name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": pk}),
            ConsistentRead=consistent,
        )
        return [deserialize(item) for page in pages for item in page["Items"]]

    def entries_after(self, lead_id: str, seq: int) -> list[chain.Entry]:
        """The entries of a lead's chain after number ``seq``, in order (one strongly consistent query)."""
        out = self.client.query(
            TableName=self.name,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :after AND :last",
            ExpressionAttributeValues=serialize(
                {":pk": keys.lead_pk(lead_id), ":after": keys.entry_sk(seq + 1), ":last": keys.entry_sk(999_999)}
            ),
            ConsistentRead=True,
        )
        return [stored_entry(deserialize(item)) for item in out["Items"]]

    def last_entry(self, lead_id: str) -> chain.Entry | None:
        out = self.client.query(
            TableName=self.name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :entries)",
            ExpressionAttributeValues=serialize({":pk": keys.lead_pk(lead_id), ":entries": keys.ENTRY_PREFIX}),
            ConsistentRead=True,
            ScanIndexForward=False,
            Limit=1,
        )
        return stored_entry(deserialize(out["Items"][0])) if out["Items"] else None

    def chain_links(self, lead_id: str) -> list[chain.Link]:
        """A lead's chain as stored, unchecked: what ``chain.verify`` checks."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self.name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :entries)",
            ExpressionAttributeValues=serialize({":pk": keys.lead_pk(lead_id), ":entries": keys.ENTRY_PREFIX}),
            ConsistentRead=True,
        )
        return [stored_link(deserialize(item)) for page in pages for item in page["Items"]]

    def states(self, lead_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Lead state items by partition key, read 100 at a time (BatchGetItem; what it leaves unprocessed,
        asked again)."""
        states: dict[str, dict[str, Any]] = {}
        for start in range(0, len(lead_ids), 100):
            wanted = [
                serialize(keys.key(keys.lead_pk(lead_id), keys.STATE)) for lead_id in lead_ids[start : start + 100]
            ]
            request: dict[str, Any] = {self.name: {"Keys": wanted}}
            while request:
                out = self.client.batch_get_item(RequestItems=request)
                for item in out["Responses"].get(self.name, []):
                    state = deserialize(item)
                    states[state["pk"]] = state
                request = out.get("UnprocessedKeys") or {}
        return states


def claim_of(claim: Claim, holder: Lead) -> Claim:
    """The claim as the intake decides on it: the holder's status and what TrustedForm said of it."""
    return claim.model_copy(update={"status": holder.status, **holder.facts()})


def came_with(lead: Lead, cert_id: str | None, leadid_token: str | None) -> bool:
    """Whether ``lead`` came with the record a claim is on: the certificate ``cert_id`` or, without one, the
    LeadiD token. A claim may name a lead that did not: a repeat of that lead's id sent with another
    certificate left it (store/reservation.py)."""
    return lead.cert_id == cert_id if cert_id is not None else lead.leadid_token == leadid_token
