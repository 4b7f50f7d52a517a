"""local/motoindex.py through local/motolock.py: a Query on a global secondary index answers exactly as moto's
own (items, order, projection, pages) whatever writes came before it, and goes through the items it can
match, not the table."""

from __future__ import annotations

import contextlib
import random
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import motoindex, motolock
from tests.support.moto_counts import count_candidates

TABLE = "moto-index"
# name -> (hash key, range key or None, projection), as store/keys.py's indexes: a vendor index on nearly
# every item (KEYS_ONLY), a sparse one whose key items gain, change and lose, and one keyed on a number.
INDEXES: dict[str, tuple[str, str | None, str]] = {
    "vendor": ("gsi1pk", "gsi1sk", "KEYS_ONLY"),
    "open": ("gsi2pk", "gsi2sk", "ALL"),
    "group": ("grp", None, "ALL"),
}
KEYS = [(f"LEAD#{n:02d}", sk) for n in range(20) for sk in ("STATE", "ENTRY#1")]
VENDORS = ["VENDOR#a", "VENDOR#b", "VENDOR#c"]
SHARDS = ["OPEN#0", "OPEN#1"]
GROUPS = ["1", "1.0", "2", "3.5", "3.50", "-1"]  # "1" and "1.0" are one number, as are "3.5" and "3.50"
TIMES = [f"2026-12-07T10:{minute:02d}" for minute in range(0, 10, 2)]
VALUES: dict[str, list[dict[str, str]]] = {  # what each index is queried for (one value matches nothing)
    "vendor": [{"S": v} for v in [*VENDORS, "VENDOR#none"]],
    "open": [{"S": s} for s in [*SHARDS, "OPEN#9"]],
    "group": [{"N": g} for g in ["1.00", "2", "3.5", "-1", "7"]],
}


@pytest.fixture
def ddb() -> Iterator[Any]:
    motolock.serialise_moto()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                *({"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk")),
                *({"AttributeName": name, "AttributeType": "S"} for name in ("gsi2pk", "gsi2sk", "gsi3pk")),
                {"AttributeName": "grp", "AttributeType": "N"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": name,
                    "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"}]
                    + ([{"AttributeName": range_key, "KeyType": "RANGE"}] if range_key else []),
                    "Projection": {"ProjectionType": projection},
                }
                for name, (hash_key, range_key, projection) in INDEXES.items()
            ]
            + [
                {
                    "IndexName": "consumer",
                    "KeySchema": [
                        {"AttributeName": "gsi3pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client


def moto_table() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(TABLE)


@contextlib.contextmanager
def motos_own_query() -> Iterator[None]:
    """Table.query and Table.all_items as moto defined them (every item of the table a candidate)."""
    from moto.dynamodb.models.table import Table

    patched = Table.query, Table.all_items
    Table.query = motolock._original("moto.dynamodb.models.table.Table.query")  # type: ignore[method-assign]
    Table.all_items = motolock._original("moto.dynamodb.models.table.Table.all_items")  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query, Table.all_items = patched  # type: ignore[method-assign]


# --- random writes -------------------------------------------------------------------------------------


def s(value: str) -> dict[str, str]:
    return {"S": value}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": s(pk), "sk": s(sk)}


def random_item(rng: random.Random, pk: str, sk: str) -> dict[str, Any]:
    item = key(pk, sk) | {"v": {"N": str(rng.randrange(100))}}
    if rng.random() < 0.8:
        item["gsi1pk"] = s(rng.choice(VENDORS))
        if rng.random() < 0.9:  # without its range key an item is in no index on it
            item["gsi1sk"] = s(rng.choice(TIMES))
    if rng.random() < 0.4:
        item |= {"gsi2pk": s(rng.choice(SHARDS)), "gsi2sk": s(rng.choice(TIMES))}
    if rng.random() < 0.5:
        item["grp"] = {"N": rng.choice(GROUPS)}
    return item


def random_update(rng: random.Random) -> dict[str, Any]:
    """An update expression: a sparse key appearing, moving or going, a number key set or removed..."""
    choice = rng.randrange(6)
    if choice == 0:  # enter the sparse index, or move within it
        return {"UpdateExpression": "SET gsi2pk = :p, gsi2sk = :t"} | values(
            p=s(rng.choice(SHARDS)), t=s(rng.choice(TIMES))
        )
    if choice == 1:
        return {"UpdateExpression": "REMOVE gsi2pk, gsi2sk"}
    if choice == 2:
        return {"UpdateExpression": "SET grp = :g"} | values(g={"N": rng.choice(GROUPS)})
    if choice == 3:
        return {"UpdateExpression": "REMOVE grp SET gsi1pk = :p"} | values(p=s(rng.choice(VENDORS)))
    if choice == 4:  # fails on an item without v, after nothing was changed
        return {"UpdateExpression": "SET v = v + :one, gsi2sk = :t"} | values(one={"N": "1"}, t=s(rng.choice(TIMES)))
    return {"UpdateExpression": "SET v = :v"} | values(v={"N": "5"})


def values(**named: dict[str, str]) -> dict[str, Any]:
    return {"ExpressionAttributeValues": {f":{name}": value for name, value in named.items()}}


def random_write(client: Any, rng: random.Random) -> None:
    pk, sk = rng.choice(KEYS)
    kind = rng.randrange(5)
    try:
        if kind == 0:
            client.put_item(TableName=TABLE, Item=random_item(rng, pk, sk))
        elif kind == 1:
            condition = {"ConditionExpression": "attribute_exists(pk)"} if rng.random() < 0.3 else {}
            client.update_item(TableName=TABLE, Key=key(pk, sk), **random_update(rng), **condition)
        elif kind == 2:
            condition = {"ConditionExpression": "attribute_exists(gsi2pk)"} if rng.random() < 0.5 else {}
            client.delete_item(TableName=TABLE, Key=key(pk, sk), **condition)
        elif kind == 3:
            client.transact_write_items(TransactItems=random_transaction(rng))
        else:
            client.batch_write_item(
                RequestItems={
                    TABLE: [
                        {"PutRequest": {"Item": random_item(rng, *k)}}
                        if rng.random() < 0.6
                        else {"DeleteRequest": {"Key": key(*k)}}
                        for k in rng.sample(KEYS, rng.randint(2, 5))
                    ]
                }
            )
    except ClientError as exc:  # a failed condition, a cancelled transaction: nothing (or all) rolled back
        assert exc.response["Error"]["Code"] in {
            "ConditionalCheckFailedException",
            "TransactionCanceledException",
            "ValidationException",
        }, exc


def random_transaction(rng: random.Random) -> list[dict[str, Any]]:
    ops = []
    for pk, sk in rng.sample(KEYS, rng.randint(2, 4)):
        kind = rng.randrange(4)
        if kind == 0:
            ops.append({"Put": {"TableName": TABLE, "Item": random_item(rng, pk, sk)}})
        elif kind == 1:
            ops.append({"Update": {"TableName": TABLE, "Key": key(pk, sk)} | random_update(rng)})
        elif kind == 2:
            ops.append({"Delete": {"TableName": TABLE, "Key": key(pk, sk)}})
        else:  # often fails: the whole transaction is cancelled and rolled back
            check = {"ConditionExpression": "attribute_exists(gsi2pk)"}
            ops.append({"ConditionCheck": {"TableName": TABLE, "Key": key(pk, sk)} | check})
    return ops


# --- queries and what a Scan says they answer -------------------------------------------------------------


def variants(index: str, value: dict[str, str], rng: random.Random) -> list[dict[str, Any]]:
    hash_key, range_key, _ = INDEXES[index]
    base: dict[str, Any] = {
        "IndexName": index,
        "KeyConditionExpression": "#h = :h",
        "ExpressionAttributeNames": {"#h": hash_key},
        "ExpressionAttributeValues": {":h": value},
    }
    out = [base, base | {"ScanIndexForward": False}, base | {"Limit": rng.randint(1, 3)}]
    if range_key:
        low, high = sorted(rng.sample(TIMES, 2))
        ranged = base | {
            "KeyConditionExpression": "#h = :h AND #r BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#h": hash_key, "#r": range_key},
            "ExpressionAttributeValues": {":h": value, ":lo": s(low), ":hi": s(high)},
        }
        out += [ranged, ranged | {"ScanIndexForward": False, "Limit": rng.randint(1, 3)}]
        # One bound, each comparison and a prefix (a Window hands moto only the items they can return).
        condition = rng.choice(["#r < :x", "#r <= :x", "#r > :x", "#r >= :x", "#r = :x", "begins_with(#r, :x)"])
        bound = rng.choice(TIMES)[: rng.choice([16, 15, 14])] if "begins" in condition else rng.choice(TIMES)
        one_bound = base | {
            "KeyConditionExpression": f"#h = :h AND {condition}",
            "ExpressionAttributeNames": {"#h": hash_key, "#r": range_key},
            "ExpressionAttributeValues": {":h": value, ":x": s(bound)},
        }
        forward = rng.random() < 0.5
        out += [one_bound | {"ScanIndexForward": forward, "Limit": rng.randint(1, 3)}, ranged | {"Limit": 1}]
    return out


def pages(client: Any, query: dict[str, Any]) -> list[tuple[list[Any], Any]]:
    """Every page of a Query, each with its LastEvaluatedKey, following them as a reader does."""
    out: list[tuple[list[Any], Any]] = []
    start: dict[str, Any] = {}
    while len(out) < 100:
        page = client.query(TableName=TABLE, **query, **start)
        out.append((page["Items"], page.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in page:
            return out
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    raise AssertionError(f"{query} does not end")


def scan(client: Any) -> list[dict[str, Any]]:
    items, start = [], {}
    while True:
        page = client.scan(TableName=TABLE, **start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def plain(value: dict[str, str]) -> Any:
    [(kind, raw)] = value.items()
    return Decimal(raw) if kind == "N" else raw


def by_hand(stored: list[dict[str, Any]], query: dict[str, Any]) -> list[dict[str, Any]]:
    """What the index holds for the query: the items carrying its keys, the hash key equal to the value (as
    numbers for a number), the range key within the bounds; ordered by the index's range key (the table's
    sort key for an index without one), then the table's key; projected as the index is."""
    hash_key, range_key, projection = INDEXES[query["IndexName"]]
    bound = query["ExpressionAttributeValues"]
    wanted = bound[":h"]
    found = [
        item
        for item in stored
        if hash_key in item
        and (range_key is None or range_key in item)
        and item[hash_key].keys() == wanted.keys()
        and plain(item[hash_key]) == plain(wanted)
        and (":lo" not in bound or plain(bound[":lo"]) <= plain(item[range_key or "sk"]) <= plain(bound[":hi"]))
        and (
            ":x" not in bound or within(query["KeyConditionExpression"], item[range_key or "sk"]["S"], bound[":x"]["S"])
        )
    ]
    found.sort(key=lambda item: (plain(item[range_key or "sk"]), item["pk"]["S"], item["sk"]["S"]))
    if query.get("ScanIndexForward") is False:
        found.reverse()
    if projection == "KEYS_ONLY":
        kept = {"pk", "sk", hash_key, range_key}
        found = [{name: value for name, value in item.items() if name in kept} for item in found]
    return found


def within(expression: str, value: str, bound: str) -> bool:
    """The one-bound range condition of ``variants`` on a string range key, by hand."""
    condition = expression.split(" AND ", 1)[1]
    if condition.startswith("begins_with"):
        return value.startswith(bound)
    operator = condition.split()[1]
    return {"<": value < bound, "<=": value <= bound, ">": value > bound, ">=": value >= bound, "=": value == bound}[
        operator
    ]


def check_queries(client: Any, rng: random.Random, every_value: bool = False) -> int:
    stored = scan(client)
    checked = 0
    for index, domain in VALUES.items():
        for value in domain if every_value else [rng.choice(domain)]:
            for query in variants(index, value, rng):
                patched = pages(client, query)
                with motos_own_query():
                    assert patched == pages(client, query), query
                assert [item for items, _ in patched for item in items] == by_hand(stored, query), query
                checked += 1
    return checked


@pytest.mark.parametrize("seed", range(3))
def test_an_index_query_answers_as_moto_and_a_scan_do_whatever_was_written_before(ddb, seed):
    rng = random.Random(seed)
    for pk, sk in KEYS[::2]:
        ddb.put_item(TableName=TABLE, Item=random_item(rng, pk, sk))
    checked = check_queries(ddb, rng)  # builds the maps
    for step in range(150):
        random_write(ddb, rng)
        if step % 6 == 5:
            checked += check_queries(ddb, rng)
    checked += check_queries(ddb, rng, every_value=True)
    assert checked > 200
    assert motoindex.maps(moto_table()).builds == 3  # one pass per index hash key, never again


def test_an_index_query_behind_a_lagging_index_answers_as_from_the_whole_table(ddb, monkeypatch):
    """local/stale_index.py's view gets the matching items instead of the table's: it answers the same."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from local.stale_index import StaleIndex

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    now = [0.0]
    stale = StaleIndex(lag=5.0, clock=lambda: now[0])
    rng = random.Random(11)

    def write(operation: str, **request: Any) -> None:
        stale.record(backend, operation, request | {"TableName": TABLE})
        with contextlib.suppress(ClientError):
            getattr(ddb, operation_method[operation])(TableName=TABLE, **request)

    operation_method = {"PutItem": "put_item", "UpdateItem": "update_item", "DeleteItem": "delete_item"}
    everything = motoindex._stored
    answers, whole = [], []
    for _ in range(120):
        pk, sk = rng.choice(KEYS)
        kind = rng.randrange(3)
        if kind == 0:
            write("PutItem", Item=random_item(rng, pk, sk))
        elif kind == 1:
            write("UpdateItem", Key=key(pk, sk), **random_update(rng))
        else:
            write("DeleteItem", Key=key(pk, sk))
        now[0] += rng.random() * 2
        index = rng.choice(list(VALUES))
        query = variants(index, rng.choice(VALUES[index]), rng)[0]
        with stale.answering():
            answers.append(pages(ddb, query))
            # The candidates as before local/motoindex.py: every item of the table.
            monkeypatch.setattr(motoindex, "candidates", lambda table, *_: [item for _, item in everything(table)])
            whole.append(pages(ddb, query))
            monkeypatch.undo()
    assert answers == whole
    assert stale.answered == 240 and any(items for page in answers for items, _ in page)


# --- cost ------------------------------------------------------------------------------------------------


class CountedItems(defaultdict):  # type: ignore[type-arg]
    """A moto table's item dict that counts the passes over it (the whole table read)."""

    passes = 0

    def values(self) -> Any:
        CountedItems.passes += 1
        return super().values()

    def items(self) -> Any:
        CountedItems.passes += 1
        return super().items()

    def __iter__(self) -> Any:
        CountedItems.passes += 1
        return super().__iter__()


def lead(n: int, consumer: str) -> dict[str, Any]:
    return key(f"LEAD#{n}", "STATE") | {
        "gsi1pk": s(f"VENDOR#v{n % 5}"),
        "gsi1sk": s(f"2026-12-07T10:{n % 60:02d}#{n}"),
        "gsi3pk": s(consumer),
    }


def test_an_index_query_goes_through_its_matches_not_the_table(ddb, monkeypatch):
    """moto went over every item of the table for a Query on an index (5,000 candidates on 5,000 leads, all of
    them in the vendor and consumer indexes): a consumer's 3 leads are the candidates now, and the writes
    between two Queries (intake, the sweeper) cost no pass over the table either."""
    for first in range(0, 5_000, 25):
        batch = [
            {"PutRequest": {"Item": lead(n, "EMAIL#target" if n % 1_000 == 7 and n < 3_000 else f"EMAIL#c{n}")}}
            for n in range(first, first + 25)
        ]
        ddb.batch_write_item(RequestItems={TABLE: batch})
    table = moto_table()
    table.items = CountedItems(dict, table.items)
    CountedItems.passes = 0
    candidates = count_candidates(monkeypatch)

    def consumer_leads() -> list[str]:
        out = ddb.query(
            TableName=TABLE,
            IndexName="consumer",
            KeyConditionExpression="gsi3pk = :c",
            ExpressionAttributeValues={":c": s("EMAIL#target")},
        )
        return sorted(item["pk"]["S"] for item in out["Items"])

    assert consumer_leads() == ["LEAD#1007", "LEAD#2007", "LEAD#7"]
    assert candidates == [3] and CountedItems.passes <= 1  # the first Query on gsi3pk files the table once
    passes = CountedItems.passes
    for n in range(40):  # intake and attempts between Queries: new leads, updates, a transaction, deletes
        ddb.put_item(TableName=TABLE, Item=lead(5_000 + n, f"EMAIL#new{n}"))
        ddb.update_item(
            TableName=TABLE,
            Key=key(f"LEAD#{n}", "STATE"),
            UpdateExpression="SET gsi2pk = :o, gsi2sk = :t",
            **values(o=s("OPEN#0"), t=s("2026-12-07T10:00")),
        )
        assert len(consumer_leads()) == 3
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": lead(9_000, "EMAIL#target")}}])
    assert consumer_leads() == ["LEAD#1007", "LEAD#2007", "LEAD#7", "LEAD#9000"]
    ddb.delete_item(TableName=TABLE, Key=key("LEAD#1007", "STATE"))
    assert consumer_leads() == ["LEAD#2007", "LEAD#7", "LEAD#9000"]
    assert set(candidates) <= {3, 4} and CountedItems.passes == passes  # no pass over the table since
    # The count would see moto's own Query: every item of the table a candidate.
    with motos_own_query():
        whole_table = count_candidates(monkeypatch)
        assert len(consumer_leads()) == 3
    assert whole_table == [5_040]


def test_a_window_of_one_vendors_leads_hands_moto_only_its_page(ddb, monkeypatch):
    """The sweeper reads 10 minutes of a vendor's arrivals from the vendor index: with every lead under one
    vendor (the soak), moto sorted all of them as DynamoTypes on each page (~0.9 s at 8,000 leads, past the
    client's read timeout). A page now costs moto its own items, and answers as moto's own Query does."""
    for first in range(0, 5_000, 25):
        batch = [
            {"PutRequest": {"Item": key(f"LEAD#{n}", "STATE") | {"gsi1pk": s("VENDOR#one"), "gsi1sk": s(f"T{n:05d}")}}}
            for n in range(first, first + 25)
        ]
        ddb.batch_write_item(RequestItems={TABLE: batch})
    candidates = count_candidates(monkeypatch)
    window = {
        "IndexName": "vendor",
        "KeyConditionExpression": "gsi1pk = :v AND gsi1sk BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {":v": s("VENDOR#one"), ":lo": s("T02000"), ":hi": s("T02049")},
        "Limit": 20,
    }
    read, backwards = pages(ddb, window), pages(ddb, window | {"ScanIndexForward": False})
    assert [item["pk"]["S"] for items, _ in read for item in items] == [f"LEAD#{n}" for n in range(2_000, 2_050)]
    assert len(read) == 3 and max(candidates) <= 20 + 2 + 1  # a page, the start, one more, the next outside
    with motos_own_query():
        assert pages(ddb, window) == read
        assert pages(ddb, window | {"ScanIndexForward": False}) == backwards
