"""Benchmarks (not tests): issue 13's figures, and the timings issue 19 took out of the tests, in one run,
each against its goal at the end.

    make bench            # or: .venv/bin/python bench/run.py   (~4-5 minutes on 2 cores)

1. write units per retained lead and the cost table (bench/cost.py's measure and bill);
2. the cold start of the intake, retry and authorizer functions (bench/coldstart.py);
3. a retry batch of 10 against one record, DynamoDB replayed (no moto), TrustedForm at --latency;
4. the local stack's leads/second at 100 and at --stored leads (bench/local_load.py);
5. moto (local/motolock.py): a transaction and a lead read on a 100-item and a 20,000-item table
   (bench/moto_tables.py);
6. the local stack's time from start to ready and from SIGTERM to exit (bench/stack_start.py);
7. calls and time per retained lead through authorizer + intake (and with --moto-batch, --rules: the
   retry batch against moto, the buyer's rules in both retain modes).

Everything runs on this machine: moto in-process (its calls counted where they enter moto) and the
TrustedForm simulator on 127.0.0.1. Times exclude nothing but what is said.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]
# The environment make bench was started with: the local stack's starts get it, not what the in-process
# stacks below set (their table, queues, retry delays).
LAUNCH_ENV = dict(os.environ)
for name, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
}.items():
    os.environ[name] = value

TF_KEY = "bench-tf-key-0123456789"
calls: Counter[str] = Counter()


def count_moto_calls() -> None:
    """Count every AWS request where it enters moto (after boto3's own retries: real round trips)."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.__call__

    def counting(self, event_name, request, **kwargs):  # type: ignore[no-untyped-def]
        target = request.headers.get("X-Amz-Target")
        operation = target.decode().split(".")[-1] if isinstance(target, bytes) else target
        if operation is None:  # query protocol (SQS may use JSON now; keep a fallback)
            body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
            operation = next((p.split("=")[1] for p in body.split("&") if p.startswith("Action=")), "?")
        calls[operation.split(".")[-1]] += 1
        return original(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = counting  # type: ignore[method-assign]


@contextmanager
def local_stack(latency: float, extra_env: dict[str, str] | None = None):
    from tf_retainer import wiring

    from local.apigw import LocalApiGateway
    from local.backend import Backend

    backend = Backend(TF_KEY, moto="in-process").start()
    try:
        backend.sim.latency = latency
        env = backend.function_environment({"RETRY_BASE_SECONDS": "1", "RETRY_CAP_SECONDS": "1", **(extra_env or {})})
        os.environ.update(env)
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the template's INFO would drown the numbers
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
        wiring.reset()  # a new stack here (after bench/cost.py's prod-stage one) is a new container
        vendor_key = backend.add_vendor("bench", "bench-vendor-key-0123456789")
        yield backend.sim, backend.provisioned, LocalApiGateway(authorizer_ttl=300), vendor_key
    finally:
        backend.stop()


def lead_body() -> bytes:
    from local.simulator import make_web_cert_id

    return json.dumps(
        {
            "trustedform_cert_url": f"https://cert.trustedform.com/{make_web_cert_id()}",
            "email": "bench@example.com",
            "phone": "5125551212",
        }
    ).encode()


def bench_intake(leads: int) -> dict:
    """Calls and time per retained lead through authorizer + intake (warm, authorizer cached as on AWS)."""
    from local.functions import invoke

    with local_stack(latency=0.0) as (_sim, provisioned, gateway, vendor_key):
        headers = {"Content-Type": "application/json", "x-api-key": vendor_key}
        gateway.handle("POST", "/leads", headers, lead_body())  # cold: imports, secret, connections
        calls.clear()
        route = next(r for r in gateway.routes if r.method == "POST")
        durations: list[float] = []
        lead_ids: list[str] = []
        for _ in range(leads):
            event = gateway._proxy_event(
                route,
                "/leads",
                headers,
                lead_body(),
                {},
                None,
                "127.0.0.1",
                {"principalId": "bench", "context": {"vendor": "bench"}},
            )
            started = time.perf_counter()
            result = invoke("IntakeFunction", event)
            durations.append((time.perf_counter() - started) * 1000)
            assert result["statusCode"] == 201, result
            lead_ids.append(json.loads(result["body"])["lead_id"])
        per_lead = {op: n / leads for op, n in sorted(calls.items())}
        tf_ms = [_last_exchange_ms(provisioned, lead_id) for lead_id in lead_ids]
        own = [d - t for d, t in zip(durations, tf_ms, strict=True)]
        return {
            "leads": leads,
            "aws_calls_per_lead": per_lead,
            "median_ms_total": round(statistics.median(durations), 1),
            "median_ms_excluding_trustedform": round(statistics.median(own), 1),
            "p90_ms_excluding_trustedform": round(statistics.quantiles(own, n=10)[-1], 1),
        }


def _last_exchange_ms(provisioned, lead_id: str) -> float:
    from tf_retainer.store.lead_table import lead_table

    record = lead_table(provisioned.table_name, retention_days=1).reader.read_lead(lead_id)
    return sum(float(exchange["duration_ms"]) for exchange in record.exchanges) if record else 0.0


def bench_retry_batch(latency: float, rounds: int) -> dict:
    """A batch of 10 pending leads through the retry handler, sequential vs concurrent."""
    import importlib
    from concurrent.futures import ThreadPoolExecutor

    from local.functions import invoke, load_handler
    from local.poller import RetryPoller
    from local.simulator import make_web_cert_id

    results = {}
    with local_stack(latency=0.0) as (sim, provisioned, gateway, vendor_key):
        load_handler("RetryFunction")
        module = importlib.import_module("tf_function_RetryFunction")
        headers = {"Content-Type": "application/json", "x-api-key": vendor_key}
        import boto3

        sqs = boto3.client("sqs")
        poller = RetryPoller(provisioned)
        for mode, workers in (("sequential", 1), ("concurrent", 10)):
            module._executor = ThreadPoolExecutor(max_workers=workers)
            timings = []
            for _ in range(rounds):
                sim.latency = 0.0
                for _ in range(10):
                    cert = make_web_cert_id()
                    sim.script(cert, ["unavailable", "success"])
                    body = json.loads(lead_body())
                    body["trustedform_cert_url"] = f"https://cert.trustedform.com/{cert}"
                    gateway.handle("POST", "/leads", headers, json.dumps(body).encode())
                time.sleep(1.1)
                messages = []
                while len(messages) < 10:
                    messages += poller.receive_batch()
                event = poller.event(messages)
                sim.latency = latency
                before = len(sim.requests)
                started = time.perf_counter()
                out = invoke("RetryFunction", event)
                timings.append((time.perf_counter() - started) * 1000)
                batch = sim.requests[before:]
                statuses = Counter(r["status"] for r in batch)
                arrivals = sorted(_seconds(r["time"]) for r in batch)
                spread = (arrivals[-1] - arrivals[0]) * 1000 if arrivals else 0
                print(
                    f"  {mode}: {len(messages)} messages in {timings[-1]:.0f} ms; TrustedForm answered "
                    f"{dict(statuses)}, calls arriving over {spread:.0f} ms",
                    file=sys.stderr,
                )
                assert out["batchItemFailures"] == [], out
                for m in messages:
                    sqs.delete_message(QueueUrl=provisioned.retry_queue_url, ReceiptHandle=m["ReceiptHandle"])
            results[mode] = {"median_ms": round(statistics.median(timings), 1), "runs": timings and len(timings)}
    return {"trustedform_latency_ms": latency * 1000, "batch_size": 10, **results}


class DynamoReplay:
    """DynamoDB out of the picture: every call the retry handler makes is answered from a recording of
    the same batch against moto, after botocore has done its own client-side work (parameter
    validation, serialisation, signing) and before anything is sent. Hooked first on one client; moto's
    own hook is switched off while replaying (botocore calls every before-send hook), and a call that
    was not recorded fails the benchmark rather than reach moto or AWS."""

    def __init__(self, client: Any, lead_ids: list[str]) -> None:
        self.client, self.lead_ids = client, lead_ids
        self.recorded: dict[tuple[str, str, int], tuple[int, dict[str, str], bytes]] = {}
        self.seen: Counter[tuple[str, str]] = Counter()
        self._guard = threading.Lock()

    def _key(self, operation: str, body: bytes) -> tuple[str, str, int]:
        text = body.decode() if isinstance(body, bytes) else str(body or "")
        lead = next((lead_id for lead_id in self.lead_ids if lead_id in text), "-")
        with self._guard:
            self.seen[(operation, lead)] += 1
            return operation, lead, self.seen[(operation, lead)]

    def record(self) -> None:
        events = self.client.meta.events
        events.register("before-call.dynamodb", self._note_key, unique_id="bench-record-key")
        events.register("after-call.dynamodb", self._keep, unique_id="bench-record")

    def _note_key(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_key"] = self._key(model.name, params.get("body", b""))

    def _keep(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        self.recorded[context["bench_key"]] = (
            http_response.status_code,
            dict(http_response.headers),
            http_response.content,
        )

    @contextmanager
    def replaying(self) -> Any:
        from moto.core.models import botocore_stubber

        events = self.client.meta.events
        events.unregister("before-call.dynamodb", unique_id="bench-record-key")
        events.unregister("after-call.dynamodb", unique_id="bench-record")
        events.register_first("before-send.dynamodb", self._answer, unique_id="bench-replay")
        botocore_stubber.enabled = False
        try:
            yield self
        finally:
            botocore_stubber.enabled = True
            events.unregister("before-send.dynamodb", unique_id="bench-replay")

    def rewind(self) -> None:
        self.seen.clear()

    def _answer(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else target).split(".")[-1]
        key = self._key(operation, request.body)
        found = self.recorded.get(key)
        if found is None:
            raise RuntimeError(f"DynamoDB call not recorded: {key}")
        status, headers, body = found
        return AWSResponse(request.url, status, headers, _Raw(body))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._body


def bench_retry_batch_stubbed(latency: float, rounds: int) -> dict:
    """A batch of 10 pending leads through the retry handler with DynamoDB replayed (no moto on the
    path), against a batch of one of them: how far the records' own CPU (serialised by the GIL) keeps a
    batch from taking as long as one record. TrustedForm (the simulator) answers after ``latency``."""
    from tf_retainer import wiring

    from local.functions import invoke, load_handler
    from local.poller import RetryPoller
    from local.simulator import make_web_cert_id

    # Rules and the API key stay cached for the whole run (their reads are not replayed).
    with local_stack(latency=0.0, extra_env={"RULES_CACHE_SECONDS": "3600"}) as (sim, provisioned, gateway, vendor_key):
        load_handler("RetryFunction")
        headers = {"Content-Type": "application/json", "x-api-key": vendor_key}
        for _ in range(10):
            cert = make_web_cert_id()
            sim.script(cert, ["unavailable", "success"])  # pending at intake, retained by every retry
            body = json.loads(lead_body())
            body["trustedform_cert_url"] = f"https://cert.trustedform.com/{cert}"
            assert gateway.handle("POST", "/leads", headers, json.dumps(body).encode()).status == 202
        time.sleep(1.1)
        poller, messages = RetryPoller(provisioned), []
        while len(messages) < 10:
            messages += poller.receive_batch()
        lead_ids = [json.loads(m["Body"])["lead_id"] for m in messages]
        replay = DynamoReplay(wiring.dynamodb(), lead_ids)
        replay.record()
        sim.latency, before = latency, len(sim.requests)
        assert invoke("RetryFunction", poller.event(messages))["batchItemFailures"] == []  # recorded under moto
        calls_per_record = (len(sim.requests) - before) / 10
        timings: dict[str, list[float]] = {"one record": [], "batch of 10": []}
        with replay.replaying():
            for _ in range(rounds):
                for label, batch in (("one record", messages[:1]), ("batch of 10", messages)):
                    replay.rewind()
                    started = time.perf_counter()
                    out = invoke("RetryFunction", poller.event(batch))
                    timings[label].append((time.perf_counter() - started) * 1000)
                    assert out["batchItemFailures"] == [], out
        one, ten = (statistics.median(timings[label]) for label in ("one record", "batch of 10"))
    return {
        "trustedform_latency_ms": latency * 1000,
        "trustedform_calls_per_record": round(calls_per_record, 2),
        "one_record_ms": round(one, 1),
        "batch_of_10_ms": round(ten, 1),
        "ratio": round(ten / one, 2),
    }


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def bench_rules(leads: int, latency: float, mode: str) -> dict:
    """The buyer's rules in one retain mode: TrustedForm calls, retains and billed operations per lead,
    half the leads refused by a rule (a bot), half kept."""
    from datetime import UTC, datetime

    from tf_retainer.decisions.rules import RuleSet
    from tf_retainer.store.rule_sets import RuleStore

    from local.simulator import make_web_cert_id

    env = {"RETAIN_MODE": mode, "RULES_CACHE_SECONDS": "0"}
    with local_stack(latency=latency, extra_env=env) as (sim, provisioned, gateway, vendor_key):
        rules = {"max_age": {"max_seconds": 900}, "bot_detected": {}, "domains": {"allowed": ["bench.example"]}}
        RuleStore(provisioned.table_name).publish(
            "*", RuleSet.model_validate(rules), actor="bench", now=datetime.now(UTC)
        )
        headers = {"Content-Type": "application/json", "x-api-key": vendor_key}
        gateway.handle("POST", "/leads", headers, lead_body())  # warm up (and a lead of its own)
        sim.reset()
        timings: dict[str, list[float]] = {"kept": [], "refused": []}
        refused_certs: set[str] = set()
        for n in range(leads):
            cert_id = make_web_cert_id()
            refused = n % 2 == 1
            if refused:
                refused_certs.add(cert_id)
            session = {"domain": "bench.example", "page_url": "https://bench.example/quote"}
            sim.script(cert_id, ["success"], bot_detected=refused, **session)
            body = json.dumps({"trustedform_cert_url": f"https://cert.trustedform.com/{cert_id}", "email": "b@x.io"})
            started = time.perf_counter()
            response = gateway.handle("POST", "/leads", headers, body.encode())
            timings["refused" if refused else "kept"].append((time.perf_counter() - started) * 1000)
            assert response.status == (422 if refused else 201), response.json()
        retains = [r for r in sim.requests if "retain" in (r.get("body") or {})]
        from tf_retainer.store.lead_table import lead_table

        index = lead_table(provisioned.table_name, retention_days=1).index
        leads_stored = index.vendor_leads("bench", since=datetime(2020, 1, 1, tzinfo=UTC))[1:]  # not the warm-up
        operations = {
            status: [lead.tf_operations for lead in leads_stored if lead.status == status]
            for status in ("retained", "rejected")
        }
        return {
            "mode": mode,
            "leads": leads,
            "trustedform_calls_per_lead": round(len(sim.requests) / leads, 2),
            "retains_per_lead": round(len(retains) / leads, 2),
            "retains_of_refused_leads": sum(1 for r in retains if r["cert_id"] in refused_certs),
            "billed_operations_per_kept_lead": round(statistics.mean(operations["retained"]), 2),
            "billed_operations_per_refused_lead": round(statistics.mean(operations["rejected"]), 2),
            "median_ms_kept": round(statistics.median(timings["kept"]), 1),
            "median_ms_refused": round(statistics.median(timings["refused"]), 1),
        }


GOALS = {  # issue 13
    "write_units": 10.0,  # per retained lead
    "cost": 10.0,  # dollars per million retained leads, before storage
    "cold_start": 1.3,  # the intake's import against import boto3 + one client (CPU)
    "batch": 1.3,  # a retry batch of 10 against one record, DynamoDB stubbed
    "growth": 1.5,  # local leads/s at 100 stored leads against at 10,000
    # Issue 19: what the tests asserted on the wall clock until then.
    "moto_tables": 1.5,  # a transaction, a lead read: 20,000 items against 100 (test_motolock.py)
    "stack_ready": 30.0,  # seconds from `python -m local.stack` to its ready line (tests/e2e)
    "stack_stop": 5.0,  # seconds from SIGTERM to its exit (tests/e2e)
}


def step(text: str) -> float:
    print(f"==> {text} ...", file=sys.stderr, flush=True)
    return time.monotonic()


def done(started: float) -> None:
    print(f"    ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)


def bench_cost(leads: int) -> tuple[float, dict[str, Any]]:
    """Write units per retained lead and the cost table, both from bench/cost.py (measure, then bill)."""
    import cost

    args = argparse.Namespace(leads=leads, trustedform_ms=500.0, leads_per_authorizer_call=60.0, xray_sampled=1.0)
    with redirect_stdout(io.StringIO()):
        measured = cost.measure(leads)
    billed = cost.bill(measured, json.loads(cost.PRICES.read_text()), args)
    shares = {"AuthorizerFunction": 1 / args.leads_per_authorizer_call}
    units = sum(n * shares.get(function, 1.0) for function, n in measured["write_units"].items())
    return units, billed


def print_cost(units: float, billed: dict[str, Any]) -> None:
    print(f"write units per retained lead: {units:.1f} (goal <= {GOALS['write_units']:.0f})")
    print("cost per million leads retained on their first attempt (bench/cost.py, prices in bench/prices.json):")
    for label, dollars in sorted(billed["lines"].items(), key=lambda line: -line[1]):
        print(f"  {dollars:>8.2f}  {label}")
    print(f"  {billed['total_per_million']:>8.2f}  total (tracing off, the default)")
    print(f"  {billed['xray_when_active']:>8.2f}  + X-Ray when Tracing=Active")
    print(
        f"  storage: {billed['stored_bytes_per_lead'] / 1024:.1f} KB per lead, "
        f"${billed['storage_per_million_per_month']:.2f} per million leads per month held"
    )


def bench_cold_start(runs: int) -> dict[str, dict]:
    import coldstart

    return coldstart.measure(ROOT, ["intake", "retry", "authorizer"], runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.2, help="simulated TrustedForm latency for the batch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=5, help="rounds of fresh processes per function")
    parser.add_argument("--stored", type=int, default=10_000, help="leads stored for the local throughput")
    parser.add_argument("--stack-runs", type=int, default=3, help="local stack starts and stops")
    parser.add_argument("--moto-batch", action="store_true", help="also the retry batch against moto")
    parser.add_argument("--rules", action="store_true", help="also the buyer's rules in both retain modes")
    args = parser.parse_args()
    began = time.monotonic()
    count_moto_calls()

    started = step(f"cost: {args.leads} leads through authorizer + intake against moto (bench/cost.py)")
    units, billed = bench_cost(args.leads)
    done(started)
    print_cost(units, billed)

    started = step(f"cold start: {args.cold_runs} rounds of fresh processes (intake, retry, authorizer)")
    cold = bench_cold_start(args.cold_runs)
    done(started)
    import coldstart

    base = cold.pop("boto3+client")
    print(
        f"cold start (CPU of the import, x import boto3 + one client = {base['cpu_ms_median']:.0f} ms; "
        "bench/coldstart.py):"
    )
    for line in coldstart.report(cold):
        print(line)

    started = step(f"retry batch: {args.rounds} rounds, DynamoDB replayed, TrustedForm at {args.latency * 1000:.0f} ms")
    with redirect_stdout(io.StringIO()):
        batch = bench_retry_batch_stubbed(args.latency, args.rounds)
    done(started)
    print(
        f"retry batch, DynamoDB stubbed, TrustedForm at {batch['trustedform_latency_ms']:.0f} ms: one record "
        f"{batch['one_record_ms']:.0f} ms, a batch of 10 {batch['batch_of_10_ms']:.0f} ms: {batch['ratio']:.2f}x"
    )

    started = step(f"local stack: leads/s at 100 and at {args.stored:,} stored leads (python -m local.stack)")
    import local_load

    grown = local_load.growth_ratio(args.stored)
    done(started)
    small, large = (grown[f"leads_per_second_at_{n}"] for n in (100, args.stored))
    print(
        f"local stack, 8 clients: {small} leads/s at 100 stored leads, {large} at {args.stored:,}: "
        f"{grown['slowdown']}x slower (errors: {grown['errors']})"
    )

    started = step("moto: a transaction and a lead read at 100 and at 20,000 items (bench/moto_tables.py)")
    import moto_tables

    tables = moto_tables.measure()
    done(started)
    print("moto (local/motolock.py), least disturbed run of each:")
    for line in moto_tables.report(tables):
        print(line)

    started = step(f"local stack: {args.stack_runs} starts and stops (bench/stack_start.py)")
    import stack_start

    with tempfile.TemporaryDirectory(prefix="tf-stack-start-") as state_dir:
        starts = [stack_start.one_run(ROOT, Path(state_dir), LAUNCH_ENV) for _ in range(args.stack_runs)]
    stack = {key: statistics.median(run[key] for run in starts) for key in starts[0]}
    done(started)
    print(
        f"local stack, median of {args.stack_runs}: ready {stack['ready_s']:.2f} s, first answer "
        f"{stack['first_answer_s']:.2f} s, stopped {stack['stop_s']:.2f} s after SIGTERM"
    )

    started = step(f"intake: {args.leads} retained leads, in-process against moto")
    with redirect_stdout(io.StringIO()):  # the functions' EMF lines
        intake = bench_intake(args.leads)
    print(json.dumps({"intake": intake}, indent=2))
    done(started)
    if args.moto_batch:
        started = step(f"retry: {args.rounds} batches of 10 against moto at {args.latency * 1000:.0f} ms latency")
        print(json.dumps({"retry_batch_moto": bench_retry_batch(args.latency, args.rounds)}, indent=2))
        done(started)
    if args.rules:
        for mode in ("decide_first", "combined"):
            started = step(f"rules: {args.leads} leads, {mode}, {args.latency * 1000:.0f} ms latency")
            print(json.dumps({"rules": bench_rules(args.leads, args.latency, mode)}, indent=2))
            done(started)

    intake_cold = cold["intake/deployed"]
    print(f"\nagainst the goals of issues 13 and 19 ({time.monotonic() - began:.0f} s):")
    for figure, value, goal in (
        ("write units per retained lead", units, GOALS["write_units"]),
        ("$ per million retained leads (before storage)", billed["total_per_million"], GOALS["cost"]),
        ("intake import, x boto3 + one client", intake_cold["ratio_median"], GOALS["cold_start"]),
        ("retry batch of 10, x one record", batch["ratio"], GOALS["batch"]),
        (f"local leads/s, 100 vs {args.stored:,} stored", grown["slowdown"], GOALS["growth"]),
        ("moto transaction, 20,000 vs 100 items", tables["transaction"]["ratio"], GOALS["moto_tables"]),
        ("moto lead read, 20,000 vs 100 items", tables["lead_read"]["ratio"], GOALS["moto_tables"]),
        ("local stack ready, s", stack["ready_s"], GOALS["stack_ready"]),
        ("local stack stopped after SIGTERM, s", stack["stop_s"], GOALS["stack_stop"]),
    ):
        verdict = "met" if value <= goal else "NOT met"
        print(f"  {figure:<48} {value:>7.2f}  goal <= {goal:<5} {verdict}")
    print(
        f"  (the intake's first request, answered without the network, adds "
        f"{intake_cold['first_request_cpu_ms_median']:.0f} ms: {intake_cold['ratio_with_first_request_median']:.2f}x "
        "with it; retry and authorizer: see the cold start table)"
    )


if __name__ == "__main__":
    main()
