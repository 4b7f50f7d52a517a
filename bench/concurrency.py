"""Many Lambda containers at once: each race scenario run by 50 OS processes released together.

    python bench/concurrency.py [--processes 50] [--scenario same-lead ...] [--max-seconds 300]

One moto server (ThreadedMotoServer, serialised per request) and the TrustedForm simulator run in this
process on 127.0.0.1; every worker process is a warm Lambda container running the real handlers (see
tests/support/concurrency.py, shared with the test suite). For each scenario it prints the wall time,
the retains TrustedForm saw for the scenario's certificate, the 5xx count and the leads' final states;
any broken expectation is printed below the table and makes the exit status 1.

Scenarios: same-lead (one vendor lead posted by every process), same-certificate (different leads, one
certificate), same-retry-message (one pending lead's retry message delivered to every process),
post-racing-retry (half deliver the retry message, half re-post the lead).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (str(REPO_ROOT / "layers" / "common"), str(REPO_ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

MAX_PROCESSES = 64  # bounded: every process is a full interpreter with the service loaded


def _states(report) -> str:  # type: ignore[no-untyped-def]
    return " ".join(f"{state}x{count}" for state, count in sorted(report.final_states.items())) or "-"


def main(argv: list[str] | None = None) -> int:
    from tests.support import concurrency as harness

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=50, help="containers racing in each scenario (2-64)")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(harness.SCENARIOS), help="run only these (repeatable)"
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop starting scenarios after this")
    args = parser.parse_args(argv)
    if not 2 <= args.processes <= MAX_PROCESSES:
        parser.error(f"--processes must be 2 to {MAX_PROCESSES}")
    names = args.scenario or list(harness.SCENARIOS)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's one line per request
    started = time.monotonic()
    backend = harness.Backend().start()
    reports = []
    try:
        with tempfile.TemporaryDirectory(prefix="tf-concurrency-") as logs:
            pool = harness.LambdaPool(args.processes, backend.container_env(), Path(logs))
            try:
                cold = sorted(pool.cold_start_ms)
                print(
                    f"{args.processes} containers started in {pool.start_seconds:.1f} s "
                    f"(init {cold[0]:.0f}-{cold[-1]:.0f} ms each, {len(cold)} at once); "
                    f"moto {backend.endpoint_url}, simulator {backend.sim.base_url}",
                    flush=True,
                )
                for name in names:
                    if time.monotonic() - started > args.max_seconds:
                        print(f"--max-seconds {args.max_seconds:g} reached: skipping {name}", flush=True)
                        continue
                    reports.append(harness.SCENARIOS[name](backend, pool))
            finally:
                pool.close()
    finally:
        backend.stop()

    header = ("scenario", "processes", "wall s", "start spread ms", "TF POSTs", "retains", "5xx", "final states")
    rows = [
        (
            report.name,
            str(report.processes),
            f"{report.wall_seconds:.2f}",
            f"{report.start_spread_ms:.0f}",
            str(report.posts),
            str(report.retains),
            str(report.five_xx),
            _states(report),
        )
        for report in reports
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * width for width in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    failed = [report for report in reports if report.problems]
    for report in failed:
        print(f"\n{report.summary()}")
    print(f"\n{len(reports)} scenario(s), {len(failed)} with problems, {time.monotonic() - started:.1f} s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
