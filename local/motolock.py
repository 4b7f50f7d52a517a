"""Adjustments to moto so the local stack and the tests see AWS-like behaviour under concurrency and load.

* :func:`serialise_moto` - moto's backends are plain dicts, not thread-safe; AWS is. One request at a time
  runs inside moto (its server app and its in-process stubber share one lock), so concurrent code (the
  local stack's worker processes, the retry poller, threads in tests) sees AWS-like behaviour, not moto
  races. An SQS long poll (``WaitTimeSeconds`` > 0) gives the lock up while it waits for messages.
  It also applies :func:`patch_moto_dynamodb_transactions`.
* :func:`patch_moto_dynamodb_transactions` - TransactWriteItems without moto's table copies.
* :func:`patch_moto_dynamodb_query` - a Query reads its partition, or on an index the items carrying the
  queried value of the index's hash key (``local.motoindex``: per table, value -> items, kept as moto
  writes), not the whole table; :func:`index_view` lets the fault layer answer an index Query from
  another view of the items (a lag).
* :func:`trim_stream_records` - a table's stream keeps its records for a retention period (DynamoDB: 24
  hours), not forever; a shard iterator expires 15 minutes after it was issued. Applied by
  :func:`serialise_moto`.
* :func:`reuse_symmetric_kms_private_key` - no RSA key generation for symmetric KMS keys.
* ``local.capacity.patch_moto_consumed_capacity`` - writes report the capacity DynamoDB would (moto: 1.0).

Every patch is pinned to the moto version it was written against (``PINNED_MOTO_VERSION`` and the source
hash of each function it replaces): tests/integration/local/test_motolock.py fails loudly when moto
changes, so the patch is reviewed (and dropped if moto fixed the problem) rather than silently misapplied.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import pickle
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

# moto's version and the sha256 of inspect.getsource() of every function replaced below.
PINNED_MOTO_VERSION = "5.2.5"
PINNED_SOURCES = {
    "moto.dynamodb.models.DynamoDBBackend.transact_write_items": (
        "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"
    ),
    "moto.sqs.models.Queue.wait_for_messages": "58432562ccf2e13ed8841c825dd2614b6e57b71733d1ce9ba6926d38530ba1f1",
    "moto.dynamodb.models.table.Table.query": "002b4d00be6df07cf37f6cbe0132e5eb89455ae12a8e79b23db3fb492450f21e",
    # Not replaced, relied on (see patch_moto_dynamodb_query): query() gathers candidates from all_items().
    "moto.dynamodb.models.table.Table.all_items": "c80d2ee3c896acd0cab6ca35aaeae3ab3fb65858933f8a3403d4e027c240f31d",
    # Wrapped (patch_moto_dynamodb_query, local/motoindex.py): after each, the item it wrote is re-filed in
    # the table's index maps. update_item changes the stored Item in place.
    "moto.dynamodb.models.table.Table.put_item": "de23933013ef842639046c19bcf7e418bce0474d810f6719368be4cedce11d47",
    "moto.dynamodb.models.table.Table.delete_item": (
        "1594f7b07616c8cb8cdf0fbf58d6f54eeac83f25d7ac7b14e832a08e10efd8f9"
    ),
    "moto.dynamodb.models.DynamoDBBackend.update_item": (
        "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f"
    ),
    # Not replaced, relied on: every other write of an item goes through Table.put_item / Table.delete_item
    # (PutItem, DeleteItem, BatchWriteItem, PartiQL) or DynamoDBBackend.update_item, never Table.items.
    "moto.dynamodb.models.DynamoDBBackend.put_item": (
        "f5d9a5042c77b89e5f4c88b5884f7966b9dccd95b8b04090ee9e07afc5eea675"
    ),
    "moto.dynamodb.models.DynamoDBBackend.delete_item": (
        "083a4bb1af18f6fd2feef40195a4c9c803da66cb2cacd14f87916c6e76930ea5"
    ),
    "moto.dynamodb.models.DynamoDBBackend.execute_statement": (
        "6579d0ba9df2be56634bad07a48f678a04135d012f90a4bde80874b2590c397a"
    ),
    "moto.dynamodb.responses.DynamoHandler.batch_write_item": (
        "26221a09e2b2b1fdd77fbc6a92a6781dce3ec1fd30bb34f36c6b4889bc720b2d"
    ),
    # Not replaced, relied on: BaseModel.__new__ is what records every instance (see untrack_items).
    "moto.core.common_models.BaseModel.__new__": "08cf0ef20e88029a2eb91949492ce3281001a34b98143db186239962ad379eec",
    # Wrapped (trim_stream_records): records are dropped from the head of the shard's list after add(),
    # and get() is refused before the oldest one kept; get() and the iterators' lookups are relied on.
    "moto.dynamodb.models.table.StreamShard.add": "357dc6da267e5dd7d46e18ee25d14b232a98679677906a2f02e4d454d1f11e03",
    "moto.dynamodb.models.table.StreamShard.get": "fa7e9a0d7b438c2fbd4bcc8a04fecc79f70862760d1f176d3bc86775967e2d7e",
    "moto.dynamodbstreams.models.ShardIterator.__init__": (
        "5842e50a95242ef84673613918b71c4a2a9c149d4baa10904b0c84034c4c793e"
    ),
    "moto.dynamodbstreams.models.DynamoDBStreamsBackend.get_records": (
        "db8c6cb04430c08f76be9e6b3cc9317387643b4fee26f43071c5ac22e25d2b64"
    ),
    # Wrapped (local.capacity): the answer's ConsumedCapacity is replaced, the write left as moto makes it.
    "moto.dynamodb.responses.DynamoHandler.put_item": (
        "4c9efb73275195eccc6268d6c3952decc1b240da158661ad59421ccec55a74e0"
    ),
    "moto.dynamodb.responses.DynamoHandler.update_item": (
        "638893af1afd43d274f3788d61ac13b447729de915c6f5ad3bbf008b92dd8e80"
    ),
    "moto.dynamodb.responses.DynamoHandler.transact_write_items": (
        "61c163fff213f33a39317a17fda194a9c1e800992421575d2080f4500bf45372"
    ),
    # Replaced (patch_moto_sqs_attributes): a queue's attributes, each computed when asked for. SendMessage
    # and GetQueueAttributes are relied on to read them only through `.get`, `in` and iteration.
    "moto.sqs.models.Queue.attributes": "40cb990b121628d535cecbcd0e0d333984024633b70a097489ae8611e1a59338",
    "moto.sqs.models.SQSBackend.send_message": "bf161af09a9e6b860e3dd5d8f58ccc802623caa86883fab9b2ffb333f8f70330",
    "moto.sqs.models.SQSBackend.get_queue_attributes": (
        "58417223da457b5a0aac5ccc31b6646ed9b22c3b276a0f0d9fd5f3f13bd797ec"
    ),
}

_lock = threading.RLock()
_patched = False
# The functions as moto defined them, recorded before they are replaced (see pin_mismatches).
_originals: dict[str, Any] = {}


def moto_lock() -> contextlib.AbstractContextManager[Any]:
    """The lock one moto request at a time holds (for a step that must come between no two requests)."""
    return _lock


def source_hash(obj: Any) -> str:
    if isinstance(obj, property):
        obj = obj.fget
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()


def _original(dotted: str) -> Any:
    if dotted not in _originals:
        import importlib

        module_name, class_name, attribute = dotted.rsplit(".", 2)
        _originals[dotted] = getattr(getattr(importlib.import_module(module_name), class_name), attribute)
    return _originals[dotted]


def pin_mismatches() -> list[str]:
    """What differs from the moto these patches were written against (empty when nothing does)."""
    import moto

    problems = []
    if moto.__version__ != PINNED_MOTO_VERSION:
        problems.append(f"moto {moto.__version__} is installed; local/motolock.py is pinned to {PINNED_MOTO_VERSION}")
    for dotted, expected in PINNED_SOURCES.items():
        actual = source_hash(_original(dotted))
        if actual != expected:
            problems.append(f"{dotted} changed in moto (source sha256 {actual})")
    return problems


def serialise_moto() -> None:
    """Patch moto's in-process stubber and its server app so one request runs at a time, an SQS long
    poll releasing the lock while it waits; also :func:`patch_moto_dynamodb_transactions`. Idempotent."""
    global _patched
    if _patched:
        return
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sqs.models import Queue

    for dotted in PINNED_SOURCES:
        _original(dotted)  # record them before anything is replaced
    for cls in (BotocoreStubber, DomainDispatcherApplication):
        original = cls.__call__

        @functools.wraps(original)
        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _lock:
                return __original(self, *args, **kwargs)

        cls.__call__ = locked  # type: ignore[method-assign]

    # moto's ReceiveMessage with WaitTimeSeconds loops: look for visible messages, and when there are none
    # wait (up to 1 s) on the queue's Condition, which SendMessage notifies. That wait is the only place a
    # request blocks; give the lock up for it (fully, whatever the RLock's depth) and take it back after,
    # so a long poll holds moto for microseconds, not for its WaitTimeSeconds.
    original_wait = Queue.wait_for_messages

    @functools.wraps(original_wait)
    def wait_for_messages(self: Any, timeout: int) -> None:
        if not _lock._is_owned():  # type: ignore[attr-defined]
            original_wait(self, timeout)
            return
        state = _lock._release_save()  # type: ignore[attr-defined]
        try:
            original_wait(self, timeout)
        finally:
            _lock._acquire_restore(state)  # type: ignore[attr-defined]

    Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]
    patch_moto_dynamodb_transactions()
    patch_moto_dynamodb_query()
    patch_moto_sqs_attributes()
    trim_stream_records()
    from .capacity import patch_moto_consumed_capacity

    patch_moto_consumed_capacity()
    _patched = True


def patch_moto_sqs_attributes() -> None:
    """A queue's attributes computed one at a time, when asked for. Idempotent.

    moto 5.2.5 builds every attribute of a queue whenever one is read, its message counts included, which
    look at every message the queue holds: each SendMessage reads ``ContentBasedDeduplication`` that way,
    and GetQueueAttributes reads the whole set once per name asked. A queue nobody reads locally (the
    example rule's LeadEventsQueue, an alarm's DLQ) made every send slower than the last: on a 3,000-lead
    run, a third of moto's time went to counting LeadEventsQueue's messages for its sends.
    """
    from moto.sqs.models import Queue

    original = _original("moto.sqs.models.Queue.attributes")
    if getattr(Queue, "_tf_lazy_attributes", False):
        return
    Queue.attributes = property(lambda queue: _QueueAttributes(queue, original.fget))  # type: ignore[assignment,method-assign]
    Queue._tf_lazy_attributes = True  # type: ignore[attr-defined]


class _QueueAttributes(Mapping[str, Any]):
    """moto's ``Queue.attributes``, each value computed when read: the names are the ones moto's property
    would give (which depend on the queue's kind and settings, not on its messages)."""

    def __init__(self, queue: Any, build_all: Callable[[Any], dict[str, Any]]) -> None:
        self._queue, self._build_all = queue, build_all

    def _names(self) -> list[str]:
        queue = self._queue
        names = list(queue.BASE_ATTRIBUTES)
        names += queue.FIFO_ATTRIBUTES if queue.fifo_queue else []
        names += queue.KMS_ATTRIBUTES if queue.kms_master_key_id else []
        return list(dict.fromkeys(names))

    def __getitem__(self, name: str) -> Any:
        from moto.core.utils import camelcase_to_underscores

        if name not in self._names():
            raise KeyError(name)
        queue = self._queue
        value = getattr(queue, camelcase_to_underscores(name))
        if name == "RedrivePolicy" and queue.redrive_policy:
            value = json.dumps(queue.redrive_policy)
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return sum(1 for _ in self)


_transactions_patched = False


def patch_moto_dynamodb_transactions() -> None:
    """Replace moto's ``DynamoDBBackend.transact_write_items`` with one that keeps an undo log of the items
    it touches instead of deep copies of their tables. Idempotent.

    moto 5.2.5 ``copy.deepcopy``-s the whole table once for *every item* of a transaction, to restore it
    on a cancellation. Each copy costs time proportional to the table, and since every moto model
    instance (Table, Item...) is appended to its class's ``instances_tracked`` list when created, every
    copy stays in memory for the life of the process: 11 table copies per lead here, 5 GB after 200 leads.

    This version runs the same loop (same order of checks, same ConditionCheck / Put / Delete / Update
    calls, same cancellation reasons with the ALL_OLD item) and, before an operation changes an item,
    remembers that one item as it was (the Item object itself for Put and Delete, which replace or pop it;
    a copy for Update, which changes it in place) and where the table's stream records ended. On a
    cancellation it puts those items back in reverse order and drops the stream records the transaction
    added; on commit it keeps nothing. It also stops moto recording every DynamoDB item ever created
    (:func:`_untrack_items`). What differs: a table's identity survives a rollback (moto used to
    swap in the copy), and an item restored after a rolled-back Delete moves to the end of a hash-only
    table's scan order.
    """
    global _transactions_patched
    if _transactions_patched:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for dotted in PINNED_SOURCES:
        _original(dotted)
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    _untrack_items()
    _transactions_patched = True


# The partition a Query on the table's own key is reading, while it runs (see patch_moto_dynamodb_query).
_query_partition = threading.local()
_query_patched = False


def patch_moto_dynamodb_query() -> None:
    """Make a Query cost the size of what it can match, not of the table. Idempotent.

    moto 5.2.5's ``Table.query`` gathers its candidates with ``all_items()``, which lists and sorts every
    item of the table, then keeps those that match: every read of a lead (its state and history are one
    partition) cost ~1 s at 90,000 items, under the one moto lock, and every Query on an index (the vendor
    index and the consumer indexes hold nearly every lead) a pass over the table. While a query runs,
    ``all_items()`` answers with fewer candidates, in the same (hash, range) order:

    - on the table's key: the queried partition's items alone;
    - on an index: the items whose index hash key equals the queried value, from the table's index maps
      (:mod:`local.motoindex`: built at the first Query on that attribute, then kept by re-filing the item
      each ``Table.put_item``, ``Table.delete_item`` and ``DynamoDBBackend.update_item`` wrote, wrapped
      here, and each item a transaction's rollback puts back).

    On an index with a range key, of those only what the Query can return (``motoindex.Window``: within
    the range condition, from ExclusiveStartKey on, up to Limit), where that leaves moto's answer its own.

    query() filters and orders its candidates as before, so what it returns is unchanged. Every other
    caller of ``all_items()`` (Scan, the moto dashboard) still sees the whole table.
    """
    global _query_patched
    if _query_patched:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    from . import motoindex

    original_query = _original("moto.dynamodb.models.table.Table.query")
    original_all_items = _original("moto.dynamodb.models.table.Table.all_items")
    original_put_item = _original("moto.dynamodb.models.table.Table.put_item")
    original_delete_item = _original("moto.dynamodb.models.table.Table.delete_item")
    original_update_item = _original("moto.dynamodb.models.DynamoDBBackend.update_item")

    query_signature = inspect.signature(original_query)

    @functools.wraps(original_query)
    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = query_signature.bind(self, hash_key, *args, **kwargs).arguments
        index_name = arguments.get("index_name")
        if index_name:
            hash_attributes = [k["AttributeName"] for k in self.get_index(index_name).schema if k["KeyType"] == "HASH"]
            conditions = dict(arguments.get("hash_key_conditions") or [])
            value = conditions.get(hash_attributes[0], hash_key if len(hash_attributes) == 1 else None)
            window = motoindex.Window.of_query(self, index_name, arguments)
            _query_partition.scope = ("index", hash_attributes[0], value, window)
        elif hash_key is not None:
            _query_partition.scope = ("partition", hash_key, None, None)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_partition.scope = None

    @functools.wraps(original_all_items)
    def all_items(self: Any) -> list[Any]:
        scope = getattr(_query_partition, "scope", None)
        if scope is None:
            return original_all_items(self)
        kind, key, value, window = scope
        if kind == "index" and value is not None:
            with _lock:
                items = motoindex.candidates(self, key, value)
        else:
            if kind == "partition":
                partitions = [self.items[key]] if key in self.items else []
            else:  # an index Query without the hash key's value: every item, those carrying the key kept below
                partitions = list(self.items.values())
            items = [
                item
                for partition in partitions
                for item in (partition.values() if self.range_key_attr else [partition])
            ]
        if kind == "index":
            view = getattr(_query_partition, "view", None)
            if view is not None:  # the items as the index holds them (a lagging index: local/stale_index.py)
                items = view(self, items)
            items = [item for item in items if key in item.attrs]
            selected = window.select(items) if window is not None else None
            if selected is not None:
                return selected  # in the Query's order: moto sorts them again, no two alike
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    @functools.wraps(original_put_item)
    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with _lock:
            try:
                return original_put_item(self, item_attrs, *args, **kwargs)
            finally:
                motoindex.refile_attributes(self, item_attrs)

    @functools.wraps(original_delete_item)
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        with _lock:
            try:
                return original_delete_item(self, hash_key, range_key)
            finally:
                motoindex.refile(self, hash_key, range_key)

    @functools.wraps(original_update_item)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with _lock:
            try:
                return original_update_item(self, table_name, key, *args, **kwargs)
            finally:
                table = None
                with contextlib.suppress(Exception):  # no such table: nothing was written
                    table = self.get_table(table_name)
                if table is not None:
                    motoindex.refile_attributes(table, key)

    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    _query_patched = True


@contextlib.contextmanager
def index_view(view: Callable[[Any, list[Any]], list[Any]]) -> Iterator[None]:
    """While in this block, a Query on an index in this thread gathers its candidates through ``view``
    (the table, its items -> the items the index answers from), before moto filters, sorts and projects
    them: an index that lags its table, built from the items as they were (local/stale_index.py)."""
    _query_partition.view = view
    try:
        yield
    finally:
        _query_partition.view = None


# DynamoDB Streams keeps a stream record 24 hours; a shard iterator is valid 15 minutes after it is issued.
STREAM_RETENTION = timedelta(hours=24)
SHARD_ITERATOR_LIFETIME = timedelta(minutes=15)
_stream_settings: dict[str, Any] = {"retention": STREAM_RETENTION, "now": None}
_streams_patched = False


def trim_stream_records(retention: timedelta | None = None) -> None:
    """Keep a table's stream records for ``retention`` (default: DynamoDB's 24 hours), as DynamoDB trims
    them, and let a shard iterator expire 15 minutes after it was issued. Idempotent; a ``retention``
    given later replaces the one in force.

    moto 5.2.5's ``StreamShard`` appends every record to a list it never shortens (a record holds the
    item's whole images: ~5 records and ~21 KiB a lead, for as long as the process runs), and its streams
    backend keeps every shard iterator it ever issued (one per GetRecords). Here:

    - each record is kept packed (:class:`PackedStreamRecord`) and unpacked when GetRecords reads it;
    - after each ``StreamShard.add`` the records older than the retention (by their
      ApproximateCreationDateTime) leave the head of the list, and the shard's starting sequence number
      moves past them, so sequence numbers go on where they were and TRIM_HORIZON is the oldest record
      kept; a read from an older position is refused with TrimmedDataAccessException, as DynamoDB does;
    - GetRecords first forgets the iterators issued more than 15 minutes ago; an iterator it no longer
      knows is refused with ExpiredIteratorException;
    - neither stream records nor shard iterators are recorded in moto's ``instances_tracked`` (see
      :func:`_untrack_items`), or they would stay in memory however they were dropped.
    """
    global _streams_patched
    if retention is not None:
        _stream_settings["retention"] = retention
    if _streams_patched:
        return
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.models.table import StreamRecord, StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

    original_add = _original("moto.dynamodb.models.table.StreamShard.add")
    original_get = _original("moto.dynamodb.models.table.StreamShard.get")
    original_iterator_init = _original("moto.dynamodbstreams.models.ShardIterator.__init__")
    original_get_records = _original("moto.dynamodbstreams.models.DynamoDBStreamsBackend.get_records")

    @functools.wraps(original_add)
    def add(self: Any, old: Any, new: Any) -> None:
        original_add(self, old, new)
        if self.items and isinstance(self.items[-1], StreamRecord):
            self.items[-1] = PackedStreamRecord(self.items[-1].record)
        _trim(self)

    @functools.wraps(original_get)
    def get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        if start < self.starting_sequence_number:
            raise JsonRESTError("TrimmedDataAccessException", "The data you are trying to access has been trimmed.")
        return original_get(self, start, quantity)

    @functools.wraps(original_iterator_init)
    def iterator_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_iterator_init(self, *args, **kwargs)
        self.expires = _stream_now() + SHARD_ITERATOR_LIFETIME

    @functools.wraps(original_get_records)
    def get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        now, iterators = _stream_now(), self.shard_iterators
        for arn in list(iterators):  # issued in this order: the expired ones come first
            if iterators[arn].expires > now:
                break
            del iterators[arn]
        if iterator_arn not in iterators:
            raise JsonRESTError("ExpiredIteratorException", "The shard iterator has expired.")
        return original_get_records(self, iterator_arn, limit)

    StreamShard.add = add  # type: ignore[method-assign]
    StreamShard.get = get  # type: ignore[method-assign]
    ShardIterator.__init__ = iterator_init  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]
    for cls in (StreamRecord, ShardIterator):
        _untrack(cls)
    _streams_patched = True


def _stream_now() -> datetime:
    """What the stream patches take for now: moto's clock (naive UTC), or the one a test set."""
    from moto.core.utils import utcnow

    clock = _stream_settings["now"]
    return clock() if clock is not None else utcnow()


class PackedStreamRecord:
    """A stream record kept as one pickle until a reader asks for it: moto's record holds the item's images
    as nested dicts of JSON values (~21 KiB a lead's records, for the whole retention); pickled, about a
    quarter of that (zlib would take off only a tenth more: the raw exchanges they carry are dense).
    ``to_json`` gives moto's record back, as ``StreamShard.get`` reads it."""

    __slots__ = ("_packed", "created")

    def __init__(self, record: dict[str, Any]) -> None:
        self.created: datetime = record["dynamodb"]["ApproximateCreationDateTime"]
        self._packed = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = pickle.loads(self._packed)  # noqa: S301 - our own, packed above
        return record


def _trim(shard: Any) -> None:
    """Drop the records older than the retention from the head of ``shard``'s list."""
    horizon = _stream_now() - _stream_settings["retention"]
    records, expired = shard.items, 0
    while expired < len(records) and records[expired].created < horizon:
        expired += 1
    if expired:
        del records[:expired]
        shard.starting_sequence_number += expired


def _untrack(cls: type) -> None:
    """Instances of ``cls`` (a moto BaseModel) created plainly, not recorded in ``instances_tracked``."""

    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    cls.__new__ = staticmethod(new)  # type: ignore[assignment]
    cls.instances_tracked.clear()  # type: ignore[attr-defined]


def _untrack_items() -> None:
    """moto's ``BaseModel.__new__`` appends every model instance to its class's ``instances_tracked``
    list, for the moto server's dashboard (``/moto-api/data.json``). For DynamoDB items that list holds
    every item ever created, stored or not: each PutItem's, each UpdateItem's copy of the item before the
    update, each Query's and Scan's copies of the items they return - memory that grows with every
    request, without bound. Items are created plainly instead (the dashboard no longer lists them)."""
    from moto.dynamodb.models.dynamo_type import Item

    _untrack(Item)


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    import copy

    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import get_filter_expression

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _UndoLog()

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []  # [(Code, Message, Item), ..]
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        # Check transact writes are not performing multiple operations on the same item
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression,
                    expression_attribute_names,
                    expression_attribute_values,
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                table = self.get_table(table_name)
                hash_key, range_key = self.get_keys_value(table, key)
                # Update changes the stored Item in place: keep a copy. Put and Delete replace or pop it.
                before = copy.deepcopy(current) if op_type == "Update" and current is not None else current
                undo.remember(table, hash_key, range_key, before)

            if op_type == "Put":
                attrs = op["Item"]
                self.put_item(
                    table_name,
                    attrs,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                update_expression = op["UpdateExpression"]
                self.update_item(
                    table_name,
                    key,
                    update_expression=update_expression,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            # Rollback to the original state, and reraise the error
            undo.rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore
        except Exception as e:
            # For other exceptions, capture their details
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore

    if any(code is not None for code, _, _ in errors):
        # Rollback to the original state, and reraise the errors
        undo.rollback()
        raise TransactionCanceledException(errors)


class _UndoLog:
    """What a transaction changed, item by item, so a cancellation can put it back."""

    def __init__(self) -> None:
        # (table, hash key, range key, the Item before the operation or None if there was none)
        self._items: list[tuple[Any, Any, Any, Any]] = []
        # id(table) -> (table, its stream record list, the sequence number the transaction's first record got)
        self._streams: dict[int, tuple[Any, list[Any], int]] = {}

    def remember(self, table: Any, hash_key: Any, range_key: Any, before: Any) -> None:
        self._items.append((table, hash_key, range_key, before))
        shard = table.stream_shard
        if shard is not None and id(table) not in self._streams:
            self._streams[id(table)] = (table, shard.items, shard.starting_sequence_number + len(shard.items))

    def rollback(self) -> None:
        from . import motoindex

        for table, hash_key, range_key, before in reversed(self._items):
            if range_key is not None:
                if before is None:
                    table.items[hash_key].pop(range_key, None)
                    if not table.items[hash_key]:
                        del table.items[hash_key]
                else:
                    table.items[hash_key][range_key] = before
            elif before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
            motoindex.refile(table, hash_key, range_key)
        for table, records, first_added in self._streams.values():
            # StreamShard.add appends to its list (or, once a Lambda mapping took the records, starts a
            # new one): the list as it was before the transaction is the one to keep, without the records
            # from first_added on (trim_stream_records may have dropped older ones from its head meanwhile).
            if table.stream_shard is not None:
                table.stream_shard.items = records
                del records[max(0, first_added - table.stream_shard.starting_sequence_number) :]
        self._items.clear()
        self._streams.clear()


_kms_patched = False


def reuse_symmetric_kms_private_key() -> None:
    """moto gives every KMS key, symmetric ones included, a freshly generated RSA-2048 private key that a
    symmetric key never uses (20-300 ms of CPU each); DynamoDB server-side encryption creates such a key
    for every table. Generate it once per process for symmetric and HMAC keys; asymmetric keys are unchanged
    and every key still gets its own symmetric key material. Idempotent; for tests (in-process moto)."""
    global _kms_patched
    if _kms_patched:
        return
    from moto.kms import models

    original = models.generate_private_key
    shared: dict[str, Any] = {}

    @functools.wraps(original)
    def generate(key_spec: str) -> Any:
        if key_spec != "SYMMETRIC_DEFAULT" and not key_spec.startswith("HMAC_"):
            return original(key_spec)
        if key_spec not in shared:
            shared[key_spec] = original(key_spec)
        return shared[key_spec]

    models.generate_private_key = generate
    _kms_patched = True
