"""Where a realistic lead's write units go, write by write and item by item, and what its items weigh.

    python bench/write_split.py [--mode decide_first|combined] [--rules enforce|shadow] [--leads 3]

Runs bench/cost.py's measurement (the realistic lead, in-process, each path: kept, refused, retried) and
records every item each write touched with the sizing rules local/capacity.py fills moto's ConsumedCapacity
with: the function, the item (state, claim, chain entry), the write (a transaction's item costs twice), its
size before and after, the units of the item and of its index entries (+ entered, - left, = rewritten or
unchanged). Then the bytes a kept lead keeps by item, with DynamoDB's 100 bytes an item and an index entry
(what bench/archive_cost.py's constants are). Prints the last lead of each path (every lead of a path has
the same shape).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common"), str(ROOT / "bench")]
import cost  # noqa: E402 - after the path is set
import cost_model  # noqa: E402

import local.capacity as capacity  # noqa: E402

OVERHEAD = cost_model.DYNAMODB_ITEM_OVERHEAD


def _kind(item: dict[str, Any]) -> str:
    pk, sk = item["pk"]["S"], item["sk"]["S"]
    if pk.startswith("LEAD#"):
        return "entry" if sk.startswith("ENTRY#") else sk.lower()
    return f"{pk.split('#')[0].lower()}/{sk.lower()}"


class Recorder:
    """Every item write the moto patch sizes, tagged with the function the meter says is running."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.meter: Any = None
        self._units_of_write = capacity.units_of_write

    def units_of_write(self, before: Any, after: Any, indexes: list[capacity.Index], *, transaction: bool) -> float:
        units = self._units_of_write(before, after, indexes, transaction=transaction)
        item = after or before
        table = capacity.write_units(max(capacity.item_size(before), capacity.item_size(after)))
        table *= 2 if transaction else 1
        moves = []
        for index in indexes:
            was, now = index.holds(before), index.holds(after)
            if was or now:
                moves.append(index.pk.removesuffix("pk") + ("+" if now and not was else "-" if not now else "="))
        self.writes.append(
            {
                "pk": item["pk"]["S"],
                "function": self.meter.function if self.meter else None,
                "item": _kind(item),
                "transaction": transaction,
                "bytes": (capacity.item_size(before), capacity.item_size(after)),
                "table_units": table,
                "index_units": units - table,
                "indexes": moves,
                "after": after,
                "index_sizes": [index.entry_size(after) for index in indexes if after and index.holds(after)],
            }
        )
        return units


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=cost.MODES, default=cost.DEFAULT_MODE)
    parser.add_argument("--rules", choices=cost.RULE_MODES, default="enforce")
    parser.add_argument("--leads", type=int, default=3)
    args = parser.parse_args(argv)
    recorder = Recorder()
    capacity.units_of_write = recorder.units_of_write
    meter_init = cost.Meter.__init__

    def init(meter: Any, *a: Any, **k: Any) -> None:
        meter_init(meter, *a, **k)
        recorder.meter = meter

    cost.Meter.__init__ = init  # type: ignore[method-assign]
    by_path: dict[str, list[dict[str, Any]]] = {}
    path_of = cost._Run.path

    def path(run: Any, name: str, leads: int) -> Any:
        recorder.writes.clear()
        result = path_of(run, name, leads)
        by_path[name] = list(recorder.writes)
        return result

    cost._Run.path = path  # type: ignore[method-assign]
    cost.measure(args.leads, args.mode, args.rules)
    for name, writes in by_path.items():
        last = next(w["pk"] for w in reversed(writes) if w["pk"].startswith("LEAD#"))
        claim = next(
            w["pk"] for w in writes if w["item"] == "cert/claim" and w["after"].get("lead_id", {}).get("S") in last
        )
        mine = [w for w in writes if w["pk"] in (last, claim)]
        total = sum(w["table_units"] + w["index_units"] for w in mine)
        print(f"{name} ({args.mode}, rules {args.rules}): {total:g} write units")
        for w in mine:
            before, after = w["bytes"]
            print(
                f"  {w['function'] or '-':<17} {w['item']:<11} {'transaction' if w['transaction'] else 'single':<11} "
                f"{before:>5} -> {after:>5} B  item {w['table_units']:g} + indexes {w['index_units']:g}  "
                f"{' '.join(w['indexes'])}"
            )
        if name == "kept":
            stored: dict[tuple[str, str], dict[str, Any]] = {}
            for w in mine:
                if w["after"] is not None:
                    stored[(w["pk"], w["after"]["sk"]["S"])] = w
            sizes: dict[str, list[int]] = defaultdict(list)
            for w in stored.values():
                sizes[w["item"]].append(capacity.item_size(w["after"]) + OVERHEAD)
                sizes[w["item"] + " index entries"].append(sum(size + OVERHEAD for size in w["index_sizes"]))
            print("  kept, stored (+100 B an item and an index entry):")
            for kind, found in sizes.items():
                if any(found):
                    print(f"    {kind:<22} {len(found)} x {sum(found) / len(found):,.0f} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
