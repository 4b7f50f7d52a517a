"""What a million realistic leads cost on AWS, by line item, kept, refused and retried: ``make cost``.

    python bench/cost.py [--leads 30] [--mode decide_first|combined|both] [--rules enforce|shadow]
                         [--aws-call-ms 5] [--trustedform-ms 500] [--callback-ms 200]
                         [--leads-per-authorizer-call 60] [--records-per-batch 1]
                         [--entries-per-anchor-batch 100]
                         [--trustedform-usd-per-operation X] [--json]

The unit is the realistic lead (local/realistic_lead.py: a 24-character vendor name, email, phone, the
vendor's lead id, three allow-listed extras), judged by the README's walkthrough rules (max age, no bots,
own domains, enforced). Three paths, each measured on ``--leads`` leads, in-process (moto, the TrustedForm
simulator and a vendor's callback endpoint on 127.0.0.1):

* **kept**: posted through the local API Gateway (authorizer + intake), retained on its first attempt
  (201); its outcome entry on the table's stream drives the publisher (PutEvents), the bus's example rule
  (LeadEventsRule) sends it to LeadEventsQueue; every write of one of its chain entries, on the same
  stream, is anchored by AnchorFunction (an S3 object and a KMS GenerateMac per batch);
* **refused**: a bot by TrustedForm's insights, refused by a rule (422); published the same way;
* **retried**: TrustedForm unavailable at intake (202 pending, a retry message), retained by the retry
  worker; published; the bus's CallbackRule sends it to CallbackQueue and the callback function POSTs it,
  signed, to the vendor's URL.

Measured for each function that runs (its invocations, named with their memory from template.yaml):
DynamoDB write units (the ConsumedCapacity every write asks for; moto's answers filled by DynamoDB's
sizing rules, local/capacity.py) and read units (sized from what is read: 4 KB blocks, halved when
eventually consistent), the CPU time of an invocation (the process's, moto's emulation of AWS included:
CPU, not wall time, so a busy machine does not inflate it; the simulator's answers cost it well under a
millisecond), the bytes it logs (Powertools JSON and EMF at the prod stage's INFO level), its SQS, EventBridge and
Secrets Manager calls; the events published and the rules' SQS deliveries; the TrustedForm calls and the
operations TrustedForm bills (the lead's own count, judgement.billed_operations); the bytes a lead keeps
in the table and its indexes. Only what runs inside a function is metered: the bench's own reads are not.

AnchorFunction reads the table's stream as its own mapping does (its filter: chain entries' writes), twice
over each path's records: one write per invocation (what an invocation costs whatever it carries: its CPU,
log bytes, S3 PutObject and KMS GenerateMac calls, its object's bytes) and in the template's batches
(AnchorBatchSize: what each entry adds to them); from the two, the CPU and object bytes of a batch and of an
entry, and the entries a lead writes. How many entries share a batch in production is a stated input
(``--entries-per-anchor-batch``, AnchorBatchSize's 100: a stream busy enough to fill a batch within the
10 s batching window; a quieter one gathers its rate x 10 s): a batch's invocation, PUT, MAC, waits and
logs are shared by its entries.

The bill (bench/cost_model.py, prices in bench/prices.json with their sources and date) adds what a
local run cannot measure, as stated inputs: an AWS call's round trip, the TrustedForm round trip, the
vendor's callback answer, how many leads share one authorizer call, how many records a queue- or
stream-fed invocation carries, how many chain entries' writes an anchor batch carries, and
TrustedForm's per-operation price (by contract: none is published; without it, operations are printed,
not dollars), and the sweeper's read of each lead's state (cost_model.SWEEPER_READ_UNITS). Fixed monthly
costs (the sweeper's runs' own queries, custom metrics, alarms, the dashboard, the secret,
KMS keys and KMS's free requests, idle queue polling, AnchorFunction's first record of when anchoring
began) are not per lead and are left out; storage (the table's, the anchors') is printed apart, per month
held. Lambda's reads of the table's stream, and its event filtering, are free; EventBridge bills each
published event, not its rules; the archive bucket's S3 Bucket Key spares a KMS call per anchor object.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import math
import os
import sys
import threading
import time
import typing
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common"), str(ROOT / "bench")]
import cost_model  # noqa: E402 - after the path is set
from tf_retainer.runtime.settings import Settings  # noqa: E402

from local import realistic_lead  # noqa: E402
from local.capacity import Index, item_size  # noqa: E402

PRICES = Path(__file__).with_name("prices.json")
TF_KEY = "cost-tf-key-0123456789"
VENDOR_KEY = "cost-vendor-key-0123456789abcdef"
READ_BLOCK = 4096
# Every RETAIN_MODE the settings accept (a new one is measured as soon as it exists).
MODES: tuple[str, ...] = typing.get_args(Settings.model_fields["retain_mode"].annotation)
DEFAULT_MODE = str(Settings.model_fields["retain_mode"].default)  # template.yaml's RetainMode default too
RULE_MODES = ("enforce", "shadow")
PATHS = ("kept", "refused", "retried")
EXPECTED_ANSWER = {"kept": 201, "refused": 422, "retried": 202}
# Which functions run for which trigger (template.yaml's events).
TRIGGERS = {
    "AuthorizerFunction": "authorizer",
    "IntakeFunction": "api",
    "PublisherFunction": "stream",
    "RetryFunction": "sqs",
    "CallbackFunction": "sqs",
}
# AnchorFunction, metered apart (cost_model.anchoring_lines): one write per invocation, and full batches.
ANCHOR = "AnchorFunction"
ANCHOR_BATCHED = "AnchorFunction, batched"


# --------------------------------------------------------------------------- metering


class Meter:
    """Everything a function does while it runs, attributed to it (``self.function``; None outside an
    invocation, when nothing is counted: the bench's own reads and set-up are not a lead's cost).

    Writes: the ConsumedCapacity DynamoDB reports (the store asks for it on every write; locally moto
    reports it by DynamoDB's sizing rules, local/capacity.py). Reads: sized here (4 KB blocks, halved when
    eventually consistent), as the functions do not ask for their read capacity. HTTP: each
    ``httpx.Client.send`` counted by where it goes (TrustedForm, the vendor's callback URL)."""

    def __init__(self, trustedform_host: str, callback_host: str) -> None:
        self.function: str | None = None
        self.hosts = {trustedform_host: "trustedform", callback_host: "callback"}
        self._guard = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.writes: Counter[str] = Counter()
        self.writes_by_call: dict[str, Counter[str]] = defaultdict(Counter)
        self.reads: Counter[str] = Counter()
        self.calls: dict[str, Counter[str]] = defaultdict(Counter)
        self.events: Counter[str] = Counter()
        self.http_calls: dict[str, Counter[str]] = defaultdict(Counter)
        self.cpu_ms: dict[str, list[float]] = defaultdict(list)
        self.log_bytes: Counter[str] = Counter()

    # botocore hooks (registered on the default session: every client the functions create)
    def after_call(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        function = self.function
        if function is None or parsed.get("Error"):
            return
        operation = model.name
        if operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"):
            consumed = parsed.get("ConsumedCapacity")
            if consumed is None:
                raise RuntimeError(f"{operation} answered without ConsumedCapacity: not a metered store client")
            entries = consumed if isinstance(consumed, list) else [consumed]
            units = sum(float(entry["CapacityUnits"]) for entry in entries)
            self.writes[function] += units
            self.writes_by_call[function][operation] += units
        elif operation == "GetItem":
            self.reads[function] += self.read_units(item_size(parsed.get("Item")), context.get("consistent", False))
        elif operation == "Query":
            size = sum(item_size(item) for item in parsed.get("Items", []))
            self.reads[function] += self.read_units(size, context.get("consistent", False))

    def before_call(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """Once per API call (before-parameter-build: not again on botocore's retries)."""
        if self.function is None:
            return
        service = model.service_model.service_name
        self.calls[self.function][f"{service}:{model.name}"] += 1
        context["consistent"] = bool(params.get("ConsistentRead"))
        if service == "events" and model.name == "PutEvents":
            self.events[self.function] += len(params.get("Entries", []))

    @staticmethod
    def read_units(size: int, consistent: bool) -> float:
        return max(1, math.ceil(size / READ_BLOCK)) * (1.0 if consistent else 0.5)

    def counted_send(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """httpx's send, counting each call a function makes by where it goes (TrustedForm, the vendor)."""
        meter = self

        def send(client: Any, request: Any, **kwargs: Any) -> Any:
            function = meter.function
            if function is not None:
                kind = meter.hosts.get(f"{request.url.host}:{request.url.port}", "other")
                with meter._guard:
                    meter.http_calls[function][kind] += 1
            return original(client, request, **kwargs)

        return send


@contextmanager
def metered(meter: Meter) -> Iterator[None]:
    """Hook a new default boto3 session (every client the functions create from now on: a client keeps
    the hooks of the session it was made from) and httpx, for one run."""
    import boto3
    import httpx

    boto3.setup_default_session()
    events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
    events.register("before-parameter-build", meter.before_call, unique_id="cost-before")
    events.register("after-call.dynamodb", meter.after_call, unique_id="cost-after")
    original = httpx.Client.send
    httpx.Client.send = meter.counted_send(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        httpx.Client.send = original  # type: ignore[method-assign]
        events.unregister("before-parameter-build", unique_id="cost-before")
        events.unregister("after-call.dynamodb", unique_id="cost-after")


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


# --------------------------------------------------------------------------- the run


def measure(leads: int, mode: str = DEFAULT_MODE, rules: str = "enforce") -> dict[str, Any]:
    """Each path (kept, refused, retried) on ``leads`` realistic leads, after a warm-up of each. With the
    rules in shadow, the "refused" path's leads (bots) are kept: what a shadow rule costs."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "cost",
            "AWS_SECRET_ACCESS_KEY": "cost",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    from local.backend import Backend
    from local.receiver import CallbackReceiver

    with (
        Backend(TF_KEY, moto="in-process", stage="prod") as backend,  # prod: INFO logs, as billed in production
        _receiver(CallbackReceiver(secret="cost-callback-secret-0123456789")) as receiver,  # noqa: S106
    ):
        meter = Meter(_host(backend.simulator_url), _host(receiver.url))
        with metered(meter):
            run = _Run(backend, receiver, mode, rules, meter)
            for path in PATHS:  # warm-up: imports, clients, the secret, the rules, in every function
                run.path(path, 1)
            paths = {path: run.path(path, leads) for path in PATHS}
    return {"mode": mode, "rules": rules, "leads": leads, "lead": _lead_shape(), "paths": paths}


def _host(url: str) -> str:
    return url.split("//", 1)[1].split("/", 1)[0]


@contextmanager
def _receiver(receiver: Any) -> Iterator[Any]:
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def _lead_shape() -> dict[str, Any]:
    sample = realistic_lead.lead(0, "0" * 40)
    return {"vendor": realistic_lead.VENDOR, "fields": sorted(sample), "rules": realistic_lead.rules()}


class _Run:
    """One mode's stack: provisioned from template.yaml (prod stage), the vendor, its callback URL, the
    rules; posts leads down one path at a time and meters each function."""

    def __init__(self, backend: Any, receiver: Any, mode: str, rules: str, meter: Meter) -> None:
        from datetime import UTC, datetime

        import boto3
        from tf_retainer import wiring
        from tf_retainer.decisions.rules import RuleSet
        from tf_retainer.store.rule_sets import RuleStore
        from tf_retainer.store.vendor_callbacks import VendorCallbackStore
        from tf_retainer.store.vendor_keys import VendorKeyStore

        from local.apigw import LocalApiGateway
        from local.provision import load_template

        self.sim, self.receiver, self.mode = backend.simulator, receiver, mode
        self.expected = {**EXPECTED_ANSWER, "refused": 201 if rules == "shadow" else 422}
        self.provisioned = backend.resources
        settings = {
            "RETAIN_MODE": mode,
            "RETRY_BASE_SECONDS": "1",
            "RETRY_CAP_SECONDS": "1",
            "CALLBACK_ALLOW_PRIVATE": "true",  # the vendor's URL is on 127.0.0.1 here
            "CALLBACK_BASE_DELAY_SECONDS": "0",
        }
        os.environ.update(backend.function_environment(settings))
        wiring.reset()
        template = load_template()
        self.indexes = [
            Index(
                index["KeySchema"][0]["AttributeName"],
                index["KeySchema"][1]["AttributeName"] if len(index["KeySchema"]) > 1 else None,
                index["Projection"]["ProjectionType"] == "KEYS_ONLY",
            )
            for index in template["Resources"]["LeadsTable"]["Properties"]["GlobalSecondaryIndexes"]
        ]
        self.raw = boto3.session.Session().client("dynamodb")  # not metered
        self.raw_sqs = boto3.session.Session().client("sqs")
        now, table = datetime.now(UTC), self.provisioned.table_name
        VendorKeyStore(table).put(VENDOR_KEY, realistic_lead.VENDOR, now=now)
        callbacks = VendorCallbackStore(table, kms=boto3.client("kms"), key_id=self.provisioned.callback_key_id)
        callbacks.put(realistic_lead.VENDOR, receiver.url, receiver.secret, now=now)  # sealed, as deployed
        RuleStore(table).publish("*", RuleSet.model_validate(realistic_lead.rules(rules)), actor="cost", now=now)
        self.meter = meter
        self.gateway = LocalApiGateway(authorizer_ttl=0, invoke=self.invoke)  # every post authorised: measured
        self.numbered = 0
        self.publisher: Any = None
        self.anchor_pollers: dict[str, Any] = {}
        self.anchor_batches: dict[str, list[int]] = defaultdict(list)  # records per invocation, by label
        self.anchor_objects: dict[str, list[int]] = defaultdict(list)  # bytes of each object written
        self.raw_s3 = boto3.session.Session().client("s3")  # not metered

    def anchor_as(self, label: str, _function: str, event: dict[str, Any]) -> Any:
        """AnchorFunction on one batch, metered under ``label``; what it carried and wrote, recorded."""
        result = self.invoke(ANCHOR, event, label=label)
        self.anchor_batches[label].append(len(event["Records"]))
        for name in result["documents"]:
            bucket, key = name.removeprefix("s3://").split("/", 1)
            self.anchor_objects[label].append(int(self.raw_s3.head_object(Bucket=bucket, Key=key)["ContentLength"]))
        return result

    def invoke(self, function: str, event: dict[str, Any], label: str | None = None) -> Any:
        """``function`` invoked with ``event``, metered under ``label`` (default: its name)."""
        from local.functions import invoke

        meter = self.meter
        logged = len(self.logs.getvalue().encode())
        function_label = label or function
        meter.function = function_label
        started = time.process_time()  # every thread's (the retry worker's pool too): not the machine's load
        try:
            return invoke(function, event)
        finally:
            meter.cpu_ms[function_label].append((time.process_time() - started) * 1000)
            meter.function = None
            meter.log_bytes[function_label] += len(self.logs.getvalue().encode()) - logged

    def path(self, path: str, leads: int) -> dict[str, Any]:
        from local.poller import RetryPoller
        from local.simulator import make_web_cert_id
        from local.streams import StreamPoller

        self.meter.reset()
        ops_before = len(self.sim.requests)
        events_before = self._queue_depth(self.provisioned.events_queue_url)
        ids: list[tuple[str, str, str]] = []  # (lead id, certificate id, vendor lead id)
        headers = {"Content-Type": "application/json", "x-api-key": VENDOR_KEY}
        self.logs = io.StringIO()
        with redirect_stdout(self.logs), _logger_stream(self.logs):
            for _ in range(leads):
                cert_id, n = make_web_cert_id(), self.numbered
                self.numbered += 1
                body = realistic_lead.lead(n, cert_id)
                behaviours = ["unavailable", "success"] if path == "retried" else ["success"]
                self.sim.script(
                    cert_id,
                    behaviours,
                    email=body["email"],
                    phone=body["phone"],
                    bot_detected=path == "refused",
                    **realistic_lead.SESSION,
                )
                answer = self.gateway.handle("POST", "/leads", headers, json.dumps(body).encode())
                if answer.status != self.expected[path]:
                    raise RuntimeError(f"{path}: expected {self.expected[path]}, got {answer.status} {answer.json()}")
                ids.append((answer.json()["lead_id"], cert_id, body["lead_id"]))
            if path == "retried":
                time.sleep(1.1)  # RETRY_BASE_SECONDS: the messages' delay
                retry = RetryPoller(self.provisioned, wait_seconds=1, invoke=self.invoke)
                self._feed(retry, leads)
            if self.publisher is None:  # one reader of the stream for the run: each record published once
                self.publisher = StreamPoller(self.provisioned, invoke=self.invoke, retry_delay_seconds=0)
                self.publisher.batch_size = 1  # a quiet stream: a record per invocation (records_per_batch)
            self.publisher.drain(rounds=10 * leads + 100)
            callbacks = RetryPoller(
                self.provisioned, "CallbackFunction", queue_url=self.provisioned.callback_queue_url, invoke=self.invoke
            )
            callback_sends = self._feed(callbacks, leads if path == "retried" else 0)
            self._anchor_all(leads)  # last: every chain entry the path's functions wrote
        tf_requests = self.sim.requests[ops_before:]
        return self._per_lead(
            leads,
            ids,
            tf_calls=len(tf_requests),
            events_delivered=self._queue_depth(self.provisioned.events_queue_url) - events_before,
            callback_sends=callback_sends,
        )

    def _anchor_all(self, leads: int) -> None:
        """This path's chain entries' writes to AnchorFunction, by its two readers of the stream (one write
        an invocation; the template's batches), each reading every record once, as a mapping does."""
        from local.streams import StreamPoller

        self.anchor_batches.clear()
        self.anchor_objects.clear()
        if not self.anchor_pollers:
            for label in (ANCHOR, ANCHOR_BATCHED):
                poller = StreamPoller(
                    self.provisioned,
                    ANCHOR,
                    invoke=functools.partial(self.anchor_as, label),
                    retry_delay_seconds=0,
                )
                if label == ANCHOR:
                    poller.batch_size = 1
                self.anchor_pollers[label] = poller
        for poller in self.anchor_pollers.values():
            poller.drain(rounds=20 * leads + 100)

    def _feed(self, poller: Any, expected: int) -> int:
        """Every message of the poller's queue to its function, one per invocation; how many there were."""
        seen, deadline = 0, time.monotonic() + 30
        while time.monotonic() < deadline:
            messages = poller._receive(10, 1 if seen < expected else 0)
            if not messages:
                if seen >= expected:
                    break
                continue
            for message in messages:
                if poller.process([message]):
                    raise RuntimeError(f"{poller.function} failed a record")
            seen += len(messages)
        if seen < expected:
            raise RuntimeError(f"{poller.function}: {seen} of {expected} messages arrived")
        return seen

    def _queue_depth(self, url: str) -> int:
        attributes = self.raw_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def _per_lead(
        self, leads: int, ids: list[tuple[str, str, str]], *, tf_calls: int, events_delivered: int, callback_sends: int
    ) -> dict[str, Any]:
        from local.provision import function_settings

        meter = self.meter
        functions = {}
        for name, trigger in TRIGGERS.items():
            timings = meter.cpu_ms.get(name, [])
            settings = function_settings(name)
            functions[name] = {
                "trigger": trigger,
                "memory_mb": settings.memory_size,
                "architecture": settings.architecture,
                "invocations": len(timings) / leads,
                "cpu_ms": round(_median(timings), 2) if timings else 0.0,
                "log_bytes": round(meter.log_bytes[name] / leads, 1),
                "trustedform_calls": meter.http_calls[name]["trustedform"] / leads,
                "callbacks": meter.http_calls[name]["callback"] / leads,
                "write_units": meter.writes[name] / leads,
                "write_units_by_call": {op: n / leads for op, n in sorted(meter.writes_by_call[name].items())},
                "read_units": meter.reads[name] / leads,
                "calls": {op: n / leads for op, n in sorted(meter.calls[name].items())},
            }
        lead_ids = [lead_id for lead_id, _, _ in ids]
        return {
            "leads": leads,
            "functions": functions,
            "events_published": sum(meter.events.values()) / leads,
            "rule_deliveries": {"LeadEventsRule": events_delivered / leads, "CallbackRule": callback_sends / leads},
            "trustedform": {"calls": tf_calls / leads, "operations": self._operations(lead_ids) / leads},
            "stored_bytes": round(self._stored_bytes(ids) / leads, 1),
            "anchoring": self._anchoring(leads),
        }

    def _anchoring(self, leads: int) -> dict[str, Any]:
        """AnchorFunction per lead and per batch (cost_model.anchoring_lines), from its two readers."""
        from local.provision import function_settings

        meter, batches = self.meter, self.anchor_batches
        single, batched = batches[ANCHOR], batches[ANCHOR_BATCHED]
        if sum(single) != sum(batched) or not single:
            raise RuntimeError(f"AnchorFunction: {sum(single)} writes one by one, {sum(batched)} in batches")
        cpu = split_batch_and_entry(meter.cpu_ms[ANCHOR], sum(meter.cpu_ms[ANCHOR_BATCHED]), len(batched), sum(batched))
        objects = self.anchor_objects[ANCHOR_BATCHED]
        size = split_batch_and_entry(
            [float(n) for n in self.anchor_objects[ANCHOR]], sum(objects), len(objects), sum(batched)
        )
        settings = function_settings(ANCHOR)
        return {
            "memory_mb": settings.memory_size,
            "architecture": settings.architecture,
            "entries": sum(single) / leads,
            "batch_cpu_ms": round(cpu[0], 3),
            "entry_cpu_ms": round(cpu[1], 3),
            "log_bytes_per_batch": round(meter.log_bytes[ANCHOR] / len(single), 1),
            "calls_per_batch": {op: n / len(batched) for op, n in sorted(meter.calls[ANCHOR_BATCHED].items())},
            "object_bytes_per_batch": round(size[0], 1),
            "object_bytes_per_entry": round(size[1], 1),
            "measured_entries_per_batch": round(sum(batched) / len(batched), 1),
        }

    def _operations(self, lead_ids: list[str]) -> int:
        """What TrustedForm billed these leads: each lead's own count (judgement.billed_operations)."""
        from tf_retainer import wiring

        reader = wiring.lead_table().reader
        return sum(lead.tf_operations for lead in (reader.get_lead(lead_id) for lead_id in lead_ids) if lead)

    def _stored_bytes(self, ids: list[tuple[str, str, str]]) -> int:
        """Bytes these leads keep in the table and its indexes: every item naming one of their ids (the
        lead's, its certificate's, the vendor's lead id), whatever the store's key layout."""
        names = {name for triple in ids for name in triple}
        total = 0
        for page in self.raw.get_paginator("scan").paginate(TableName=self.provisioned.table_name):
            for item in page["Items"]:
                keys = " ".join(str(value) for name, value in item.items() if name.endswith(("pk", "sk")))
                if not any(name in keys for name in names):
                    continue
                total += item_size(item) + cost_model.DYNAMODB_ITEM_OVERHEAD
                total += sum(
                    index.entry_size(item) + cost_model.DYNAMODB_ITEM_OVERHEAD
                    for index in self.indexes
                    if index.holds(item)
                )
        return total


def split_batch_and_entry(one_each: list[float], total: float, batches: int, entries: int) -> tuple[float, float]:
    """(per batch, per entry) of a quantity measured on one-entry batches (``one_each``: a batch's and an
    entry's) and as ``total`` over ``batches`` batches carrying ``entries``. With no batch of more than one
    entry, all of it counts per entry (nothing shared: the dearer reading)."""
    one = _median(one_each)
    if entries <= batches:
        return 0.0, one
    per_entry = min(one, max(0.0, (total - batches * one) / (entries - batches)))
    return one - per_entry, per_entry


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


# --------------------------------------------------------------------------- the report


def bill(measured: dict[str, Any], prices: dict[str, Any], inputs: cost_model.Inputs) -> dict[str, Any]:
    """Every path of one mode's measurement, billed."""
    return {path: cost_model.bill_path(paths, prices, inputs) for path, paths in measured["paths"].items()}


def report(
    mode: str, billed: dict[str, Any], prices: dict[str, Any], inputs: cost_model.Inputs, rules: str = "enforce"
) -> list[str]:
    """The cost table of one mode: a row per line item, a column per path (dollars, then what they buy)."""
    width = 36
    out = [
        f"$ per million realistic leads, RETAIN_MODE={mode}, rules: {rules} "
        f"({prices['region']}, prices as of {prices['as_of']}; "
        f"an AWS call {inputs.aws_call_ms:.0f} ms, TrustedForm {inputs.trustedform_ms:.0f} ms, "
        f"the vendor's callback URL {inputs.callback_ms:.0f} ms, "
        f"{inputs.entries_per_anchor_batch:g} chain entries' writes per anchor batch):",
        f"  {'':<46}" + "".join(f"{path:<{width}}" for path in billed),
    ]
    keys = list(dict.fromkeys(line["key"] for bill_ in billed.values() for line in bill_["lines"]))
    for key in keys:
        found = [next((line for line in b["lines"] if line["key"] == key), None) for b in billed.values()]
        label = next(line["label"] for line in found if line)
        cells = [
            f"{line['dollars']:>7.2f}  {line['detail']:<{width - 9}}" if line else f"{'-':>7}" + " " * (width - 7)
            for line in found
        ]
        out.append(f"  {label:<46}" + "".join(cells))

    def row(label: str, values: list[str]) -> str:
        return f"  {label:<46}" + "".join(f"{value:>7}" + " " * (width - 7) for value in values)

    paths = list(billed.values())
    out.append(row("AWS total", [f"{b['aws_per_million']:.2f}" for b in paths]))
    out.append(row("+ X-Ray when Tracing=Active", [f"{b['xray_per_million_when_active']:.2f}" for b in paths]))
    out.append(row("TrustedForm calls per lead", [f"{b['trustedform_calls']:.2f}" for b in paths]))
    out.append(row("TrustedForm operations billed per lead", [f"{b['trustedform_operations']:.2f}" for b in paths]))
    if inputs.trustedform_usd_per_operation is not None:
        out.append(row("TrustedForm $ per million", [f"{b['trustedform_per_million']:.2f}" for b in paths]))
    out.append(row("storage, KB per lead (table + indexes)", [f"{b['stored_bytes'] / 1024:.1f}" for b in paths]))
    out.append(
        row("storage, $ per million per month held", [f"{b['storage_per_million_per_month']:.2f}" for b in paths])
    )
    out.append(row("anchors, KB per lead (S3 Standard)", [f"{b['anchor_bytes'] / 1024:.2f}" for b in paths]))
    out.append(
        row(
            "anchors, $ per million per month held", [f"{b['anchor_storage_per_million_per_month']:.3f}" for b in paths]
        )
    )
    return out


def load_prices() -> dict[str, Any]:
    return dict(json.loads(PRICES.read_text()))


def inputs_from(args: argparse.Namespace, prices: dict[str, Any]) -> cost_model.Inputs:
    price = args.trustedform_usd_per_operation
    if price is None:
        price = prices["trustedform"]["usd_per_operation"]
    return cost_model.Inputs(
        aws_call_ms=args.aws_call_ms,
        trustedform_ms=args.trustedform_ms,
        callback_ms=args.callback_ms,
        leads_per_authorizer_call=args.leads_per_authorizer_call,
        records_per_batch=args.records_per_batch,
        entries_per_anchor_batch=args.entries_per_anchor_batch,
        xray_sampled=args.xray_sampled,
        trustedform_usd_per_operation=price,
    )


def add_input_flags(parser: argparse.ArgumentParser) -> None:
    defaults = cost_model.Inputs()
    parser.add_argument("--aws-call-ms", type=float, default=defaults.aws_call_ms, help="an AWS call's round trip")
    parser.add_argument("--trustedform-ms", type=float, default=defaults.trustedform_ms, help="TrustedForm's")
    parser.add_argument("--callback-ms", type=float, default=defaults.callback_ms, help="the vendor's callback answer")
    parser.add_argument("--leads-per-authorizer-call", type=float, default=defaults.leads_per_authorizer_call)
    parser.add_argument("--records-per-batch", type=float, default=defaults.records_per_batch)
    parser.add_argument(
        "--entries-per-anchor-batch",
        type=float,
        default=defaults.entries_per_anchor_batch,
        help="chain entries' writes per AnchorFunction batch (AnchorBatchSize on a busy stream; quieter: rate x 10 s)",
    )
    parser.add_argument("--xray-sampled", type=float, default=defaults.xray_sampled, help="fraction traced when on")
    parser.add_argument(
        "--trustedform-usd-per-operation",
        type=float,
        default=None,
        help="TrustedForm's price per billed operation (your contract's; default: prices.json's, none)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=30, help="leads per path")
    parser.add_argument("--mode", choices=(*MODES, "both"), default=DEFAULT_MODE, help="RETAIN_MODE (both: each)")
    parser.add_argument("--rules", choices=RULE_MODES, default="enforce", help="the walkthrough rules' mode")
    add_input_flags(parser)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    prices = load_prices()
    inputs = inputs_from(args, prices)
    results = {}
    for mode in MODES if args.mode == "both" else (args.mode,):
        measured = measure(args.leads, mode, args.rules)
        results[mode] = {"measured": measured, "billed": bill(measured, prices, inputs)}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for mode, result in results.items():
        print("\n".join(report(mode, result["billed"], prices, inputs, rules=args.rules)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
