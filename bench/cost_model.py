"""The bill for one lead's path through the service, from what bench/cost.py measured: pure arithmetic
(no AWS, no template), so tests/unit/test_cost_model.py checks it line by line.

A path's measurement (per lead, averaged over the leads measured), as bench/cost.py writes it::

    {"leads": 30,
     "functions": {"IntakeFunction": {"trigger": "api", "memory_mb": 512, "architecture": "arm64",
                                      "invocations": 1.0, "cpu_ms": 30.0, "log_bytes": 1400.0,
                                      "trustedform_calls": 2.0, "callbacks": 0.0,
                                      "write_units": 18.0, "read_units": 2.0,
                                      "calls": {"sqs:SendMessage": 0.0, "events:PutEvents": 0.0}},
                   "AuthorizerFunction": {"trigger": "authorizer", ...}, "PublisherFunction": {"trigger":
                   "stream", ...}, "RetryFunction": {"trigger": "sqs", ...}, "CallbackFunction": ...},
     "events_published": 1.0,             # PutEvents entries (EventBridge bills each event)
     "rule_deliveries": {"LeadEventsRule": 1.0, "CallbackRule": 0.0},   # SQS sends by the bus's rules
     "trustedform": {"calls": 2.0, "operations": 9.0},
     "stored_bytes": 2900.0,
     "anchoring": {"memory_mb": 512, "architecture": "arm64",      # AnchorFunction, the table's stream
                   "entries": 4.0,                   # chain entries' writes a lead sends it (INSERT, MODIFY)
                   "batch_cpu_ms": 20.0, "entry_cpu_ms": 0.2,  # CPU an invocation spends, and per entry
                   "log_bytes_per_batch": 700.0,
                   "calls_per_batch": {"s3:PutObject": 1.0, "kms:GenerateMac": 1.0},
                   "object_bytes_per_batch": 120.0, "object_bytes_per_entry": 110.0}}

``cpu_ms`` is one invocation's CPU time on a whole core here (moto's emulation of AWS included); the bill
scales it to the CPU share Lambda gives the function's memory and adds the waits a local run does not
have, as stated inputs: ``aws_call_ms`` per AWS call the function makes, ``trustedform_ms`` per
TrustedForm call and ``callback_ms`` per callback POST. The authorizer runs once per
``leads_per_authorizer_call`` leads (the gateway caches its decision); a function fed by an SQS queue or the
table's stream runs once per ``records_per_batch`` records (its duration is not divided: each record's
work is done either way).

The evidence anchoring (``anchoring``, AnchorFunction) is billed apart, as most of its work is the batch's,
not the entry's: one invocation, one anchor object (S3 PUT) and one KMS GenerateMac per batch (per hour the
batch's entries name: almost always one), a little CPU per entry. A lead's entries share a batch with
``entries_per_anchor_batch`` - 1 others (a stated input: AnchorBatchSize, 100, on a stream busy enough to
fill a batch within AnchorBatchingWindowSeconds, 10 s: 10 entries' writes a second, 2 to 5 leads a second;
a quieter stream gathers its rate x 10 s). Its objects are kept in S3 Standard for the evidence's
retention: printed apart, per month held, as the table's storage is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MILLION = 1_000_000
# Lambda's CPU share grows with memory: one whole vCPU at 1,769 MB (AWS Lambda documentation).
FULL_VCPU_MB = 1769
# Lambda's own START, END and REPORT lines per invocation, and one API access log line (the template's
# AccessLogSetting format, filled in): bytes, approximate.
LAMBDA_PLATFORM_LOG_BYTES = 330
API_ACCESS_LOG_BYTES = 480
# An SQS event source mapping receives a batch and deletes what succeeded: two SQS requests a batch (its
# empty long polls while a queue is idle are a fixed cost, not a lead's).
EVENT_SOURCE_REQUESTS_PER_BATCH = 2
# DynamoDB adds 100 bytes to each stored item (the table's and each index entry), for storage.
DYNAMODB_ITEM_OVERHEAD = 100
# The sweeper reads every lead's state once as its watermark over the vendor index passes it (BatchGetItem,
# eventually consistent: half a read unit), again when it arrived within the received grace before the
# watermark (the index's lag margin): leads/s are even, so 1 + grace / the sweeps' period of them (issue 22:
# what finding a lead still as reserved costs, now that such a lead is in no open index). Template defaults.
SWEEP_PERIOD_SECONDS = 300
RECEIVED_GRACE_SECONDS = 120
SWEEPER_READ_UNITS = 0.5 * (1 + RECEIVED_GRACE_SECONDS / SWEEP_PERIOD_SECONDS)


@dataclass(frozen=True)
class Inputs:
    """The stated assumptions: what a local run cannot measure."""

    aws_call_ms: float = 5.0  # a DynamoDB, SQS, EventBridge or Secrets Manager call from Lambda, same region
    trustedform_ms: float = 500.0  # one TrustedForm round trip, which the calling function waits for
    callback_ms: float = 200.0  # the vendor's callback URL answering
    leads_per_authorizer_call: float = 60.0  # the gateway caches a key's decision 60 s: one lead a second
    records_per_batch: float = 1.0  # records per invocation of a queue- or stream-fed function (1: quiet)
    xray_sampled: float = 1.0  # fraction of leads traced when Tracing=Active
    # Chain entries' writes per AnchorFunction batch: AnchorBatchSize (template default), which a stream of
    # 10 entries' writes a second fills within AnchorBatchingWindowSeconds (10 s); quieter, rate x 10 s.
    entries_per_anchor_batch: float = 100.0
    # TrustedForm bills by contract (no public price list): None prints operations only.
    trustedform_usd_per_operation: float | None = None


@dataclass(frozen=True)
class Line:
    key: str  # stable across paths and runs: the README's row
    label: str
    dollars: float  # per million leads
    detail: str  # the quantity behind it, per lead

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "dollars": round(self.dollars, 6), "detail": self.detail}


def invocation_share(function: dict[str, Any], inputs: Inputs) -> float:
    """Billed invocations per measured invocation."""
    trigger = function["trigger"]
    if trigger == "authorizer":
        return 1 / inputs.leads_per_authorizer_call
    if trigger in ("sqs", "stream"):
        return 1 / inputs.records_per_batch
    return 1.0


def cpu_share(memory_mb: float) -> float:
    return min(1.0, memory_mb / FULL_VCPU_MB)


def lambda_line(name: str, function: dict[str, Any], prices: dict[str, Any], inputs: Inputs) -> Line:
    """One function's requests and GB-seconds per million leads."""
    lam = prices["lambda"]
    invocations = function["invocations"]
    # The authorizer's work is shared by the leads its cached decision covers; a batched function still
    # does each record's work.
    work_share = 1 / inputs.leads_per_authorizer_call if function["trigger"] == "authorizer" else 1.0
    own = invocations * work_share * function["cpu_ms"] / cpu_share(function["memory_mb"])
    waiting = work_share * sum(function.get("calls", {}).values()) * inputs.aws_call_ms
    waiting += function.get("trustedform_calls", 0.0) * inputs.trustedform_ms
    waiting += function.get("callbacks", 0.0) * inputs.callback_ms
    requests = invocations * invocation_share(function, inputs)
    rate = lam[f"gb_second_{function['architecture']}"]
    dollars = MILLION * ((own + waiting) / 1000 * function["memory_mb"] / 1024 * rate)
    dollars += requests * lam["requests_per_million"]
    detail = f"{requests:.3g} invocations, {_ms(own)} ms CPU + {_ms(waiting)} ms waiting, {function['memory_mb']} MB"
    return Line(f"lambda:{name}", f"Lambda {name}", dollars, detail)


def anchor_batches(anchoring: dict[str, Any], inputs: Inputs) -> float:
    """AnchorFunction's batches (invocations) per lead: its entries' share of a batch."""
    return float(anchoring["entries"]) / inputs.entries_per_anchor_batch


def anchoring_lines(anchoring: dict[str, Any], prices: dict[str, Any], inputs: Inputs) -> list[Line]:
    """AnchorFunction per million leads: its invocations and GB-seconds (the batch's CPU and calls shared by
    its entries, each entry's own CPU not), the anchor objects' S3 PUTs, the KMS GenerateMac calls."""
    batches = anchor_batches(anchoring, inputs)
    calls: dict[str, float] = anchoring["calls_per_batch"]
    share = cpu_share(anchoring["memory_mb"])
    own = (batches * anchoring["batch_cpu_ms"] + anchoring["entries"] * anchoring["entry_cpu_ms"]) / share
    waiting = batches * sum(calls.values()) * inputs.aws_call_ms
    rate = prices["lambda"][f"gb_second_{anchoring['architecture']}"]
    lam = MILLION * ((own + waiting) / 1000 * anchoring["memory_mb"] / 1024 * rate)
    lam += batches * prices["lambda"]["requests_per_million"]
    per_batch = f"{anchoring['entries']:.3g} entries, {inputs.entries_per_anchor_batch:g} a batch"
    puts = batches * calls.get("s3:PutObject", 0.0)
    macs = batches * calls.get("kms:GenerateMac", 0.0)
    return [
        Line(
            "lambda:AnchorFunction",
            "Lambda AnchorFunction (evidence anchors)",
            lam,
            f"{batches:.3g} invocations ({per_batch}), {_ms(own)} ms CPU + {_ms(waiting)} ms waiting, "
            f"{anchoring['memory_mb']} MB",
        ),
        Line(
            "s3:anchors",
            "S3 PUT, the evidence anchors",
            puts * MILLION / 1000 * prices["s3"]["put_requests_per_1000"],
            f"{puts:.3g} PUTs",
        ),
        Line(
            "kms:anchors",
            "KMS GenerateMac, the evidence anchors",
            macs * MILLION / 10_000 * prices["kms"]["requests_per_10000"],
            f"{macs:.3g} requests",
        ),
    ]


def anchoring_log_bytes(anchoring: dict[str, Any], inputs: Inputs) -> float:
    """AnchorFunction's log bytes per lead: its own lines and Lambda's, per batch."""
    return anchor_batches(anchoring, inputs) * (anchoring["log_bytes_per_batch"] + LAMBDA_PLATFORM_LOG_BYTES)


def anchoring_stored_bytes(anchoring: dict[str, Any], inputs: Inputs) -> float:
    """The anchor objects' bytes per lead (its entries' rows, its share of each object's own bytes)."""
    return float(
        anchoring["entries"] * anchoring["object_bytes_per_entry"]
        + anchor_batches(anchoring, inputs) * anchoring["object_bytes_per_batch"]
    )


def bill_path(path: dict[str, Any], prices: dict[str, Any], inputs: Inputs) -> dict[str, Any]:
    """The lines of one path (kept, refused, retried), dollars per million leads, and its totals."""
    functions: dict[str, dict[str, Any]] = path["functions"]
    ddb = prices["dynamodb"]
    lines: list[Line] = []

    def per_lead(quantity: str, function: dict[str, Any]) -> float:
        share = 1 / inputs.leads_per_authorizer_call if function["trigger"] == "authorizer" else 1.0
        return float(function.get(quantity, 0.0)) * share

    writes = sum(per_lead("write_units", f) for f in functions.values())
    reads = sum(per_lead("read_units", f) for f in functions.values())
    lines.append(
        Line("dynamodb:writes", "DynamoDB writes", writes * ddb["write_request_unit_per_million"], f"{writes:.1f} WRU")
    )
    lines.append(
        Line("dynamodb:reads", "DynamoDB reads", reads * ddb["read_request_unit_per_million"], f"{reads:.1f} RRU")
    )
    sweeper = SWEEPER_READ_UNITS * ddb["read_request_unit_per_million"]
    lines.append(
        Line(
            "dynamodb:sweeper", "DynamoDB reads, the sweeper's look at each lead", sweeper, f"{SWEEPER_READ_UNITS} RRU"
        )
    )
    lines += [lambda_line(name, function, prices, inputs) for name, function in functions.items()]
    anchoring: dict[str, Any] = path["anchoring"]
    lines += anchoring_lines(anchoring, prices, inputs)
    lines.append(
        Line("apigateway", "API Gateway REST", prices["api_gateway_rest"]["requests_per_million"], "1 request")
    )

    sqs_price = prices["sqs_standard"]["requests_per_million"]
    sent = sum(_calls(f, "sqs:", inputs) for f in functions.values())
    polled = sum(
        f["invocations"] * EVENT_SOURCE_REQUESTS_PER_BATCH / inputs.records_per_batch
        for f in functions.values()
        if f["trigger"] == "sqs"
    )
    lines.append(Line("sqs:functions", "SQS, the functions' requests", sent * sqs_price, f"{sent:.2f} requests"))
    lines.append(
        Line("sqs:event_sources", "SQS, Lambda's receive + delete", polled * sqs_price, f"{polled:.2f} requests")
    )
    for rule, queue in (("LeadEventsRule", "LeadEventsQueue"), ("CallbackRule", "CallbackQueue")):
        sends = float(path["rule_deliveries"].get(rule, 0.0))
        lines.append(Line(f"sqs:{rule}", f"SQS, {rule}'s sends to {queue}", sends * sqs_price, f"{sends:.2f} messages"))
    events = float(path["events_published"])
    lines.append(
        Line(
            "eventbridge",
            "EventBridge PutEvents",
            events * prices["eventbridge"]["custom_events_per_million"],
            f"{events:.2f} events",
        )
    )
    secret_calls = sum(_calls(f, "secretsmanager:", inputs) for f in functions.values())
    lines.append(
        Line(
            "secretsmanager",
            "Secrets Manager",
            secret_calls * MILLION / 10_000 * prices["secrets_manager"]["api_calls_per_10000"],
            f"{secret_calls:.3f} calls",
        )
    )
    log_bytes = API_ACCESS_LOG_BYTES + sum(
        per_lead("log_bytes", f) + f["invocations"] * invocation_share(f, inputs) * LAMBDA_PLATFORM_LOG_BYTES
        for f in functions.values()
    )
    log_bytes += anchoring_log_bytes(anchoring, inputs)
    lines.append(
        Line(
            "cloudwatch:logs",
            "CloudWatch Logs",
            log_bytes * MILLION / 1024**3 * prices["cloudwatch"]["logs_ingested_gb"],
            f"{log_bytes:.0f} B ingested",
        )
    )
    total = sum(line.dollars for line in lines)
    trustedform = dict(path["trustedform"])
    price = inputs.trustedform_usd_per_operation
    stored_gb = path["stored_bytes"] * MILLION / 1024**3
    anchor_bytes = anchoring_stored_bytes(anchoring, inputs)
    return {
        "lines": [line.as_dict() for line in lines],
        "aws_per_million": round(total, 4),
        "xray_per_million_when_active": prices["xray"]["traces_recorded_per_million"] * inputs.xray_sampled,
        "write_units_by_call": {
            f"{name} {call}": round(units, 2)
            for name, function in functions.items()
            for call, units in function.get("write_units_by_call", {}).items()
        },
        "trustedform_calls": trustedform["calls"],
        "trustedform_operations": trustedform["operations"],
        "trustedform_per_million": None if price is None else round(trustedform["operations"] * price * MILLION, 2),
        "stored_bytes": path["stored_bytes"],
        "storage_per_million_per_month": round(stored_gb * (ddb["storage_gb_month"] + ddb["pitr_gb_month"]), 4),
        "anchor_bytes": round(anchor_bytes, 1),
        # S3 Standard (anchors/ has no transition), kept the evidence's retention
        "anchor_storage_per_million_per_month": round(
            anchor_bytes * MILLION / 1024**3 * prices["s3"]["standard_gb_month"], 4
        ),
    }


def _ms(value: float) -> str:
    """Whole milliseconds, or two figures under ten (the authorizer's share of a call)."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def _calls(function: dict[str, Any], prefix: str, inputs: Inputs) -> float:
    share = 1 / inputs.leads_per_authorizer_call if function["trigger"] == "authorizer" else 1.0
    return sum(n for name, n in function.get("calls", {}).items() if name.startswith(prefix)) * share
