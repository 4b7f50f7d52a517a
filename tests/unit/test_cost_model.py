"""bench/cost.py's DynamoDB accounting: item sizes and units by DynamoDB's documented rules."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.capacity import Index, item_size, number_size, units_of_write

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def cost() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cost", BENCH / "cost.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The write-unit rules moto's answers are filled with (local/capacity.py): what make cost and make bench
# read back as ConsumedCapacity.


def test_sizes_follow_dynamodb_rules() -> None:
    assert item_size({"pk": {"S": "LEAD#1"}}) == 2 + 6
    assert item_size({"n": {"N": "12345"}}) == 1 + 4  # 1 byte per 2 significant digits, + 1
    assert number_size("-0.001200") == 2  # leading and trailing zeroes do not count
    assert item_size({"b": {"B": b"\x00" * 10}, "t": {"BOOL": True}}) == (1 + 10) + (1 + 1)
    assert item_size({"b": {"B": "AAAAAAAAAAAAAA=="}}) == 1 + 10  # base64 in a request's JSON: decoded size
    # a map or list: 3 bytes, and 1 byte per element on top of its names and values
    assert item_size({"m": {"M": {"ab": {"S": "xyz"}}}}) == 1 + 3 + (2 + 3 + 1)
    assert item_size({"l": {"L": [{"S": "x"}, {"NULL": True}]}}) == 1 + 3 + (1 + 1) + (1 + 1)


def item(size_bytes: int, **keys: str) -> dict[str, Any]:
    body = {name: {"S": value} for name, value in keys.items()}
    filler = size_bytes - sum(len(n) + len(v) for n, v in keys.items()) - len("x")
    return {**body, "x": {"S": "a" * filler}}


def test_write_units_per_started_kb_twice_in_a_transaction_and_per_index() -> None:
    indexes = [Index("gsi2pk", "gsi2sk", keys_only=False)]
    small, large = item(1024, pk="p", sk="s"), item(1025, pk="p", sk="s")
    assert units_of_write(None, small, indexes, transaction=False) == 1
    assert units_of_write(None, large, indexes, transaction=False) == 2
    assert units_of_write(large, small, indexes, transaction=False) == 2  # the larger of before and after
    assert units_of_write(None, small, indexes, transaction=True) == 2  # a transaction's item counts twice
    opened = item(600, pk="p", sk="s", gsi2pk="OPEN#1", gsi2sk="a")
    moved = item(600, pk="p", sk="s", gsi2pk="OPEN#1", gsi2sk="b")
    assert units_of_write(None, opened, indexes, transaction=False) == 1 + 1  # the item enters the index
    assert units_of_write(opened, moved, indexes, transaction=False) == 1 + 2  # its key moves: delete + put
    assert units_of_write(opened, item(600, pk="p", sk="s"), indexes, transaction=False) == 1 + 1  # it leaves
    assert units_of_write(opened, opened, indexes, transaction=False) == 1  # in it, nothing changed


def test_a_keys_only_index_is_written_only_when_its_keys_change_at_the_size_of_the_keys() -> None:
    indexes = [Index("gsi3pk", "gsi1sk", keys_only=True)]
    indexed = item(3000, pk="p", sk="s", gsi3pk="EMAIL#f", gsi1sk="t#p")
    updated = item(3500, pk="p", sk="s", gsi3pk="EMAIL#f", gsi1sk="t#p")
    assert units_of_write(None, indexed, indexes, transaction=True) == 3 * 2 + 1  # a small keys-only entry
    assert units_of_write(indexed, updated, indexes, transaction=True) == 4 * 2  # keys unchanged: not written
    backfilled = units_of_write(item(3000, pk="p", sk="s", gsi1sk="t#p"), indexed, indexes, transaction=False)
    assert backfilled == 3 + 1


def test_read_units_per_started_4kb_halved_when_eventually_consistent(cost: ModuleType) -> None:
    assert cost.DynamoMeter._read_units(0, True) == 1
    assert cost.DynamoMeter._read_units(4097, True) == 2
    assert cost.DynamoMeter._read_units(4097, False) == 1


def test_prices_file_names_its_region_and_date_and_every_price_is_positive() -> None:
    prices = json.loads((BENCH / "prices.json").read_text())
    assert prices["region"] == "us-east-1" and prices["as_of"] and prices["currency"] == "USD"
    numbers = [value for section in prices.values() if isinstance(section, dict) for value in section.values()]
    assert numbers and all(isinstance(n, int | float) and n > 0 for n in numbers)
