"""A global secondary index that lags its table: a Query on an index answered as the items stood ``lag``
seconds ago, as DynamoDB's asynchronously updated indexes may (moto's are read with the table, at once).

Every DynamoDB write that reaches moto records, before moto applies it, the items it touches as they
were (:meth:`StaleIndex.record`, under moto's lock, so no other request comes between). An index Query
then gathers its candidates through :meth:`view`: an item written within the last ``lag`` seconds is
seen as it was before the first of those writes (an item created since is not seen at all, one deleted
or taken out of the index since is seen still), every other item as it is. moto filters, sorts and
projects them as for any Query (``local.motolock.index_view``). The table itself, and its reads, stay
exact: only what an index answers is behind.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

# What a DynamoDB write names: the items it may change (a ConditionCheck changes none).
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})

ItemKey = tuple[str, Any, Any]  # (table name, hash key, range key or None), moto's DynamoType values


class StaleIndex:
    """The recent writes' before-images, and the view of the items an index answers from."""

    def __init__(self, lag: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.lag = lag
        self._clock = clock
        self._order: deque[tuple[float, ItemKey]] = deque()  # every recorded write, oldest first
        self._before: dict[ItemKey, deque[tuple[float, Any]]] = {}  # key -> (when, the item before) in order
        self._guard = threading.Lock()
        self.recorded = 0
        self.answered = 0

    def record(self, backend: Any, operation: str, request: dict[str, Any]) -> None:
        """Remember the items a write request is about to change as they are now (call it under moto's
        lock, before the write)."""
        if operation not in WRITES:
            return
        now = self._clock()
        for table_name, key in _keys(operation, request):
            try:
                table = backend.get_table(table_name)
                hash_key, range_key = _dynamo(key[table.hash_key_attr]), None
                if table.range_key_attr:
                    range_key = _dynamo(key[table.range_key_attr])
                current = table.get_item(hash_key, range_key)
            except Exception:  # noqa: S112 - a malformed or unknown item: moto answers the request's error
                continue
            before = copy.deepcopy(current)
            item_key = (table_name, hash_key, range_key)
            with self._guard:
                self._order.append((now, item_key))
                self._before.setdefault(item_key, deque()).append((now, before))
                self.recorded += 1
        self._forget(now)

    def view(self, table: Any, items: list[Any]) -> list[Any]:
        """The items an index of ``table`` answers from: each recently written one as it was ``lag`` ago."""
        self._forget(self._clock())
        with self._guard:
            behind = {key[1:]: writes[0][1] for key, writes in self._before.items() if key[0] == table.name}
            self.answered += 1
        if not behind:
            return items
        current = [item for item in items if (item.hash_key, item.range_key) not in behind]
        return current + [before for before in behind.values() if before is not None]

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """An index Query in this block (this thread) is answered from :meth:`view`."""
        from local.motolock import index_view

        with index_view(self.view):
            yield

    def _forget(self, now: float) -> None:
        """Writes older than the lag are in the index already: their before-images are no longer needed."""
        horizon = now - self.lag
        with self._guard:
            while self._order and self._order[0][0] <= horizon:
                _, item_key = self._order.popleft()
                writes = self._before.get(item_key)
                if writes:
                    writes.popleft()
                    if not writes:
                        del self._before[item_key]


def _dynamo(value: dict[str, Any]) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return DynamoType(value)


def _keys(operation: str, request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table name, key attributes or the whole item) of each item the write names."""
    if operation == "TransactWriteItems":
        found = []
        for entry in request.get("TransactItems") or []:
            for kind, op in entry.items():
                if kind in ("Put", "Update", "Delete"):
                    found.append((op["TableName"], op.get("Key") or op.get("Item") or {}))
        return found
    if operation == "BatchWriteItem":
        return [
            (table, (entry.get("PutRequest") or {}).get("Item") or (entry.get("DeleteRequest") or {}).get("Key") or {})
            for table, entries in (request.get("RequestItems") or {}).items()
            for entry in entries
        ]
    return [(request.get("TableName", ""), request.get("Key") or request.get("Item") or {})]
