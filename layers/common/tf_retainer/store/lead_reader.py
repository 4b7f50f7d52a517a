"""A lead as stored (the LeadReader port): its state, its whole record, its history a page at a time,
and a certificate's claim with the history of every lead that held it."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from tf_retainer.domain import chain
from tf_retainer.domain.lead import CertificateRecord, Claim, HistoryItem, Lead, LeadRecord
from tf_retainer.ports.leads import HistoryPage, InvalidCursor
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.conflicts import all_unavailable_when_transient
from tf_retainer.store.items import history_item, stored_entry, stored_link
from tf_retainer.store.table import Table, came_with, claim_of

# A history cursor: the entry of the lead's chain and the index of the next event in it, base64url.
_CURSOR = re.compile(re.escape(keys.ENTRY_PREFIX) + r"\d{6}:\d{1,4}")


def cursor_token(sort_key: str, index: int) -> str:
    return base64.urlsafe_b64encode(f"{sort_key}:{index}".encode()).decode().rstrip("=")


def cursor_position(token: str) -> tuple[str, int]:
    """The entry's sort key and the event's index a token names; InvalidCursor for any other text."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not _CURSOR.fullmatch(text):
        raise InvalidCursor(token)
    sort_key, _, index = text.partition(":")
    return sort_key, int(index)


@all_unavailable_when_transient
class DynamoLeadReader:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get_lead(self, lead_id: str) -> Lead | None:
        return self._table.lead(lead_id)

    def find_vendor_lead(self, vendor: str, vendor_lead_id: str) -> str | None:
        """Our lead id for a vendor's own lead_id (the id it names), if that lead exists."""
        lead_id = self._table.codec.keyring.vendor_lead(vendor, vendor_lead_id)
        return lead_id if self._table.get(keys.lead_pk(lead_id), keys.STATE) else None

    def read_lead(self, lead_id: str) -> LeadRecord | None:
        """The lead, its history and its raw exchanges, each in the order written (one query)."""
        items = self._table.partition(keys.lead_pk(lead_id))
        state = next((item for item in items if keys.is_state(item)), None)
        if state is None:
            return None
        lead = self._table.codec.lead(state)
        links = [stored_link(item) for item in items if keys.is_entry(item)]
        entries = [chain.parse(link.content, stored_hash=link.stored_hash) for link in links]
        return LeadRecord(
            lead=lead,
            history=[
                history_item(event, entry, lead.lead_id, lead.cert_id) for entry in entries for event in entry.events
            ],
            exchanges=[exchange for entry in entries for exchange in entry.exchanges],
            chain=links,
            consumer=self._table.codec.consumer_tokens(state),
        )

    def chain_links(self, lead_id: str) -> list[chain.Link]:
        """A lead's chain as stored, unchecked: what ``chain.verify`` checks."""
        return self._table.chain_links(lead_id)

    def history_page(
        self, lead_id: str, *, cursor: str | None, limit: int, hidden: frozenset[str] = frozenset()
    ) -> HistoryPage:
        """Up to ``limit`` of a lead's history events, oldest first, from ``cursor`` (the previous page's
        ``next_cursor``: the entry and the index of the next event to give), events of a ``hidden`` type
        left out (a page is still ``limit`` events long). InvalidCursor for a cursor this store did not give."""
        start_sk, skip = (keys.entry_sk(1), 0) if cursor is None else cursor_position(cursor)
        events: list[HistoryItem] = []
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :last",
            "ExpressionAttributeValues": serialize(
                {":pk": keys.lead_pk(lead_id), ":from": start_sk, ":last": keys.entry_sk(999_999)}
            ),
            "ConsistentRead": True,
            "Limit": limit + 1,  # an entry holds one event or more: enough to fill the page, and to know
        }
        while True:
            out = self._table.client.query(**request)
            for item in map(deserialize, out["Items"]):
                entry = stored_entry(item)
                first = skip if item["sk"] == start_sk else 0
                for index in range(first, len(entry.events)):
                    if entry.events[index]["type"] in hidden:
                        continue
                    if len(events) == limit:
                        return HistoryPage(events, cursor_token(item["sk"], index))
                    events.append(history_item(entry.events[index], entry, lead_id, None))
            if "LastEvaluatedKey" not in out:
                return HistoryPage(events, None)
            request["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def exchanges(self, lead_id: str) -> list[dict[str, Any]]:
        """A lead's raw TrustedForm exchanges, in the order made."""
        links = self._table.chain_links(lead_id)
        return [exchange for link in links for exchange in chain.parse(link.content).exchanges]

    def unapplied_events(self, lead: Lead) -> list[dict[str, Any]]:
        newer = self._table.entries_after(lead.lead_id, lead.applied)
        return [event for entry in newer if entry.state is None for event in entry.events]

    def read_certificate(self, cert_id: str) -> CertificateRecord | None:
        """The certificate's claim and the history of every lead that held it or came with it, in time order."""
        return self._read_claim(keys.cert_pk(cert_id), cert_id=cert_id)

    def read_leadid(self, token: str) -> CertificateRecord | None:
        """A LeadiD token's claim (held by a lead without a certificate) and the history of every lead that
        held it or came with it, in time order."""
        return self._read_claim(keys.leadid_pk(token), leadid_token=token)

    def _read_claim(
        self, pk: str, *, cert_id: str | None = None, leadid_token: str | None = None
    ) -> CertificateRecord | None:
        found = self._table.get(pk, keys.CLAIM)
        if found is None:
            return None
        claim = Claim.model_validate(found)
        lead_ids = [*claim.previous_holders, *([claim.lead_id] if claim.lead_id else []), *claim.reused_by]
        read = {lead_id: self.read_lead(lead_id) for lead_id in dict.fromkeys(lead_ids)}
        # A lead named on the claim that came with another record (a repeat of its id left it) has no part here.
        records = {
            lead_id: record
            for lead_id, record in read.items()
            if record is not None and came_with(record.lead, cert_id, leadid_token)
        }
        if (holder := records.get(claim.lead_id or "")) is not None:
            claim = claim_of(claim, holder.lead)
        history = [event for record in records.values() for event in record.history]
        history.sort(key=lambda event: event.at)
        return CertificateRecord(cert_id=cert_id, claim=claim, history=history, leadid_token=leadid_token)
