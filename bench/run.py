"""Benchmarks (not tests): what one retained lead costs, and how fast a retry batch runs.

    make bench            # or: .venv/bin/python bench/run.py --leads 50 --latency 0.2

Everything runs on this machine: moto in-process (its calls counted where they enter moto) and the
TrustedForm simulator on 127.0.0.1. Times exclude nothing but what is said.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]
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
    from moto import mock_aws

    from local.apigw import LocalApiGateway
    from local.functions import reset_service_caches
    from local.motolock import serialise_moto
    from local.provision import provision
    from local.simulator import TrustedFormSimulator

    serialise_moto()
    with TrustedFormSimulator(api_keys=(TF_KEY,), latency=latency) as sim, mock_aws():
        provisioned = provision(api_key=TF_KEY)
        env = {
            **provisioned.environment(),
            "TRUSTEDFORM_API_URL": sim.base_url,
            "RETRY_BASE_SECONDS": "1",
            "RETRY_CAP_SECONDS": "1",
            **(extra_env or {}),
        }
        os.environ.update(env)
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the template's INFO would drown the numbers
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
        reset_service_caches()
        from datetime import UTC, datetime

        from tf_retainer.store.vendor_keys import VendorKeyStore

        vendor_key = "bench-vendor-key-0123456789"
        VendorKeyStore(provisioned.table_name).put(vendor_key, "bench", now=datetime.now(UTC))
        yield sim, provisioned, LocalApiGateway(authorizer_ttl=300), vendor_key


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
    from tf_retainer.store.leads import LeadStore

    record = LeadStore(provisioned.table_name, retention_days=1).read_lead(lead_id)
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


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def bench_rules(leads: int, latency: float, mode: str) -> dict:
    """The buyer's rules in one retain mode: TrustedForm calls, retains and billed operations per lead,
    half the leads refused by a rule (a bot), half kept."""
    from datetime import UTC, datetime

    from tf_retainer.rules import RuleSet
    from tf_retainer.store.rules import RuleStore

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
        from tf_retainer.store.leads import LeadStore

        store = LeadStore(provisioned.table_name, retention_days=1)
        leads_stored = store.vendor_leads("bench", since=datetime(2020, 1, 1, tzinfo=UTC))[1:]  # not the warm-up
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.2, help="simulated TrustedForm latency for the batch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count_moto_calls()
    print(f"intake: {args.leads} retained leads, in-process against moto ...", file=sys.stderr)
    print(json.dumps({"intake": bench_intake(args.leads)}, indent=2))
    print(f"retry: {args.rounds} batches of 10 at {args.latency * 1000:.0f} ms latency ...", file=sys.stderr)
    print(json.dumps({"retry_batch": bench_retry_batch(args.latency, args.rounds)}, indent=2))
    for mode in ("decide_first", "combined"):
        print(f"rules: {args.leads} leads, {mode}, {args.latency * 1000:.0f} ms latency ...", file=sys.stderr)
        print(json.dumps({"rules": bench_rules(args.leads, args.latency, mode)}, indent=2))


if __name__ == "__main__":
    main()
