"""What the call gate costs per check, and what a revocation costs per lead it closes (issue 23). ``make bench``
runs it (bench/run.py); alone:

    .venv/bin/python bench/consent.py [--checks 20] [--sizes 1,5,20] [--json]

In-process against moto (as bench/billing.py builds its stack): for a consumer with 1, 5 and 20 leads spread
over three vendors, each lead posted and retained through the local API Gateway, then

* the gate (``GET /leads/{id}/contactable``, IntakeFunction) asked ``--checks`` times about an open lead (every
  check runs: the email channel, which the law of the hour leaves alone) and as many times about a lead after
  the revocation (refused at the first check, ``consent_revoked``);
* one revocation by phone (``POST /revocations``, ConsentFunction, a buyer's key) closing all of them in its
  invocation: its total, and per affected lead.

DynamoDB units as bench/cost.py counts them (writes: the ConsumedCapacity DynamoDB reports, by its sizing rules
in local/capacity.py; reads: sized from the items read, 4 KB blocks, halved when eventually consistent), AWS
calls counted per boto3 call, handler time (the function's invocation, warm, in this process: moto answers in
microseconds where DynamoDB takes milliseconds, so the time is our own code's, not a deployed round trip).
The authorizer's decision is cached (as API Gateway's), so only the gate's and the revocation's own work counts.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).parent), str(ROOT), str(ROOT / "layers" / "common")]
from billing import QUIET  # noqa: E402 - after the path is set: the same quiet functions as the billing bench

TF_KEY = "consent-tf-key-0123456789"
BUYER_KEY = "consent-buyer-key-0123456789abcdef"
VENDORS = ("alpha-leads", "beta-leads", "gamma-leads")
SIZES = (1, 5, 20)
# The goals, and why (printed beside each figure).
GOALS: dict[str, tuple[float, str]] = {
    "gate_calls": (
        3,
        "one Query of the lead's items and one of the ledger per consumer token (phone, email); the buyer's "
        "calling override cached: a dialer asks before every dial",
    ),
    "gate_read_units": (
        4,
        "strongly consistent reads (an acknowledged revocation must be seen): a retained lead's items and its "
        "notices in a few 4 KB blocks",
    ),
    "gate_ms": (25, "our own work per check: small beside API Gateway's and DynamoDB's own latency"),
    "revoke_calls_per_lead": (2, "revocations.CALLS_PER_LEAD: the chain's end read, the entry put; nothing more"),
    "revoke_write_units_per_lead": (2, "one chain entry (under 1 KB) and its place in the lead's history"),
    "revoke_ms_per_lead": (
        60,
        "hundreds of a consumer's leads closed in one invocation under API Gateway's 29 s, with room for "
        "DynamoDB's real latency (about 5 ms a call)",
    ),
}


class Meter:
    """DynamoDB units and every AWS call of one function at a time (bench/cost.py's Meter: writes as DynamoDB
    reports them, reads sized from what is read), counted from ``reset`` on."""

    def __init__(self, trustedform_url: str) -> None:
        import cost

        self.cost = cost.Meter(cost._host(trustedform_url), callback_host="")

    def reset(self, function: str) -> None:
        self.cost.reset()
        self.cost.function = function

    def figures(self, per: float) -> dict[str, Any]:
        function = self.cost.function or ""
        calls = {name: count / per for name, count in sorted(self.cost.calls[function].items())}
        return {
            "write_units": self.cost.writes[function] / per,
            "read_units": self.cost.reads[function] / per,
            "dynamodb_calls": sum(n for name, n in calls.items() if name.startswith("dynamodb:")),
            "calls": calls,
        }


@contextmanager
def stack() -> Iterator[tuple[Any, Any, Meter, dict[str, str]]]:
    """A fresh in-process stack: (simulator, gateway, meter, vendor keys by name)."""
    from cost import metered
    from tf_retainer import wiring

    from local.apigw import LocalApiGateway
    from local.backend import Backend

    saved = dict(os.environ)
    os.environ.update(QUIET)
    with Backend(TF_KEY, moto="in-process") as backend:
        os.environ.update({**backend.function_environment(), **QUIET})
        meter = Meter(backend.simulator_url)
        with metered(meter.cost):  # before the functions build their clients
            wiring.reset()
            keys = {vendor: backend.add_vendor(vendor, f"consent-{vendor}-key-0123456789") for vendor in VENDORS}
            backend.add_vendor("crm", BUYER_KEY, role="buyer")
            try:
                yield backend.simulator, LocalApiGateway(authorizer_ttl=300), meter, keys
            finally:
                wiring.reset()
                os.environ.clear()
                os.environ.update(saved)


def _consumer() -> tuple[str, str]:
    tag = uuid.uuid4().int
    return f"c{tag % 10**9}@bench.example", f"(303) 555-{tag % 10000:04d}"


def measure_size(gateway: Any, meter: Meter, keys: dict[str, str], leads: int, checks: int) -> dict[str, Any]:
    from local.simulator import make_web_cert_id

    email, phone = _consumer()
    lead_ids = []
    for n in range(leads):
        key = keys[VENDORS[n % len(VENDORS)]]
        body = {"trustedform_cert_url": f"https://cert.trustedform.com/{make_web_cert_id()}", "email": email}
        body.update(phone=phone, state="CO")
        answer = gateway.handle("POST", "/leads", _headers(key), json.dumps(body).encode())
        if answer.status != 201:
            raise RuntimeError(f"a lead was not retained: {answer.status} {answer.body!r}")
        lead_ids.append(answer.json()["lead_id"])
    first = lead_ids[0]

    def gate(channel: str) -> dict[str, Any]:
        meter.reset("IntakeFunction")
        times, answers = [], Counter()
        for _ in range(checks):
            started = time.perf_counter()
            response = gateway.handle(
                "GET", f"/leads/{first}/contactable", {"x-api-key": BUYER_KEY}, b"", query={"channel": channel}
            )
            times.append((time.perf_counter() - started) * 1000)
            body = response.json()
            answers[f"{body['contactable']} {body.get('reason')}"] += 1
        return {**meter.figures(checks), "median_ms": statistics.median(times), "answers": dict(answers)}

    gate_open = gate("email")
    # A warm-up revocation of a consumer with no lead here: the first size's measured revocation otherwise pays
    # the function's first invocation (its clients, its imports), which made the per-lead difference negative.
    _, other = _consumer()
    warm = {"id": f"STOP-{uuid.uuid4().hex[:12]}", "phone": other, "via": "sms", "message": "STOP"}
    gateway.handle("POST", "/revocations", _headers(BUYER_KEY), json.dumps(warm).encode())
    stop = {"id": f"STOP-{uuid.uuid4().hex[:12]}", "phone": phone, "via": "sms", "message": "STOP"}
    meter.reset("ConsentFunction")
    started = time.perf_counter()
    response = gateway.handle("POST", "/revocations", _headers(BUYER_KEY), json.dumps(stop).encode())
    elapsed = (time.perf_counter() - started) * 1000
    answer = response.json()
    if (response.status, answer.get("leads")) != (201, leads):
        raise RuntimeError(f"the revocation was not applied to {leads} leads: {response.status} {answer}")
    revocation = {**meter.figures(1), "ms": elapsed}
    per_lead = {**meter.figures(leads), "ms": elapsed / leads}
    gate_closed = gate("call")
    return {
        "leads": leads,
        "gate_open": gate_open,
        "gate_revoked": gate_closed,
        "revocation": revocation,
        "per_lead": per_lead,
    }


def _headers(key: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "x-api-key": key}


def measure_all(sizes: tuple[int, ...] = SIZES, checks: int = 20) -> list[dict[str, Any]]:
    with stack() as (_sim, gateway, meter, keys):
        measure_size(gateway, meter, keys, 1, 2)  # warm: imports, clients, the secret, the consumer key
        return [measure_size(gateway, meter, keys, size, checks) for size in sizes]


def report(results: list[dict[str, Any]]) -> list[str]:
    load = os.getloadavg()
    lines = [
        f"Call gate and revocations (bench/consent.py), in-process against moto; load average {load[0]:.2f} "
        f"{load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs:",
        f"  {'leads of the consumer':<24}{'gate per check (open | revoked)':^44}{'revocation per affected lead':^36}",
        f"  {'':<24}{'calls':>8}{'RCU':>7}{'ms':>7}{'calls':>8}{'RCU':>7}{'ms':>7}"
        f"{'calls':>9}{'WCU':>7}{'RCU':>7}{'ms':>7}{'total ms':>10}",
    ]
    for row in results:
        gate_open, closed, lead = row["gate_open"], row["gate_revoked"], row["per_lead"]
        lines.append(
            f"  {row['leads']:<24}{gate_open['dynamodb_calls']:>8.1f}{gate_open['read_units']:>7.1f}"
            f"{gate_open['median_ms']:>7.1f}{closed['dynamodb_calls']:>8.1f}{closed['read_units']:>7.1f}"
            f"{closed['median_ms']:>7.1f}{lead['dynamodb_calls']:>9.2f}{lead['write_units']:>7.2f}"
            f"{lead['read_units']:>7.2f}{lead['ms']:>7.1f}{row['revocation']['ms']:>10.0f}"
        )
    lines.append(
        "  (calls: DynamoDB calls; RCU/WCU: read/write units; ms: handler time, the gate's median of its checks; "
        "the revocation's per-lead figures are its whole invocation divided by the leads it closed)"
    )
    marginal = per_added_lead(results)
    fixed = results[0]["revocation"]
    lines.append(
        f"  a revocation's fixed part (the ledger transaction, the consumer index, the mark): "
        f"{fixed['dynamodb_calls'] - marginal['dynamodb_calls'] * results[0]['leads']:.1f} calls, "
        f"{fixed['write_units'] - marginal['write_units'] * results[0]['leads']:.1f} WCU; each lead more: "
        f"{marginal['dynamodb_calls']:.2f} calls, {marginal['write_units']:.2f} WCU, {marginal['read_units']:.2f} RCU, "
        f"{marginal['ms']:.1f} ms (from {results[0]['leads']} to {results[-1]['leads']} leads)"
    )
    lines.append("  against the goals:")
    for name, value in (
        ("gate_calls", max(row["gate_open"]["dynamodb_calls"] for row in results)),
        ("gate_read_units", max(row["gate_open"]["read_units"] for row in results)),
        ("gate_ms", max(row["gate_open"]["median_ms"] for row in results)),
        ("revoke_calls_per_lead", marginal["dynamodb_calls"]),
        ("revoke_write_units_per_lead", marginal["write_units"]),
        ("revoke_ms_per_lead", marginal["ms"]),
    ):
        goal, why = GOALS[name]
        verdict = "met" if value <= goal else "NOT met"
        lines.append(f"    {name:<28}{value:>8.2f}  goal <= {goal:<4} {verdict:<8} {why}")
    return lines


def per_added_lead(results: list[dict[str, Any]]) -> dict[str, float]:
    """What each lead more costs a revocation: the difference between the largest and the smallest consumer,
    per lead between them (the fixed part cancels)."""
    small, large = results[0], results[-1]
    added = max(1, large["leads"] - small["leads"])
    return {
        name: (large["revocation"][name] - small["revocation"][name]) / added
        for name in ("dynamodb_calls", "write_units", "read_units", "ms")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=20, help="gate checks per consumer size and state")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="leads per consumer, comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = tuple(int(size) for size in args.sizes.split(","))
    with redirect_stdout(io.StringIO()):  # the functions' EMF lines
        results = measure_all(sizes, args.checks)
    print(json.dumps(results, indent=2) if args.json else "\n".join(report(results)))


if __name__ == "__main__":
    main()
