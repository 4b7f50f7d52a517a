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

A value can hold most of the table (the vendor index of a one-vendor soak: every lead), and moto sorts all
the candidates it is given by their keys as DynamoTypes (a Decimal or str cast per comparison) before it
skips those outside the range condition or before ExclusiveStartKey and stops at Limit: a read of one
10-minute window cost ~0.9 s at 8,000 leads. A :class:`Window` hands moto only what it can return: the
candidates within the range condition, from ExclusiveStartKey on, the first Limit + 2 of them, found by
comparing plain strings. It applies where that gives moto's own answer exactly: an index with one hash and
one range key, string keys (a str compares as moto's cast of it), no legacy QueryFilter; otherwise moto
gets every candidate, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


# Range conditions a Window applies itself: moto's comparison functions, on plain strings.
_WINDOW_COMPARISONS = frozenset({"EQ", "=", "LE", "<=", "LT", "<", "GE", ">=", "GT", ">", "BETWEEN", "BEGINS_WITH"})


@dataclass(frozen=True)
class Window:
    """What one Query on an index can return of the items under its hash key value: the items whose key
    attributes (``sort_by``: the index's range key, the table's hash and range keys, moto's order after the
    index hash key) are strings, within ``comparison``, from ``start`` on (inclusive: moto skips the start
    itself), at most ``limit`` + 2 of them (the start, the page, one more), and the item that follows them."""

    hash_attribute: str
    hash_value: str
    sort_by: tuple[str, ...]
    comparison: str | None
    bounds: tuple[str, ...]
    start: tuple[str, ...] | None
    forward: bool
    limit: int | None

    @classmethod
    def of_query(cls, table: Any, index_name: str, arguments: dict[str, Any]) -> Window | None:
        """The window of a Query (``arguments``: Table.query's, bound by name), or None when moto must see every
        candidate for its answer to stay its own."""
        schema = table.get_index(index_name).schema
        hashes = [key["AttributeName"] for key in schema if key["KeyType"] == "HASH"]
        ranges = [key["AttributeName"] for key in schema if key["KeyType"] == "RANGE"]
        comparison = arguments.get("range_comparison")
        if len(hashes) != 1 or len(ranges) != 1 or len(arguments.get("range_key_conditions") or []) > 1:
            return None
        if arguments.get("filter_kwargs") or (comparison and comparison not in _WINDOW_COMPARISONS):
            return None
        hash_value = dict(arguments.get("hash_key_conditions") or []).get(hashes[0], arguments.get("hash_key"))
        bounds = [_string(value) for value in arguments.get("range_objs") or []] if comparison else []
        sort_by = tuple(name for name in (ranges[0], table.hash_key_attr, table.range_key_attr) if name)
        start = _start(arguments.get("exclusive_start_key"), sort_by, hashes[0], _string(hash_value))
        if _string(hash_value) is None or None in bounds or start is False:
            return None
        limit = arguments.get("limit")
        return cls(
            hash_attribute=hashes[0],
            hash_value=str(_string(hash_value)),
            sort_by=sort_by,
            comparison=comparison,
            bounds=tuple(str(bound) for bound in bounds),
            start=start or None,
            forward=arguments.get("scan_index_forward") is not False,
            limit=limit if isinstance(limit, int) and limit > 0 else None,
        )

    def select(self, items: list[Any]) -> list[Any] | None:
        """What moto needs of ``items`` to answer this Query as from all of them; None when one of them has a key
        of another type than string (moto then orders them itself).

        The items within the range condition from ``start`` on, the first ``limit`` + 2 in the Query's order;
        and the first item after them outside the condition: moto stops at Limit with a LastEvaluatedKey only
        when an item, matching or not, follows the page."""
        from moto.dynamodb.comparisons import get_comparison_func

        within = get_comparison_func(self.comparison) if self.comparison else None
        inside: list[tuple[tuple[str, ...], Any]] = []
        outside: list[tuple[tuple[str, ...], Any]] = []
        for item in items:
            attrs = item.attrs
            if _string(attrs.get(self.hash_attribute)) != self.hash_value or self.sort_by[0] not in attrs:
                continue  # moto keeps neither an item under another value nor one missing the range key
            key = tuple(_string(attrs.get(name)) for name in self.sort_by)
            if None in key:
                return None
            if self.start is not None and (key < self.start if self.forward else key > self.start):
                continue
            (inside if within is None or within(key[0], *self.bounds) else outside).append((key, item))  # type: ignore[arg-type]
        inside.sort(key=lambda pair: pair[0], reverse=not self.forward)
        chosen = inside if self.limit is None else inside[: self.limit + 2]
        if inside:
            last = inside[-1][0]
            after = [pair for pair in outside if (pair[0] > last if self.forward else pair[0] < last)]
            if after:  # the range condition's items are contiguous in key order: this one follows them
                chosen = [*chosen, (min if self.forward else max)(after, key=lambda pair: pair[0])]
        return [item for _, item in chosen]


def _string(value: Any) -> str | None:
    """A DynamoType's string (moto compares an S value as its str), None for any other type or no value."""
    return value.value if value is not None and getattr(value, "type", None) == "S" else None


def _start(
    exclusive_start_key: dict[str, Any] | None, sort_by: tuple[str, ...], hash_attribute: str, hash_value: str | None
) -> tuple[str, ...] | bool | None:
    """ExclusiveStartKey (wire format) as a sort key; None without one; False when a part is not a string or it
    names another hash key value (moto's own comparison then decides)."""
    if not exclusive_start_key:
        return None
    if exclusive_start_key.get(hash_attribute, {"S": hash_value}) != {"S": hash_value}:
        return False
    parts = [exclusive_start_key.get(name) for name in sort_by]
    if any(not isinstance(part, dict) or set(part) != {"S"} for part in parts):
        return False
    return tuple(part["S"] for part in parts)  # type: ignore[index]
