"""Load on the local stack (not a test): ``python -m local.stack`` as a user runs it, driven over HTTP.

    .venv/bin/python bench/local_load.py                 # ~5 minutes on 2 cores
    .venv/bin/python bench/local_load.py --quick         # ~1 minute: smaller counts, 600 stored leads
    LOCAL_WORKERS=8 .venv/bin/python bench/local_load.py # the stack's worker pool size

It starts the stack on free 127.0.0.1 ports (as tests/e2e does), then:

1. posts leads from 1, 8 and 32 concurrent clients (each its own keep-alive connection) and reports
   requests/second, p50 and p99 latency, answers by status and connection errors (there must be none);
2. reports leads/second from 8 clients over the first 100 posts (an empty table) and, after filling
   the table to ``--stored`` leads, over the last 100, with the stack's RSS (the stack's process, which
   holds moto, and the total with its worker processes) as it goes.

``--growth-only`` (what ``make bench`` runs) skips step 1 and fills the table fast: 100 leads posted,
leads/second over the next 100, then the table filled to ``--stored`` (default 10,000) by copying one
posted lead's items under new ids with batch writes straight into the stack's moto (whatever items a
lead is made of), and leads/second over 100 more posts.

Loopback only; bounded by ``--max-seconds`` overall. Exits 1 if any connection error or 5xx was seen.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
from local.stack import StackProcess  # noqa: E402

VENDOR_KEY = "bench-vendor-key-0123456789abcdef"
TF_KEY = "bench-trustedform-key-0123456789"


def lead_body(n: int) -> dict[str, str]:
    return {
        "trustedform_cert_url": f"https://cert.trustedform.com/{os.urandom(20).hex()}",
        "email": "bench@example.com",
        "phone": "512-555-0100",
        "lead_id": f"LOAD-{n}",
    }


def start_stack(workdir: Path, base_env: Mapping[str, str] | None = None) -> StackProcess:
    """``python -m local.stack`` on free ports (LOCAL_WORKERS from this shell), ready; its environment is
    ``base_env`` (default: this process's) without what would point it at another stack."""
    settings = {
        "TRUSTEDFORM_API_KEY": TF_KEY,
        "LOCAL_VENDOR_NAME": "bench-vendor",
        "LOCAL_VENDOR_KEY": VENDOR_KEY,
        "POWERTOOLS_LOG_LEVEL": "WARNING",  # one JSON line per request would cost more than the request
    }
    for passed in ("LOCAL_WORKERS", "LOCAL_SAMPLE"):  # the pool's size; local/sampler.py's output
        if os.environ.get(passed):
            settings[passed] = os.environ[passed]
    return StackProcess(workdir, settings, base_env=base_env).launch()


# ------------------------------------------------------------------------------------------------ load


@dataclass
class Run:
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.isdigit() or status.startswith("5"))

    def summary(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
        return {
            "clients": self.clients,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "requests_per_second": round(self.requests / self.seconds, 2) if self.seconds else 0.0,
            "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else 0.0,
            "p99_ms": round(p99 * 1000, 1),
            "answers": dict(sorted(self.statuses.items())),
        }


def post_leads(api: str, clients: int, count: int, deadline: float, first: int = 0) -> Run:
    """``count`` posts from ``clients`` threads, each with its own keep-alive connection."""
    run = Run(clients)
    next_n = iter(range(first, first + count))
    guard = threading.Lock()
    barrier = threading.Barrier(clients)

    def client() -> None:
        with httpx.Client(base_url=api, headers={"x-api-key": VENDOR_KEY}, timeout=60) as http:
            barrier.wait(30)
            while time.monotonic() < deadline:
                with guard:
                    n = next(next_n, None)
                if n is None:
                    return
                started = time.perf_counter()
                try:
                    status = str(http.post("/leads", json=lead_body(n)).status_code)
                except httpx.TransportError as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - started
                with guard:
                    run.statuses[status] += 1
                    run.latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    return run


# ------------------------------------------------------------------------------------- fast fill


def _renamed(value: object, names: dict[str, str]) -> object:
    """A DynamoDB attribute value with every id in ``names`` replaced, wherever a string holds it."""
    if isinstance(value, str):
        for old, new in names.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {key: _renamed(inner, names) for key, inner in value.items()}
    if isinstance(value, list):
        return [_renamed(inner, names) for inner in value]
    return value


def fill_table(stack: StackProcess, leads: int, *, progress: bool = True) -> int:
    """Store ``leads`` more leads fast: post one, then batch-write copies of its items under new ids (the
    lead's, its certificate's and its vendor lead_id) into the stack's moto. Returns the copies written."""
    import boto3

    state = stack.state
    sample = lead_body(0)
    with httpx.Client(base_url=stack.api_url, headers={"x-api-key": VENDOR_KEY}, timeout=60) as http:
        answer = http.post("/leads", json={**sample, "lead_id": "FILL-SAMPLE"})
    if answer.status_code != 201:
        raise SystemExit(f"the sample lead was not retained: {answer.status_code} {answer.text}")
    lead_id, cert_id = answer.json()["lead_id"], sample["trustedform_cert_url"].rsplit("/", 1)[1]
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=state["endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - the local stack's moto takes any
    )
    own: list[dict[str, object]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=state["table_name"]):
        # default=repr: a chain entry's content is binary (compressed); its keys name the lead.
        own += [item for item in page["Items"] if any(i in json.dumps(item, default=repr) for i in (lead_id, cert_id))]
    table = state["table_name"]

    def write(first: int, count: int) -> None:
        copies: list[dict[str, object]] = []
        for n in range(first, first + count):
            names = {lead_id: os.urandom(16).hex(), cert_id: os.urandom(20).hex(), "FILL-SAMPLE": f"FILL-{n}"}
            copies += [_renamed(item, names) for item in own]  # type: ignore[misc]
        for start in range(0, len(copies), 25):
            pending = {table: [{"PutRequest": {"Item": item}} for item in copies[start : start + 25]]}
            while pending:
                pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    # Chunks from a few threads: botocore's work on one batch overlaps moto's on another (2 cores).
    started, chunk = time.monotonic(), 500
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = 0
        for _ in pool.map(lambda first: write(first, min(chunk, leads - first)), range(0, leads, chunk)):
            done = min(done + chunk, leads)
            if progress and done % 2000 < chunk:
                rate = done / (time.monotonic() - started)
                print(f"  filled {done:,}/{leads:,} leads ({len(own)} items each, {rate:.0f} leads/s)", file=sys.stderr)
    return leads


def settle(stack: StackProcess, deadline: float, *, window: float = 3.0, busy_share: float = 0.05) -> float:
    """Wait until the stack is idle: the fill's copies are stream records its publisher and anchor pollers
    work through, as DynamoDB's stream would have long ago for a table that grew over days. Measuring
    while they run would time that backlog, not the stored leads. Idle: the stack's processes use under
    ``busy_share`` of a core over ``window`` seconds. Returns the seconds waited (bounded by ``deadline``)."""
    began = time.monotonic()
    used = stack.cpu_seconds()
    while time.monotonic() + window < deadline:
        time.sleep(window)
        now_used = stack.cpu_seconds()
        if now_used - used < busy_share * window:
            break
        used = now_used
    waited = time.monotonic() - began
    print(f"  the stack settled {waited:.0f} s after the fill", file=sys.stderr, flush=True)
    return round(waited, 1)


def growth_ratio(stored: int = 10_000, *, window: int = 100, max_seconds: float = 300.0) -> dict[str, object]:
    """Leads/second from 8 clients over ``window`` posts with ``window`` leads stored, and again with
    ``stored`` leads stored (the table filled fast in between): the ratio says if it slows as it fills."""
    deadline = time.monotonic() + max_seconds
    with tempfile.TemporaryDirectory(prefix="tf-local-growth-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            posted = post_leads(stack.api_url, 8, window, deadline).requests
            small = post_leads(stack.api_url, 8, window, deadline, first=posted)
            posted += small.requests
            fill_table(stack, stored - posted)
            settled = settle(stack, deadline)
            large = post_leads(stack.api_url, 8, window, deadline, first=posted + 1)
            at_small, at_large = _rate(small, stack), _rate(large, stack)
        finally:
            stack.stop()
    errors = small.errors + large.errors
    return {
        f"leads_per_second_at_{window}": at_small["leads_per_second"],
        f"leads_per_second_at_{stored}": at_large["leads_per_second"],
        "slowdown": round(float(at_small["leads_per_second"]) / max(float(at_large["leads_per_second"]), 1e-9), 2),  # type: ignore[arg-type]
        "errors": errors,
        "seconds_to_settle_after_fill": settled,
        "rss_mib_stack_after": at_large["rss_mib_stack"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts: ~1 minute")
    parser.add_argument("--stored", type=int, default=None, help="leads to fill the table to (default 2,100)")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop posting after this long")
    parser.add_argument("--growth-only", action="store_true", help="leads/s at 100 vs --stored (fast fill) only")
    args = parser.parse_args()
    if args.growth_only:
        result = growth_ratio(args.stored or 10_000, max_seconds=args.max_seconds)
        print(json.dumps(result, indent=2))
        return 1 if result["errors"] else 0
    per_level = {1: 30, 8: 120, 32: 320} if not args.quick else {1: 15, 8: 60, 32: 96}
    stored = args.stored or (600 if args.quick else 2_100)
    deadline = time.monotonic() + args.max_seconds

    with tempfile.TemporaryDirectory(prefix="tf-local-load-") as tmp:
        stack = start_stack(Path(tmp))
        report: dict[str, object] = {
            "workers": os.environ.get("LOCAL_WORKERS", "4 (default)"),
            "cpus": os.cpu_count(),
            "ready_seconds": round(stack.ready_seconds, 2),
        }
        failed = False
        try:
            # leads/s over the first 100 posts (an almost empty table); again near --stored, below.
            growth = []
            window = post_leads(stack.api_url, 8, 100, deadline)
            posted = window.requests
            growth.append({"stored_leads_before": 0, **_rate(window, stack)})
            levels = []
            for clients, count in per_level.items():
                run = post_leads(stack.api_url, clients, count, deadline, first=posted)
                posted += run.requests
                levels.append(run.summary())
                failed |= run.errors > 0
                print(json.dumps(levels[-1]), file=sys.stderr, flush=True)
            report["concurrency"] = levels
            report["rss_mib_after_concurrency"] = [round(x) for x in stack.rss_mib()]

            # Fill the table, then 100 posts again.
            while posted < stored - 100 and time.monotonic() < deadline:
                fill = post_leads(stack.api_url, 8, min(500, stored - 100 - posted), deadline, first=posted)
                posted += fill.requests
                failed |= fill.errors > 0
                print(json.dumps({"stored_leads": posted, **_rate(fill, stack)}), file=sys.stderr, flush=True)
            window = post_leads(stack.api_url, 8, 100, deadline, first=posted)
            posted += window.requests
            growth.append({"stored_leads_before": posted - window.requests, **_rate(window, stack)})
            failed |= any(run["errors"] for run in growth)  # type: ignore[index]
            report["growth"] = growth
            report["leads_posted"] = posted
        finally:
            stopping = time.monotonic()
            report["exit_code"] = stack.stop()
            report["stop_seconds"] = round(time.monotonic() - stopping, 2)
    print(json.dumps(report, indent=2))
    return 1 if failed or report["exit_code"] != 0 else 0


def _rate(run: Run, stack: StackProcess) -> dict[str, object]:
    own, total = stack.rss_mib()
    return {
        "leads_per_second": round(run.requests / run.seconds, 2) if run.seconds else 0.0,
        "p99_ms": run.summary()["p99_ms"],
        "errors": run.errors,
        "rss_mib_stack": round(own),
        "rss_mib_with_workers": round(total),
    }


if __name__ == "__main__":
    sys.exit(main())
