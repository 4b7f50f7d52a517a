"""moto under local/motolock.py: a Query on a global secondary index, on a small and on a large table (not a test).

    .venv/bin/python bench/moto_index.py [--small 200] [--large 5000] [--queries 200]

Every lead state carries the vendor index's key (gsi1) and a consumer index's key (gsi3); a Query on such
an index matched its few items but went over the whole table. Each table gets ``--queries`` Queries on a
consumer's key (3 matching leads), alone and each after a write of another lead (the stack's pattern: the
gate's and the sweeper's Queries between intake's writes). tests/integration/local/test_moto_index.py
checks the work (the candidates a Query goes through) does not grow with the table; this measures the time.
Goal: the large table within GOAL_RATIO of the small one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]
GOAL_RATIO = 1.5
TABLE = "bench-index"


def create_table(client: Any, name: str) -> None:
    keys = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi3pk")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
        GlobalSecondaryIndexes=[
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
            for name, hash_key in (("gsi1", "gsi1pk"), ("gsi3", "gsi3pk"))
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def lead(n: int, consumer: str) -> dict[str, Any]:
    return {
        "pk": {"S": f"LEAD#{n}"},
        "sk": {"S": "STATE"},
        "gsi1pk": {"S": f"VENDOR#v{n % 5}"},
        "gsi1sk": {"S": f"2026-12-07T10:{n % 60:02d}#{n}"},
        "gsi3pk": {"S": consumer},
        "status": {"S": "received"},
    }


def fill(client: Any, items: int) -> None:
    for first in range(0, items, 25):
        batch = [
            {"PutRequest": {"Item": lead(n, "EMAIL#target" if n < 3 else f"EMAIL#c{n}")}}
            for n in range(first, min(items, first + 25))
        ]
        client.batch_write_item(RequestItems={TABLE: batch})


def query(client: Any) -> None:
    out = client.query(
        TableName=TABLE,
        IndexName="gsi3",
        KeyConditionExpression="gsi3pk = :c",
        ExpressionAttributeValues={":c": {"S": "EMAIL#target"}},
    )
    assert out["Count"] == 3, out


def measure(items: int, queries: int) -> dict[str, float]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        fill(client, items)
        query(client)  # warm up (and build whatever a first Query builds)
        started = time.perf_counter()
        for _ in range(queries):
            query(client)
        alone = time.perf_counter() - started
        started = time.perf_counter()
        for n in range(queries):
            client.update_item(
                TableName=TABLE,
                Key={"pk": {"S": f"LEAD#{3 + n % (items - 3)}"}, "sk": {"S": "STATE"}},
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": f"attempt-{n}"}},
            )
            query(client)
        after_write = time.perf_counter() - started
    return {"query_ms": 1000 * alone / queries, "write_and_query_ms": 1000 * after_write / queries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from local.motolock import serialise_moto

    serialise_moto()
    load = os.getloadavg()
    small, large = measure(args.small, args.queries), measure(args.large, args.queries)
    figures = {
        "items": [args.small, args.large],
        "queries": args.queries,
        "small": small,
        "large": large,
        "ratio": {key: large[key] / small[key] for key in small},
        "goal_ratio": GOAL_RATIO,
        "load_average_before": list(load),
        "load_average_after": list(os.getloadavg()),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
