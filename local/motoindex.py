"""A moto table's items by the value of an index's hash key, kept as moto writes, so a Query on a global
secondary index gathers the items it can match instead of passing over the whole table.

moto 5.2.5 keeps a table's items in one dict (``Table.items``: hash key -> item, or hash key -> range key
-> item) and answers a Query on an index by going over all of them. Here each table gets, lazily, per
index hash-key attribute a Query asked about (``gsi1pk``...), a map: the attribute's value -> the items
carrying it (by their table key). It is built by one pass over the table at that attribute's first index
Query, then kept exact by re-filing, after every moto write, the one item the write touched, read back
from ``Table.items`` as it now is (present or gone, its attribute added, changed or removed):

- ``Table.put_item`` (PutItem, BatchWriteItem's puts, a transaction's Put, UpdateItem's creation of a
  new item, PartiQL's inserts and updates, ImportTable) and ``Table.delete_item`` (DeleteItem,
  BatchWriteItem's deletes, a transaction's Delete, PartiQL's deletes) re-file their item, even when
  they raise (an item may be stored before a later step fails);
- ``DynamoDBBackend.update_item`` (UpdateItem, a transaction's Update), which changes the stored item in
  place, re-files it afterwards, raising or not (a failed update may have changed part of it);
- a transaction's rollback (local/motolock.py's undo log writes ``Table.items`` itself) re-files each
  item it puts back;
- moto expires no item by TTL (it records the setting only); a deleted table takes its maps with it; a
  table restored from a backup or a point in time gets a new item dict, and maps built on another dict
  than the table's current one are dropped and built again.

Maps exist only for attributes some index Query named, so a write costs a few dict operations (one per
such attribute) and a Query the items filed under its value. All of it runs under moto's lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_MAPS = "_tf_retainer_index_maps"  # the Table attribute holding its _IndexMaps
_UNHASHABLE = object()  # the bucket of items whose attribute value cannot be a dict key (never an index key)
_MISSING = object()

ItemKey = tuple[Any, Any]  # (hash key, range key or None): moto's DynamoType values


class _IndexMaps:
    """One table's items by the value of each index hash-key attribute an index Query asked about."""

    def __init__(self, items: Any) -> None:
        self.items = items  # the table's item dict the maps follow
        self.by_value: dict[str, dict[Any, dict[ItemKey, Any]]] = {}  # attribute -> value -> key -> Item
        self.filed: dict[str, dict[ItemKey, Any]] = {}  # attribute -> key -> the value it is filed under
        self.builds = 0  # passes over the whole table (one per attribute, unless the item dict is replaced)

    def build(self, attribute: str, stored: Iterator[tuple[ItemKey, Any]]) -> None:
        self.by_value[attribute], self.filed[attribute] = {}, {}
        self.builds += 1
        for key, item in stored:
            self.file(attribute, key, item)

    def file(self, attribute: str, key: ItemKey, item: Any) -> None:
        """File ``item`` (stored at ``key``, or None: no item there now) under its current value."""
        filed, by_value = self.filed[attribute], self.by_value[attribute]
        old = filed.pop(key, _MISSING)
        if old is not _MISSING:
            bucket = by_value[old]
            del bucket[key]
            if not bucket:
                del by_value[old]
        if item is not None and attribute in item.attrs:
            value = _bucket(item.attrs[attribute])
            by_value.setdefault(value, {})[key] = item
            filed[key] = value


def _bucket(value: Any) -> Any:
    """A DynamoType as a dict key: equal values (numbers "1" and "1.0" too) hash alike, as moto compares them."""
    try:
        hash(value)
    except Exception:  # a list, map or set value, or a malformed number
        return _UNHASHABLE
    return value


def _stored(table: Any) -> Iterator[tuple[ItemKey, Any]]:
    for hash_key, partition in table.items.items():
        if table.range_key_attr:
            for range_key, item in partition.items():
                yield (hash_key, range_key), item
        else:
            yield (hash_key, None), partition


def _item_at(table: Any, key: ItemKey) -> Any:
    """The item stored at ``key`` now, or None (without adding an empty partition to moto's defaultdict)."""
    hash_key, range_key = key
    partition = table.items.get(hash_key)
    if partition is None or not table.range_key_attr:
        return partition
    return partition.get(range_key) if range_key is not None else None


def maps(table: Any) -> _IndexMaps:
    """``table``'s maps (new ones if it had none or its item dict was replaced)."""
    found = table.__dict__.get(_MAPS)
    if found is None or found.items is not table.items:
        found = _IndexMaps(table.items)
        setattr(table, _MAPS, found)
    return found


def candidates(table: Any, attribute: str, value: Any) -> list[Any]:
    """The items of ``table`` whose ``attribute`` equals ``value`` (and any whose value is no possible key),
    in no particular order. Call under moto's lock."""
    found = maps(table)
    if attribute not in found.by_value:
        found.build(attribute, _stored(table))
    by_value = found.by_value[attribute]
    key = _bucket(value)
    items = list(by_value.get(key, {}).values())
    if key is not _UNHASHABLE:
        items += by_value.get(_UNHASHABLE, {}).values()
    return items


def refile(table: Any, hash_key: Any, range_key: Any) -> None:
    """After a write to the item at (hash_key, range_key): file it as it now is, in every map of the table."""
    found = table.__dict__.get(_MAPS)
    if found is None:
        return
    if found.items is not table.items:  # the item dict was replaced: the next index Query builds anew
        delattr(table, _MAPS)
        return
    key = (hash_key, range_key if table.range_key_attr else None)
    item = _item_at(table, key)
    for attribute in found.by_value:
        found.file(attribute, key, item)


def refile_attributes(table: Any, attributes: Any) -> None:
    """After a write of an item given by its attributes (or its key) in the wire format."""
    if table.__dict__.get(_MAPS) is None:
        return
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        hash_key = DynamoType(attributes[table.hash_key_attr])
        range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    except Exception:
        forget(table)  # not a key moto could have stored: to be sure, build the maps again when asked
        return
    refile(table, hash_key, range_key)


def forget(table: Any) -> None:
    table.__dict__.pop(_MAPS, None)
