"""make bench's in-process parts (bench/run.py runs them): moto in-process, its calls counted where they enter
moto, the TrustedForm simulator on 127.0.0.1, the functions invoked as Lambda would (local/functions.py),
every lead the realistic lead (local/realistic_lead.py) judged by the README's walkthrough rules.

* ``bench_intake``: AWS calls and time per lead through the intake (warm; TrustedForm's time taken out);
* ``bench_retry_batch_stubbed``: a retry batch of 10 against one record, DynamoDB replayed (no moto on the
  path), TrustedForm answering after ``latency``; ``bench_retry_batch``: the same against moto,
  sequential against concurrent (each RETAIN_MODE on kept and refused leads: bench/billing.py).
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]
from billing import QUIET  # noqa: E402 - after the path is set

from local import realistic_lead  # noqa: E402

# The environment make bench was started with: the local stack's starts get it, not what the in-process
# stacks below set (their table, queues, retry delays).
LAUNCH_ENV = dict(os.environ)
os.environ.update(QUIET)  # moto's credentials; the functions' logs, metrics and traces off

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

    with Backend(TF_KEY, moto="in-process") as backend:
        backend.simulator.latency = latency
        settings = {"RETRY_BASE_SECONDS": "1", "RETRY_CAP_SECONDS": "1", **(extra_env or {})}
        os.environ.update(backend.function_environment(settings))
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the template's INFO would drown the numbers
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
        wiring.reset()  # a new stack here (after bench/cost.py's prod-stage one) is a new container
        vendor_key = backend.add_vendor(realistic_lead.VENDOR, "bench-vendor-key-0123456789")
        publish_rules(backend.resources)
        yield backend.simulator, backend.resources, LocalApiGateway(authorizer_ttl=300), vendor_key


_numbered = itertools.count()


def lead_body(sim: Any, behaviours: list[str] | None = None, **facts: Any) -> bytes:
    """A new realistic lead, its certificate scripted on ``sim`` (the consumer's contact, the session on the
    buyer's own domain, ``behaviours`` and ``facts``)."""
    from local.simulator import make_web_cert_id

    cert_id = make_web_cert_id()
    body = realistic_lead.lead(next(_numbered), cert_id)
    facts = {**realistic_lead.SESSION, **facts}
    sim.script(cert_id, behaviours or ["success"], email=body["email"], phone=body["phone"], **facts)
    return json.dumps(body).encode()


def publish_rules(provisioned: Any) -> None:
    """The README's walkthrough rules, enforced, as the default rule set."""
    from datetime import UTC, datetime

    from tf_retainer.decisions.rules import RuleSet
    from tf_retainer.store.rule_sets import RuleStore

    rules = RuleSet.model_validate(realistic_lead.rules())
    RuleStore(provisioned.table_name).publish("*", rules, actor="bench", now=datetime.now(UTC))


def bench_intake(leads: int) -> dict:
    """Calls and time per retained lead through authorizer + intake (warm, authorizer cached as on AWS)."""
    from local.functions import invoke

    with local_stack(latency=0.0) as (sim, provisioned, gateway, vendor_key):
        headers = {"Content-Type": "application/json", "x-api-key": vendor_key}
        gateway.handle("POST", "/leads", headers, lead_body(sim))  # cold: imports, secret, connections
        calls.clear()
        route = next(r for r in gateway.routes if r.method == "POST")
        durations: list[float] = []
        lead_ids: list[str] = []
        for _ in range(leads):
            event = gateway._proxy_event(
                route,
                "/leads",
                headers,
                lead_body(sim),
                {},
                None,
                "127.0.0.1",
                {"principalId": realistic_lead.VENDOR, "context": {"vendor": realistic_lead.VENDOR}},
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
    record = provisioned.lead_store(retention_days=1).reader.read_lead(lead_id)
    return sum(float(exchange["duration_ms"]) for exchange in record.exchanges) if record else 0.0


def bench_retry_batch(latency: float, rounds: int) -> dict:
    """A batch of 10 pending leads through the retry handler, sequential vs concurrent."""
    import importlib
    from concurrent.futures import ThreadPoolExecutor

    from local.functions import invoke, load_handler
    from local.poller import RetryPoller

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
                for _ in range(10):  # pending at intake, retained by the retry
                    answer = gateway.handle("POST", "/leads", headers, lead_body(sim, ["unavailable", "success"]))
                    assert answer.status == 202, answer.json()
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
            results[mode] = {"median_ms": round(statistics.median(timings), 1), "runs": len(timings)}
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
    path), against a batch of one of them, ``rounds`` times: how far the records' own CPU (serialised by
    the GIL) keeps a batch from taking as long as one record. TrustedForm (the simulator) answers after
    ``latency``. Each round's ratio is its batch's time over its one record's."""
    from tf_retainer import wiring

    from local.functions import invoke, load_handler
    from local.poller import RetryPoller

    # Rules and the API key stay cached for the whole run (their reads are not replayed).
    with local_stack(latency=0.0, extra_env={"RULES_CACHE_SECONDS": "3600"}) as (sim, provisioned, gateway, vendor_key):
        load_handler("RetryFunction")
        headers = {"Content-Type": "application/json", "x-api-key": vendor_key}
        for _ in range(10):  # pending at intake, retained by every retry
            answer = gateway.handle("POST", "/leads", headers, lead_body(sim, ["unavailable", "success"]))
            assert answer.status == 202, answer.json()
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
        ratios = [b / o for o, b in zip(timings["one record"], timings["batch of 10"], strict=True)]
    return {
        "trustedform_latency_ms": latency * 1000,
        "trustedform_calls_per_record": round(calls_per_record, 2),
        "one_record_ms": round(one, 1),
        "batch_of_10_ms": round(ten, 1),
        "ratio": round(ten / one, 2),
        "worst_round_ratio": round(max(ratios), 2),
        "rounds": rounds,
    }


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
