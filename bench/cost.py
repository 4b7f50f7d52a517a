"""What a million retained leads cost on AWS, by line item: ``make cost``.

    python bench/cost.py [--leads 30] [--trustedform-ms 500] [--leads-per-authorizer-call 60] [--json]

Measured here, in-process (moto and the TrustedForm simulator, as ``make bench``), on leads posted
through the local API Gateway (authorizer + intake) and retained on their first attempt:

* DynamoDB write and read units, from the size of every item each call writes or reads, by DynamoDB's
  rules (an item's size: its attribute names and values; writes per started KB, reads per started
  4 KB, halved when eventually consistent; a transaction's items twice; each global secondary index an
  item enters, stays in or leaves, once more: a KEYS_ONLY index only when the item enters, leaves or
  moves in it, at the size of its keys). The item before a write is read through a client that
  is not metered. Estimates, not DynamoDB's ConsumedCapacity (moto does not compute it);
* each function's duration (the handler, warm), to which the TrustedForm round trip the intake waits
  for is added as ``--trustedform-ms`` (the simulator answers at once; a real one does not);
* the bytes the functions log (Powertools JSON logs and EMF metrics, at the prod stage's INFO level),
  plus Lambda's START/END/REPORT lines and the API's access log line (fixed sizes, below);
* calls to SQS and Secrets Manager per lead.

Assumed, not measured (flags): the TrustedForm latency, and how many leads share one authorizer call
(API Gateway caches a key's decision for the template's ReauthorizeEvery, 60 s: 60 means a vendor
posting one lead a second). Prices: bench/prices.json (us-east-1, on-demand). Fixed monthly costs
(the sweeper's 8,640 runs, custom metrics, alarms, the dashboard, the secret, KMS keys) are not per lead
and are left out; storage is printed apart, per month held.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]
from local.capacity import Index, item_size  # noqa: E402 - after the path is set

PRICES = Path(__file__).with_name("prices.json")
TF_KEY = "cost-tf-key-0123456789"
VENDOR_KEY = "cost-vendor-key-0123456789abcdef"
# Lambda's own START, END and REPORT lines per invocation, and one API access log line (the template's
# AccessLogSetting format, filled in): bytes, approximate.
LAMBDA_PLATFORM_LOG_BYTES = 330
API_ACCESS_LOG_BYTES = 480
READ_BLOCK = 4096
# Lambda's CPU share grows with memory: one whole vCPU at 1,769 MB (AWS Lambda documentation).
FULL_VCPU_MB = 1769
DYNAMODB_ITEM_OVERHEAD = 100  # bytes DynamoDB adds to each stored item (table and each index), for storage


# --------------------------------------------------------------------------- DynamoDB item sizes


class DynamoMeter:
    """Write and read units of every DynamoDB call the functions make, attributed to ``self.function``.

    Writes: the ConsumedCapacity DynamoDB reports (the store asks for it on every write; locally moto
    reports it by DynamoDB's sizing rules, local/capacity.py). Reads: sized here (4 KB blocks, halved when
    eventually consistent), as the functions do not ask for their read capacity."""

    def __init__(self, table: str, raw_client: Any) -> None:
        self.table, self.raw = table, raw_client
        self.function = "?"
        self.writes: Counter[str] = Counter()
        self.reads: Counter[str] = Counter()
        self._last_consistent = False

    def after_call(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if "Error" in parsed.get("ResponseMetadata", {}) or parsed.get("Error"):
            return
        operation = model.name
        if operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"):
            consumed = parsed.get("ConsumedCapacity")
            if consumed is None and self.function == "?":
                return  # the run's own set-up (vendors, keys), not a function's
            if consumed is None:
                raise RuntimeError(f"{operation} answered without ConsumedCapacity: not a metered store client")
            entries = consumed if isinstance(consumed, list) else [consumed]
            self.writes[self.function] += sum(float(entry["CapacityUnits"]) for entry in entries)
        elif operation == "GetItem":
            size = item_size(parsed.get("Item"))
            self.reads[self.function] += self._read_units(size, self._last_consistent)
        elif operation == "Query":
            size = sum(item_size(item) for item in parsed.get("Items", []))
            self.reads[self.function] += self._read_units(size, self._last_consistent)

    def note_consistency(self, params: dict[str, Any], **_: Any) -> None:
        self._last_consistent = bool(params.get("ConsistentRead"))

    @staticmethod
    def _read_units(size: int, consistent: bool) -> float:
        return max(1, math.ceil(size / READ_BLOCK)) * (1.0 if consistent else 0.5)


def register(meter: DynamoMeter, calls: Counter[str]) -> None:
    """Hook the default boto3 session, so every client the functions create afterwards is metered."""
    import boto3

    boto3.setup_default_session()
    events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
    events.register("before-parameter-build.dynamodb.GetItem", meter.note_consistency)
    events.register("before-parameter-build.dynamodb.Query", meter.note_consistency)
    events.register("after-call.dynamodb", meter.after_call)

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    events.register("before-call", count)


# --------------------------------------------------------------------------- the run


def measure(leads: int) -> dict[str, Any]:
    """Post ``leads`` leads (after a warm-up) through authorizer + intake; per-lead figures."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "cost",
            "AWS_SECRET_ACCESS_KEY": "cost",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    import boto3
    from moto import mock_aws
    from tf_retainer import wiring

    from local.apigw import LocalApiGateway
    from local.functions import invoke
    from local.motolock import serialise_moto
    from local.provision import load_template, provision
    from local.simulator import TrustedFormSimulator, make_web_cert_id

    serialise_moto()
    calls: Counter[str] = Counter()
    durations: dict[str, list[float]] = defaultdict(list)
    with TrustedFormSimulator(api_keys=(TF_KEY,), latency=0.0) as sim, mock_aws():
        provisioned = provision(stage="prod", api_key=TF_KEY)  # prod: INFO logs, as billed in production
        os.environ.update({**provisioned.environment(), "TRUSTEDFORM_API_URL": sim.base_url})
        wiring.reset()
        indexes = {
            index["IndexName"]: Index(
                index["KeySchema"][0]["AttributeName"],
                index["KeySchema"][1]["AttributeName"],
                index["Projection"]["ProjectionType"] == "KEYS_ONLY",
            )
            for index in load_template()["Resources"]["LeadsTable"]["Properties"]["GlobalSecondaryIndexes"]
        }
        meter = DynamoMeter(provisioned.table_name, boto3.session.Session().client("dynamodb"))
        register(meter, calls)
        from datetime import UTC, datetime

        from tf_retainer.store.vendor_keys import VendorKeyStore

        VendorKeyStore(provisioned.table_name).put(VENDOR_KEY, "cost-vendor", now=datetime.now(UTC))

        def timed(function: str, event: dict[str, Any]) -> Any:
            meter.function = function
            started = time.perf_counter()
            try:
                return invoke(function, event)
            finally:
                durations[function].append((time.perf_counter() - started) * 1000)

        gateway = LocalApiGateway(authorizer_ttl=0, invoke=timed)  # every post authorised: measured per call
        headers = {"Content-Type": "application/json", "x-api-key": VENDOR_KEY}

        def post() -> Any:
            body = {"trustedform_cert_url": f"https://cert.trustedform.com/{make_web_cert_id()}", "email": "a@b.io"}
            return gateway.handle("POST", "/leads", headers, json.dumps(body).encode())

        with redirect_stdout(io.StringIO()):
            post()  # warm-up: imports, clients, the secret, the rules
        calls.clear(), meter.writes.clear(), meter.reads.clear(), durations.clear()
        logs = io.StringIO()
        with redirect_stdout(logs), _logger_stream(logs):
            answers = [post() for _ in range(leads)]
        statuses = Counter(answer.status for answer in answers)
        if statuses != Counter({201: leads}):
            raise RuntimeError(f"expected {leads} retained leads, got {dict(statuses)}")
        lead_ids = [answer.json()["lead_id"] for answer in answers]
        stored = _stored_bytes(meter, provisioned.table_name, lead_ids, indexes)
        tf_ms = _trustedform_ms(provisioned, lead_ids)
    intake_own = [total - tf for total, tf in zip(durations["IntakeFunction"], tf_ms, strict=True)]
    return {
        "leads": leads,
        "write_units": {function: units / leads for function, units in meter.writes.items()},
        "read_units": {function: units / leads for function, units in meter.reads.items()},
        "calls": {name: count / leads for name, count in sorted(calls.items())},
        "handler_ms": {
            "IntakeFunction": _median(intake_own),
            "AuthorizerFunction": _median(durations["AuthorizerFunction"]),
        },
        "log_bytes": len(logs.getvalue().encode()) / leads,
        "stored_bytes": stored,
    }


@contextmanager
def _logger_stream(stream: io.StringIO) -> Iterator[None]:
    """Powertools' Logger keeps the stdout it found when created: point its handlers at ``stream``."""
    handlers = [h for h in logging.getLogger(os.environ["POWERTOOLS_SERVICE_NAME"]).handlers if hasattr(h, "setStream")]
    previous = [h.setStream(stream) for h in handlers]  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)  # type: ignore[attr-defined]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _trustedform_ms(provisioned: Any, lead_ids: list[str]) -> list[float]:

    reader = provisioned.lead_store(retention_days=1).reader
    records = [reader.read_lead(lead_id) for lead_id in lead_ids]
    return [sum(float(e["duration_ms"]) for e in record.exchanges) if record else 0.0 for record in records]


def _stored_bytes(meter: DynamoMeter, table: str, lead_ids: list[str], indexes: dict[str, Index]) -> float:
    """Bytes a retained lead keeps in the table and its indexes (items of its lead and its certificate)."""
    total = 0
    for item in meter.raw.scan(TableName=table)["Items"]:
        pk = item["pk"]["S"]
        if not pk.startswith(("LEAD#", "CERT#")):
            continue
        total += item_size(item) + DYNAMODB_ITEM_OVERHEAD
        total += sum(index.entry_size(item) + DYNAMODB_ITEM_OVERHEAD for index in indexes.values() if index.holds(item))
    return total / len(lead_ids)


# --------------------------------------------------------------------------- the bill


def bill(measured: dict[str, Any], prices: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from local.provision import function_settings

    million = 1_000_000
    authorizer_share = 1 / args.leads_per_authorizer_call
    shares = {"IntakeFunction": 1.0, "AuthorizerFunction": authorizer_share}
    ddb, lam = prices["dynamodb"], prices["lambda"]
    lines: dict[str, float] = {}
    writes = sum(units * shares.get(f, 1.0) for f, units in measured["write_units"].items())
    reads = sum(units * shares.get(f, 1.0) for f, units in measured["read_units"].items())
    lines[f"DynamoDB writes ({writes:.1f} WRU/lead)"] = writes * ddb["write_request_unit_per_million"]
    lines[f"DynamoDB reads ({reads:.1f} RRU/lead)"] = reads * ddb["read_request_unit_per_million"]
    for function, share in shares.items():
        settings = function_settings(function)
        gb = settings.memory_size / 1024
        # Measured on a whole core here; Lambda gives a function CPU in proportion to its memory.
        own = measured["handler_ms"][function] / min(1.0, settings.memory_size / FULL_VCPU_MB)
        ms = own + (args.trustedform_ms if function == "IntakeFunction" else 0)
        rate = lam[f"gb_second_{settings.architecture}"]
        label = (
            f"Lambda {function} ({share:.3g}/lead x ({own:.0f} ms own + "
            f"{ms - own:.0f} ms waiting) x {settings.memory_size} MB, {settings.architecture})"
        )
        lines[label] = share * million * (gb * ms / 1000 * rate + lam["requests_per_million"] / million)
    lines["API Gateway REST (1 request/lead)"] = prices["api_gateway_rest"]["requests_per_million"]
    sqs_calls = sum(n for name, n in measured["calls"].items() if name.startswith("sqs:"))
    lines[f"SQS ({sqs_calls:.2f} requests/lead)"] = sqs_calls * prices["sqs_standard"]["requests_per_million"]
    secret_calls = sum(n for name, n in measured["calls"].items() if name.startswith("secretsmanager:"))
    per_10k = prices["secrets_manager"]["api_calls_per_10000"]
    lines[f"Secrets Manager ({secret_calls:.2f} calls/lead, cached 5 min)"] = secret_calls * million / 10_000 * per_10k
    log_bytes = measured["log_bytes"] + API_ACCESS_LOG_BYTES + LAMBDA_PLATFORM_LOG_BYTES * (1 + authorizer_share)
    gb_logs = log_bytes * million / 1024**3
    lines[f"CloudWatch Logs ({log_bytes:.0f} B/lead ingested)"] = gb_logs * prices["cloudwatch"]["logs_ingested_gb"]
    total = sum(lines.values())
    traced = prices["xray"]["traces_recorded_per_million"] * args.xray_sampled
    stored_gb = measured["stored_bytes"] * million / 1024**3
    return {
        "lines": lines,
        "total_per_million": total,
        "xray_when_active": traced,
        "storage_per_million_per_month": stored_gb * (ddb["storage_gb_month"] + ddb["pitr_gb_month"]),
        "stored_bytes_per_lead": measured["stored_bytes"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=30)
    parser.add_argument("--trustedform-ms", type=float, default=500.0, help="assumed TrustedForm round trip")
    parser.add_argument("--leads-per-authorizer-call", type=float, default=60.0)
    parser.add_argument("--xray-sampled", type=float, default=1.0, help="fraction of leads traced when on")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    prices = json.loads(PRICES.read_text())
    measured = measure(args.leads)
    result = bill(measured, prices, args)
    if args.json:
        print(json.dumps({"measured": measured, **result}, indent=2))
        return 0
    print(f"Cost per million leads retained on their first attempt ({prices['region']}, prices {prices['as_of']}):")
    for label, dollars in sorted(result["lines"].items(), key=lambda line: -line[1]):
        print(f"  {dollars:>8.2f}  {label}")
    print(f"  {result['total_per_million']:>8.2f}  total (tracing off, the default)")
    print(
        f"  {result['xray_when_active']:>8.2f}  + X-Ray when Tracing=Active ({args.xray_sampled:.0%} of leads traced)"
    )
    print(
        f"storage: {result['stored_bytes_per_lead'] / 1024:.1f} KB per lead (table + indexes): "
        f"${result['storage_per_million_per_month']:.2f} per million leads per month held (with PITR)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
