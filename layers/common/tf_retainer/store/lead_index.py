"""Leads found by something other than their id (the LeadIndex port): a vendor's by date, a consumer's by
contact fingerprint, the open ones by the time they are due to be checked, the ones still as reserved by
the date they arrived (with the sweeper's watermark over them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tf_retainer.domain.lead import Lead
from tf_retainer.ports.leads import Revisit, SweepMark, UnreadableLead
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.conflicts import all_unavailable_when_transient, error_code, retry_conflicts
from tf_retainer.store.items import ItemBuilder
from tf_retainer.store.table import Table

# Keys per page of a vendor index Query: a page's answer is then small and bounded (~30 KB), inside one
# attempt's read timeout however many leads a vendor sent in the period (DynamoDB's own 1 MB page holds ~8,000
# keys: seconds in the local stack's moto, which serializes each item in Python).
VENDOR_INDEX_PAGE = 250


@all_unavailable_when_transient
class DynamoLeadIndex:
    def __init__(self, table: Table, *, items: ItemBuilder) -> None:
        self._table = table
        self._items = items

    def vendor_leads(
        self, vendor: str, *, since: datetime, until: datetime | None = None, limit: int | None = None
    ) -> list[Lead]:
        """A vendor's leads received in a period, oldest first (the vendor index, keys only, then the states)."""
        pages = self._vendor_pages(vendor, since, until, limit)
        return [self._table.codec.lead(state) for _, state in self._vendor_states(pages)]

    def _vendor_pages(self, vendor: str, since: datetime, until: datetime | None, limit: int | None = None) -> Any:
        return self._table.client.get_paginator("query").paginate(
            TableName=self._table.name,
            IndexName=keys.VENDOR_INDEX,
            KeyConditionExpression="gsi1pk = :v AND gsi1sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues=serialize(
                {":v": keys.vendor_index_pk(vendor), ":lo": iso(since), ":hi": iso(until) if until else "~"}
            ),
            PaginationConfig={"PageSize": VENDOR_INDEX_PAGE} | ({"MaxItems": limit} if limit else {}),
        )

    def _vendor_states(self, pages: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The vendor index's keys of these pages, each with its lead's state (BatchGetItem), in index order."""
        found = [deserialize(item) for page in pages for item in page["Items"]]
        states = self._table.states([keys.lead_id_of(item["pk"]) for item in found])
        return [(item, state) for item in found if (state := states.get(item["pk"])) is not None]

    def consumer_leads(self, kind: str, fingerprint: str) -> list[Lead]:
        """Every lead (any vendor) carrying this email or phone fingerprint (SHA-1, as TrustedForm gets it),
        oldest first: a Query of the consumer index (KEYS_ONLY, on the fingerprint's keyed token), then
        each lead's state read whole. Leads stored before the index
        existed are in it only once ``index_contacts`` has put them there."""
        return self.consumer_leads_by_token(kind, self.consumer_token(kind, fingerprint))

    def consumer_token(self, kind: str, fingerprint: str) -> str:
        return self._table.codec.keyring.consumer(kind, fingerprint)

    def consumer_leads_by_token(self, kind: str, token: str) -> list[Lead]:
        """``consumer_leads`` by the fingerprint's keyed token (what the revocation ledger keeps): no key needed."""
        pages = self._table.client.get_paginator("query").paginate(
            TableName=self._table.name,
            IndexName=keys.CONTACT_INDEXES[kind],
            KeyConditionExpression=f"{keys.CONTACT_INDEX_KEYS[kind]} = :token",
            ExpressionAttributeValues=serialize({":token": keys.contact_index_pk(kind, token)}),
        )
        lead_ids = [keys.lead_id_of(deserialize(item)["pk"]) for page in pages for item in page["Items"]]
        leads = [lead for lead_id in lead_ids if (lead := self._table.lead(lead_id)) is not None]
        return sorted(leads, key=lambda lead: (lead.received_at, lead.lead_id))

    def index_contacts(self, vendor: str) -> tuple[int, int]:
        """Backfill: put a vendor's leads that are missing from the consumer indexes into them (read from
        the vendor index, every date). Returns (leads put in, leads already there or without contact)."""
        pages = self._table.client.get_paginator("query").paginate(
            TableName=self._table.name,
            IndexName=keys.VENDOR_INDEX,
            KeyConditionExpression="gsi1pk = :v",
            ExpressionAttributeValues=serialize({":v": keys.vendor_index_pk(vendor)}),
        )
        indexed = skipped = 0
        found = [keys.lead_id_of(deserialize(item)["pk"]) for page in pages for item in page["Items"]]
        for item in self._table.states(found).values():
            lead = self._table.codec.lead(item, with_match=True)
            wanted = self._table.codec.consumer_index_keys(lead)
            if all(item.get(name) == value for name, value in wanted.items()) or not self._index_contacts_of(lead):
                skipped += 1
            else:
                indexed += 1
        return indexed, skipped

    def _index_contacts_of(self, lead: Lead) -> bool:
        request = self._items.contact_index(lead)
        if request is None:
            return False
        try:
            retry_conflicts(lambda: self._table.client.update_item(**request))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # expired meanwhile: nothing to index
                raise
            return False
        return True

    def open_leads(self, *, overdue_at: datetime | None = None, limit: int | None = None) -> list[Lead]:
        """Received or pending leads (the sparse open index, one query per shard), by time to be checked.

        ``overdue_at``: only those whose time to be checked is before that moment.
        """
        leads: list[Lead] = []
        for shard in keys.open_shards():
            condition, values = "gsi2pk = :shard", {":shard": shard}
            if overdue_at is not None:
                condition += " AND gsi2sk < :now"
                values[":now"] = iso(overdue_at)
            pages = self._table.client.get_paginator("query").paginate(
                TableName=self._table.name,
                IndexName=keys.LIST_INDEX,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=serialize(values),
                PaginationConfig={"MaxItems": limit} if limit else {},
            )
            leads += [self._table.codec.lead(deserialize(item)) for page in pages for item in page["Items"]]
        leads.sort(key=lambda lead: lead.check_after or "")
        return leads[:limit] if limit is not None else leads

    def unstepped_leads(self, *, received_from: datetime, received_until: datetime) -> list[Lead | UnreadableLead]:
        """Leads still as they were reserved (received, no step recorded: not in the open index) that arrived
        in the period, every vendor with a key: a Query of the vendor index per vendor, then the states
        (BatchGetItem, eventually consistent: the sweeper's conditional lease decides). Oldest first."""
        pages = self._table.client.get_paginator("query").paginate(
            TableName=self._table.name,
            IndexName=keys.LIST_INDEX,
            KeyConditionExpression="gsi2pk = :list",
            ProjectionExpression="#vendor",
            ExpressionAttributeNames={"#vendor": "vendor"},
            ExpressionAttributeValues=serialize({":list": keys.VENDOR_KEYS_LIST}),
        )
        vendors = sorted({str(deserialize(item)["vendor"]) for page in pages for item in page["Items"]})
        found: list[Lead | UnreadableLead] = []
        for vendor in vendors:
            for key, state in self._vendor_states(self._vendor_pages(vendor, received_from, received_until)):
                try:
                    lead = self._table.codec.lead(state)
                except Exception:  # whatever a malformed item makes the decoder raise: named, not raised
                    received_at, _, lead_id = str(key["gsi1sk"]).rpartition("#")
                    found.append(UnreadableLead(lead_id, parse_iso(received_at)))
                    continue
                if lead.as_reserved():
                    found.append(lead)
        return sorted(found, key=_arrival)

    def sweep_mark(self) -> SweepMark:
        """The sweeper's mark: up to when every lead still as reserved was looked at, and those it failed to
        requeue (each an id and the moment it arrived)."""
        item = self._table.get(*keys.RECEIVED_MARK)
        if item is None:
            return SweepMark()
        revisit = tuple(Revisit(str(entry["id"]), parse_iso(str(entry["at"]))) for entry in item.get("revisit", []))
        until = parse_iso(str(item["until"])) if "until" in item else None
        return SweepMark(until=until, revisit=revisit, version=int(item.get("version", 0)))

    def save_sweep_mark(self, mark: SweepMark, *, read: SweepMark) -> bool:
        """Put the mark, one version past ``read``, only if the item is still as ``read`` (another sweep's save
        in between: False). A transaction on the item is waited out: this write comes after a whole sweep's
        work, which it would otherwise undo."""
        item = {
            **keys.key(*keys.RECEIVED_MARK),
            "until": iso(mark.until) if mark.until else None,
            "revisit": [{"id": entry.lead_id, "at": iso(entry.received)} for entry in mark.revisit],
            "version": read.version + 1,
        }
        try:
            retry_conflicts(
                lambda: self._table.client.put_item(
                    TableName=self._table.name,
                    Item=serialize(item),
                    **_as_read(read),
                )
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True


def _as_read(read: SweepMark) -> dict[str, Any]:
    """The condition of a put of the sweeper's mark: the item is still as ``read`` (attribute names may be
    reserved words: named apart)."""
    values: dict[str, Any]
    if read.version:
        condition, values = "#version = :version", {":version": read.version}
    elif read.until is not None:  # a mark saved before it had versions: by its moment
        condition, values = "attribute_not_exists(#version) AND #until = :until", {":until": iso(read.until)}
    else:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    names = {name: name[1:] for name in ("#version", "#until") if name in condition}
    return {
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": serialize(values),
    }


def _arrival(found: Lead | UnreadableLead) -> tuple[str, str]:
    if isinstance(found, UnreadableLead):
        return iso(found.received), found.lead_id
    return found.received_at, found.lead_id
