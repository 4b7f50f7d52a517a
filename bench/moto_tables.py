"""moto under local/motolock.py: a transaction and a lead read on a small and on a large table (not a test).

    .venv/bin/python bench/moto_tables.py [--small 100] [--large 20000] [--rounds 35]

moto 5.2.5 deep-copied the table for every item of a TransactWriteItems and listed and sorted the whole
table for every Query; with the patches both cost what they touch. tests/integration/local/test_motolock.py
checks the work (Items built, a query's candidates) does not grow with the table; this measures the time.
Small and large runs alternate, so a busy machine slows both alike, and each table's least disturbed run
after five warm-up rounds is kept. Goal: the large table within GOAL_RATIO of the small one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]
GOAL_RATIO = 1.5  # large table against small (what tests/integration/local/test_motolock.py asserted until issue 19)
SMALL, LARGE = "bench-small", "bench-large"
WARM_UP = 5


def create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def fill(client: Any, table: str, items: int) -> None:
    for first in range(0, items, 25):
        client.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"pk": {"S": f"LEAD#{n}"}, "sk": {"S": "LEAD"}, "n": {"N": str(n)}}}}
                    for n in range(first, min(items, first + 25))
                ]
            }
        )
    for n in reversed(range(5)):  # a lead's partition as the store writes it: events, then its state
        client.put_item(TableName=table, Item={"pk": {"S": "LEAD#read"}, "sk": {"S": f"EVENT#{n:03d}"}})
    client.put_item(TableName=table, Item={"pk": {"S": "LEAD#read"}, "sk": {"S": "STATE"}})


def transactions(client: Any, table: str, n: int) -> None:
    """A committed transaction (a put and a condition check) and a cancelled one (a put, an update, a
    delete and a failed condition check)."""
    from botocore.exceptions import ClientError

    def key(pk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": "LEAD"}}

    check = {"TableName": table, "Key": key("LEAD#3"), "ConditionExpression": "attribute_exists(pk)"}
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": key(f"NEW#{n}")}},
            {"ConditionCheck": check},
        ]
    )
    failing = {
        **check,
        "ConditionExpression": "attribute_not_exists(pk)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    with contextlib.suppress(ClientError):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": key(f"CANCELLED#{n}")}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("LEAD#1"),
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": key("LEAD#2")}},
                {"ConditionCheck": failing},
            ]
        )


def lead_read(client: Any, table: str, n: int) -> None:
    out = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "LEAD#read"}},
        ConsistentRead=True,
    )
    assert out["Count"] == 6, out


def least_disturbed_ms(client: Any, work: Callable[[Any, str, int], None], rounds: int) -> tuple[float, float]:
    """(small, large): each table's fastest run in ms, the runs alternating, after the warm-up rounds."""
    times: dict[str, list[float]] = {SMALL: [], LARGE: []}
    for n in range(rounds + WARM_UP):
        for table in (SMALL, LARGE):
            started = time.perf_counter()
            work(client, table, n)
            times[table].append((time.perf_counter() - started) * 1000)
    return min(times[SMALL][WARM_UP:]), min(times[LARGE][WARM_UP:])


def measure(small: int = 100, large: int = 20_000, rounds: int = 35) -> dict[str, Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(name, value)
    import boto3
    from moto import mock_aws

    from local.motolock import serialise_moto

    serialise_moto()
    figures: dict[str, Any] = {"small_items": small, "large_items": large}
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for table, items in ((SMALL, small), (LARGE, large)):
            create_table(client, table)
            fill(client, table, items)
        for label, work in (("transaction", transactions), ("lead_read", lead_read)):
            small_ms, large_ms = least_disturbed_ms(client, work, rounds)
            figures[label] = {"small_ms": round(small_ms, 2), "large_ms": round(large_ms, 2)}
            figures[label]["ratio"] = round(large_ms / small_ms, 2)
    return figures


def report(figures: dict[str, Any]) -> list[str]:
    lines = []
    for label, what in (("transaction", "a pair of transactions"), ("lead_read", "a lead read (Query)")):
        figure = figures[label]
        verdict = "met" if figure["ratio"] <= GOAL_RATIO else "NOT met"
        lines.append(
            f"  {what:<24} {figure['small_ms']:>7.2f} ms at {figures['small_items']:,} items, "
            f"{figure['large_ms']:>7.2f} ms at {figures['large_items']:,}: {figure['ratio']:.2f}x  "
            f"goal <= {GOAL_RATIO} {verdict}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=35)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = measure(args.small, args.large, args.rounds)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print("moto (local/motolock.py), least disturbed run of each, large table against small:")
    for line in report(figures):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
