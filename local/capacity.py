"""Write capacity as DynamoDB reports it (``ReturnConsumedCapacity``), for moto, which reports a fixed 1.0.

DynamoDB's rules, as documented: an item's size is the UTF-8 length of its attribute names plus their
values (a number: 1 byte per 2 significant digits + 1; binary: its length; a map or list: 3 bytes plus
its elements, a name each in a map, 1 byte each); a write costs 1 unit per started KB of the larger of
the item before and after; a transaction's writes cost twice; each global secondary index the item
enters, stays in (when a projected attribute changed) or leaves costs a write of the index entry's size
(a KEYS_ONLY entry: the table's and the index's keys); moving in an index (its key changed) is a delete
and a put. ``patch_moto_consumed_capacity`` puts that figure in PutItem, UpdateItem and
TransactWriteItems answers, so the store's own counting (``tf_retainer.store.capacity``) reads the same
field on AWS and locally. bench/cost.py sizes storage with the same functions.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

KB = 1024


def number_size(text: str) -> int:
    digits = text.lstrip("-").lower().split("e")[0].replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return number_size(inner)
    if kind == "B":  # bytes from botocore, base64 text in a request's JSON or moto's item
        return len(base64.b64decode(inner)) if isinstance(inner, str) else len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(item.encode()) for item in inner)
    if kind == "NS":
        return sum(number_size(item) for item in inner)
    if kind == "BS":
        return sum(len(item) for item in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(item) for item in inner)
    if kind == "M":
        return 3 + sum(len(name.encode()) + 1 + value_size(item) for name, item in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


class Index(NamedTuple):
    pk: str
    sk: str | None
    keys_only: bool  # KEYS_ONLY: the index entry is the keys, written only when they change

    def key_names(self) -> tuple[str, ...]:
        return (self.pk, self.sk) if self.sk else (self.pk,)

    def entry_size(self, item: Mapping[str, Any], table_keys: tuple[str, ...] = ("pk", "sk")) -> int:
        """The size of the item's entry in this index (what a write to it, or its storage, counts)."""
        if not self.keys_only:
            return item_size(item)
        return item_size({name: item[name] for name in (*table_keys, *self.key_names()) if name in item})

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        return item is not None and all(name in item for name in self.key_names())


def units_of_write(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, indexes: list[Index], *, transaction: bool
) -> float:
    """Write units of one item's write (DynamoDB JSON before and after; None: absent), indexes included."""
    units = write_units(max(item_size(before), item_size(after))) * (2 if transaction else 1)
    for index in indexes:
        was, now = index.holds(before), index.holds(after)
        if was and now:
            assert before is not None and after is not None
            moved = any(before[name] != after[name] for name in index.key_names())
            if moved:  # delete + put
                units += write_units(index.entry_size(before)) + write_units(index.entry_size(after))
            elif not index.keys_only and before != after:
                units += write_units(max(index.entry_size(before), index.entry_size(after)))
        elif now:
            assert after is not None
            units += write_units(index.entry_size(after))
        elif was:
            assert before is not None
            units += write_units(index.entry_size(before))
    return float(units)


# ------------------------------------------------------------------------------------------ moto


def _indexes(table: Any) -> list[Index]:
    found = []
    for index in table.global_indexes:
        schema = {key["KeyType"]: key["AttributeName"] for key in index.schema}
        keys_only = (index.projection or {}).get("ProjectionType") == "KEYS_ONLY"
        found.append(Index(schema["HASH"], schema.get("RANGE"), keys_only))
    return found


def _stored(backend: Any, table_name: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = backend.get_table(table_name)
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    try:
        item = table.get_item(hash_value, range_value)
    except Exception:  # moto raises for a missing item in some versions
        return None
    return dict(item.to_json()["Attributes"]) if item is not None else None


def _key_of(table: Any, item: Mapping[str, Any]) -> dict[str, Any]:
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: item[name] for name in names}


def _measured(handler: Any, writes: list[tuple[str, dict[str, Any]]], call: Any, *, transaction: bool) -> Any:
    """Run a write handler; ``writes``: (table, key) of each item it writes. Sets its ConsumedCapacity."""
    backend = handler.dynamodb_backend
    before = [_stored(backend, table, key) for table, key in writes]
    result = call()
    wanted = handler.body.get("ReturnConsumedCapacity", "NONE")
    if wanted == "NONE":
        return result
    per_table: dict[str, float] = {}
    for (table_name, key), old in zip(writes, before, strict=True):
        new = _stored(backend, table_name, key)
        units = units_of_write(old, new, _indexes(backend.get_table(table_name)), transaction=transaction)
        per_table[table_name] = per_table.get(table_name, 0.0) + units
    consumed = [{"TableName": name, "CapacityUnits": units} for name, units in per_table.items()]
    body = result.result
    body["ConsumedCapacity"] = consumed if transaction else consumed[0]
    return result


def patch_moto_consumed_capacity() -> None:
    """PutItem, UpdateItem and TransactWriteItems answer with the capacity DynamoDB would report."""
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_tf_capacity_patched", False):
        return
    put_item, update_item, transact = (
        DynamoHandler.put_item,
        DynamoHandler.update_item,
        DynamoHandler.transact_write_items,
    )

    @functools.wraps(put_item)
    def measured_put(self: Any) -> Any:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        key = _key_of(table, self.body["Item"])
        return _measured(self, [(self.body["TableName"], key)], lambda: put_item(self), transaction=False)

    @functools.wraps(update_item)
    def measured_update(self: Any) -> Any:
        return _measured(
            self, [(self.body["TableName"], self.body["Key"])], lambda: update_item(self), transaction=False
        )

    @functools.wraps(transact)
    def measured_transaction(self: Any) -> Any:
        writes = []
        for entry in self.body["TransactItems"]:
            ((kind, body),) = entry.items()
            if kind == "ConditionCheck":
                continue
            table = self.dynamodb_backend.get_table(body["TableName"])
            writes.append((body["TableName"], _key_of(table, body["Item"]) if kind == "Put" else body["Key"]))
        return _measured(self, writes, lambda: transact(self), transaction=True)

    DynamoHandler.put_item = measured_put  # type: ignore[method-assign]
    DynamoHandler.update_item = measured_update  # type: ignore[method-assign]
    DynamoHandler.transact_write_items = measured_transaction  # type: ignore[method-assign]
    DynamoHandler._tf_capacity_patched = True  # type: ignore[attr-defined]
