"""Write units as DynamoDB reports them: every write of a client asks for ``ReturnConsumedCapacity`` (it
costs nothing) and the units that come back are added up, per client, for whoever wants to know what a
lead costs (bench/cost.py, ``make bench``)."""

from __future__ import annotations

import threading
from typing import Any

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


class WriteMeter:
    """The write units a client's calls consumed, as DynamoDB said."""

    def __init__(self) -> None:
        self.units = 0.0
        self.calls = 0
        self._lock = threading.Lock()  # a retry batch writes from several threads

    def ask(self, params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def add(self, parsed: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity")
        if consumed is None:
            return
        entries = consumed if isinstance(consumed, list) else [consumed]
        with self._lock:
            self.units += sum(float(entry.get("CapacityUnits") or 0) for entry in entries)
            self.calls += 1


def meter(client: Any) -> WriteMeter:
    """The client's meter, set up on its first use (one per client, however many stores share it)."""
    found = getattr(client, "_tf_write_meter", None)
    if found is None:
        found = WriteMeter()
        for operation in WRITES:
            client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", found.ask)
            client.meta.events.register(f"after-call.dynamodb.{operation}", found.add)
        client._tf_write_meter = found
    return found
