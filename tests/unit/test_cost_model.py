"""bench/cost.py's DynamoDB accounting: item sizes and units by DynamoDB's documented rules."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def cost() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cost", BENCH / "cost.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sizes_follow_dynamodb_rules(cost: ModuleType) -> None:
    assert cost.item_size({"pk": {"S": "LEAD#1"}}) == 2 + 6
    assert cost.item_size({"n": {"N": "12345"}}) == 1 + 4  # 1 byte per 2 significant digits, + 1
    assert cost.number_size("-0.001200") == 2  # leading and trailing zeroes do not count
    assert cost.item_size({"b": {"B": b"\x00" * 10}, "t": {"BOOL": True}}) == (1 + 10) + (1 + 1)
    # a map or list: 3 bytes, and 1 byte per element on top of its names and values
    assert cost.item_size({"m": {"M": {"ab": {"S": "xyz"}}}}) == 1 + 3 + (2 + 3 + 1)
    assert cost.item_size({"l": {"L": [{"S": "x"}, {"NULL": True}]}}) == 1 + 3 + (1 + 1) + (1 + 1)


def item(size_bytes: int, **keys: str) -> dict[str, Any]:
    body = {name: {"S": value} for name, value in keys.items()}
    filler = size_bytes - sum(len(n) + len(v) for n, v in keys.items()) - len("x")
    return {**body, "x": {"S": "a" * filler}}


def test_write_units_per_started_kb_twice_in_a_transaction_and_per_index(cost: ModuleType) -> None:
    indexes = {"gsi2": cost.Index("gsi2pk", "gsi2sk", keys_only=False)}
    meter = cost.DynamoMeter("t", indexes, raw_client=None)  # unit rules only: no table
    small, large = item(1024, pk="p", sk="s"), item(1025, pk="p", sk="s")
    assert meter._write_units(None, small, 1) == 1
    assert meter._write_units(None, large, 1) == 2
    assert meter._write_units(large, small, 1) == 2  # the larger of before and after
    assert meter._write_units(None, small, 2) == 2  # a transaction's item counts twice
    opened = item(600, pk="p", sk="s", gsi2pk="OPEN#1", gsi2sk="a")
    moved = item(600, pk="p", sk="s", gsi2pk="OPEN#1", gsi2sk="b")
    assert meter._write_units(None, opened, 1) == 1 + 1  # the item enters the index
    assert meter._write_units(opened, moved, 1) == 1 + 2  # its index key moves: delete + put
    assert meter._write_units(opened, item(600, pk="p", sk="s"), 1) == 1 + 1  # it leaves the index


def test_a_keys_only_index_is_written_only_when_its_keys_change_at_the_size_of_the_keys(cost: ModuleType) -> None:
    meter = cost.DynamoMeter("t", {"gsi3": cost.Index("gsi3pk", "gsi1sk", keys_only=True)}, raw_client=None)
    indexed = item(3000, pk="p", sk="s", gsi3pk="EMAIL#f", gsi1sk="t#p")
    updated = item(3500, pk="p", sk="s", gsi3pk="EMAIL#f", gsi1sk="t#p")
    assert meter._write_units(None, indexed, 2) == 3 * 2 + 1  # enters: one unit for a small keys-only entry
    assert meter._write_units(indexed, updated, 2) == 4 * 2  # keys unchanged: the index is not written
    assert meter._write_units(item(3000, pk="p", sk="s", gsi1sk="t#p"), indexed, 1) == 3 + 1  # backfilled


def test_read_units_per_started_4kb_halved_when_eventually_consistent(cost: ModuleType) -> None:
    assert cost.DynamoMeter._read_units(0, True) == 1
    assert cost.DynamoMeter._read_units(4097, True) == 2
    assert cost.DynamoMeter._read_units(4097, False) == 1


def test_prices_file_names_its_region_and_date_and_every_price_is_positive() -> None:
    prices = json.loads((BENCH / "prices.json").read_text())
    assert prices["region"] == "us-east-1" and prices["as_of"] and prices["currency"] == "USD"
    numbers = [value for section in prices.values() if isinstance(section, dict) for value in section.values()]
    assert numbers and all(isinstance(n, int | float) and n > 0 for n in numbers)
