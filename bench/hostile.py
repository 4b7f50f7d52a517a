"""Hostile-input bench: the properties of tests/hostile/ under the ``bench`` hypothesis profile (ten times
`make test`'s examples: 2,000 posts per stack-level property, 20,000 URLs per parse-level one), in-process
against moto and the TrustedForm simulator on 127.0.0.1.

    .venv/bin/python bench/hostile.py            # every property
    .venv/bin/python bench/hostile.py -k stack   # a subset (pytest -k expression)
    .venv/bin/python bench/hostile.py --json out.json

The hostile-insider property (tests/hostile/test_insider_bundles.py) is among them: 2,000 edited evidence
files, each to be named by `tf-retainer verify` with exit 1 (outcomes 'exit <code> <verdict>').

Prints, per property, the examples run and their outcomes ('<status> <reason>'), then the 5xx answers,
exceptions and off-host sends (connections, name lookups or HTTP requests to anything but the simulator).
Exits 1 if a property failed (its minimal example is in pytest's output above the table) or if any 5xx,
exception or off-host send was seen.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTBOUND = "outbound (whole test)"  # tests/support/hostile.py's key for the guard's counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("-k", dest="keyword", help="only the properties matching this pytest -k expression")
    parser.add_argument("--profile", default="bench", help="hypothesis profile (bench, or hostile as in make test)")
    parser.add_argument("--json", type=Path, help="also write the counts to this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="tf-hostile-") as tmp:
        stats_path = Path(tmp) / "stats.json"
        env = {**os.environ, "HYPOTHESIS_PROFILE": args.profile, "HOSTILE_STATS": str(stats_path)}
        command = [sys.executable, "-m", "pytest", "tests/hostile", "-q", "-p", "no:cacheprovider", "--timeout=0"]
        command += ["-W", "ignore::UserWarning", "--durations=0"]
        if args.keyword:
            command += ["-k", args.keyword]
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env=env, check=False)  # noqa: S603 - our own interpreter
        elapsed = time.monotonic() - started
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}

    bad = report(stats, elapsed, args.profile, result.returncode)
    if args.json:
        args.json.write_text(json.dumps({"seconds": round(elapsed, 1), "pytest_exit": result.returncode, **stats}))
    return 1 if result.returncode or bad else 0


def report(stats: dict[str, dict[str, int]], elapsed: float, profile: str, exit_code: int) -> int:
    """Print the table; return how many 5xx, exceptions and off-host sends it holds."""
    print(f"\n==> hostile inputs, profile {profile}: {elapsed:.0f} s, pytest exit {exit_code}")
    width = max([len(k) for counts in stats.values() for k in counts] + [40])
    total = fives = exceptions = 0
    for prop, counts in stats.items():
        if prop == OUTBOUND:
            continue
        examples = sum(counts.values())
        total += examples
        print(f"\n{prop}: {examples} examples")
        for outcome, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            print(f"  {outcome:<{width}} {n:>7}  {100 * n / examples:5.1f} %")
            if outcome[:1] == "5":
                fives += n
            if outcome.startswith("exception"):
                exceptions += n
    outbound = stats.get(OUTBOUND, {})
    off_host = sum(n for k, n in outbound.items() if k.endswith("off-host sends"))
    to_simulator = sum(n for k, n in outbound.items() if k.endswith("requests to the simulator"))
    print(f"\n{'examples, all properties':<{width + 2}} {total:>7}")
    print(f"{'5xx answers':<{width + 2}} {fives:>7}")
    print(f"{'exceptions out of the handler':<{width + 2}} {exceptions:>7}")
    print(f"{'requests to the simulator':<{width + 2}} {to_simulator:>7}")
    print(f"{'off-host sends':<{width + 2}} {off_host:>7}")
    return fives + exceptions + off_host


if __name__ == "__main__":
    sys.exit(main())
