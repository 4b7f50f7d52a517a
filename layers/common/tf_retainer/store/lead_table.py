"""The lead store's three jobs on one table and one client: writing a lead's steps, reading a lead, finding
leads by an index. Built once per container by ``tf_retainer.wiring`` (and by the operator CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tf_retainer.domain.keyring import Keyring
from tf_retainer.store import capacity
from tf_retainer.store.items import ItemBuilder
from tf_retainer.store.lead_index import DynamoLeadIndex
from tf_retainer.store.lead_item import LeadCodec
from tf_retainer.store.lead_reader import DynamoLeadReader
from tf_retainer.store.lead_writer import DynamoLeadWriter
from tf_retainer.store.table import Table


@dataclass(frozen=True, slots=True)
class LeadTable:
    table: Table
    writer: DynamoLeadWriter
    reader: DynamoLeadReader
    index: DynamoLeadIndex
    keyring: Keyring
    writes: capacity.WriteMeter  # write units consumed, as DynamoDB reports them


def lead_table(
    table_name: str, *, retention_days: int, client: Any, keyring: Keyring, in_flight_seconds: float
) -> LeadTable:
    """The lead store on one table and client; ``keyring``: the deployment's consumer key (consumer index
    tokens, lead ids of vendors' own ids, sealed fingerprints); ``in_flight_seconds``: how long an intake may
    hold a lead's claims before its state is stored (the sweeper's received grace)."""
    codec = LeadCodec(keyring)
    table = Table(table_name, client, codec)
    items = ItemBuilder(table_name, retention=timedelta(days=retention_days), codec=codec)
    return LeadTable(
        table=table,
        writer=DynamoLeadWriter(table, items, in_flight=timedelta(seconds=in_flight_seconds)),
        reader=DynamoLeadReader(table),
        index=DynamoLeadIndex(table, items=items),
        keyring=keyring,
        writes=capacity.meter(table.client),
    )
