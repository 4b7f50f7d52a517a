"""The cost model (bench/cost.py measures, bench/cost_model.py bills): DynamoDB's sizing rules, what is
metered, and the bill's arithmetic line by line on a hand-made measurement."""

from __future__ import annotations

import json
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from local.capacity import Index, item_size, number_size, units_of_write
from tests.support.bench import BENCH, bench_module


@pytest.fixture(scope="module")
def cost() -> ModuleType:
    return bench_module("cost")


@pytest.fixture(scope="module")
def model() -> ModuleType:
    return bench_module("cost_model")


# The write-unit rules moto's answers are filled with (local/capacity.py): what make cost and make bench
# read back as ConsumedCapacity.


def test_sizes_follow_dynamodb_rules() -> None:
    assert item_size({"pk": {"S": "LEAD#1"}}) == 2 + 6
    assert item_size({"n": {"N": "12345"}}) == 1 + 4  # 1 byte per 2 significant digits, + 1
    assert number_size("-0.001200") == 2  # leading and trailing zeroes do not count
    assert item_size({"b": {"B": b"\x00" * 10}, "t": {"BOOL": True}}) == (1 + 10) + (1 + 1)
    assert item_size({"b": {"B": "AAAAAAAAAAAAAA=="}}) == 1 + 10  # base64 in a request's JSON: decoded size
    # a map or list: 3 bytes, and 1 byte per element on top of its names and values
    assert item_size({"m": {"M": {"ab": {"S": "xyz"}}}}) == 1 + 3 + (2 + 3 + 1)
    assert item_size({"l": {"L": [{"S": "x"}, {"NULL": True}]}}) == 1 + 3 + (1 + 1) + (1 + 1)


def item(size_bytes: int, **keys: str) -> dict[str, Any]:
    body = {name: {"S": value} for name, value in keys.items()}
    filler = size_bytes - sum(len(n) + len(v) for n, v in keys.items()) - len("x")
    return {**body, "x": {"S": "a" * filler}}


def test_write_units_per_started_kb_twice_in_a_transaction_and_per_index() -> None:
    indexes = [Index("gsi2pk", "gsi2sk", keys_only=False)]
    small, large = item(1024, pk="p", sk="s"), item(1025, pk="p", sk="s")
    assert units_of_write(None, small, indexes, transaction=False) == 1
    assert units_of_write(None, large, indexes, transaction=False) == 2
    assert units_of_write(large, small, indexes, transaction=False) == 2  # the larger of before and after
    assert units_of_write(None, small, indexes, transaction=True) == 2  # a transaction's item counts twice
    opened = item(600, pk="p", sk="s", gsi2pk="OPEN#1", gsi2sk="a")
    moved = item(600, pk="p", sk="s", gsi2pk="OPEN#1", gsi2sk="b")
    assert units_of_write(None, opened, indexes, transaction=False) == 1 + 1  # the item enters the index
    assert units_of_write(opened, moved, indexes, transaction=False) == 1 + 2  # its key moves: delete + put
    assert units_of_write(opened, item(600, pk="p", sk="s"), indexes, transaction=False) == 1 + 1  # it leaves
    assert units_of_write(opened, opened, indexes, transaction=False) == 1  # in it, nothing changed


def test_a_keys_only_index_is_written_only_when_its_keys_change_at_the_size_of_the_keys() -> None:
    indexes = [Index("gsi3pk", "gsi1sk", keys_only=True)]
    indexed = item(3000, pk="p", sk="s", gsi3pk="EMAIL#f", gsi1sk="t#p")
    updated = item(3500, pk="p", sk="s", gsi3pk="EMAIL#f", gsi1sk="t#p")
    assert units_of_write(None, indexed, indexes, transaction=True) == 3 * 2 + 1  # a small keys-only entry
    assert units_of_write(indexed, updated, indexes, transaction=True) == 4 * 2  # keys unchanged: not written
    backfilled = units_of_write(item(3000, pk="p", sk="s", gsi1sk="t#p"), indexed, indexes, transaction=False)
    assert backfilled == 3 + 1


def test_read_units_per_started_4kb_halved_when_eventually_consistent(cost: ModuleType) -> None:
    assert cost.Meter.read_units(0, True) == 1
    assert cost.Meter.read_units(4097, True) == 2
    assert cost.Meter.read_units(4097, False) == 1


def test_only_what_a_function_reads_or_writes_is_metered_not_the_bench_reading_leads_back(cost: ModuleType) -> None:
    """The bench reads each lead back after its path (TrustedForm operations, stored bytes): those reads
    were charged to the intake, counting its read units twice."""
    meter = cost.Meter("127.0.0.1:1", "127.0.0.1:2")
    get_item = SimpleNamespace(name="GetItem", service_model=SimpleNamespace(service_name="dynamodb"))
    read = {"Item": {"pk": {"S": "LEAD#1"}, "x": {"S": "a" * 5000}}}
    outside: dict[str, Any] = {}
    meter.before_call(model=get_item, params={"ConsistentRead": True}, context=outside)
    meter.after_call(parsed=read, model=get_item, context=outside)  # the bench's own read
    assert meter.reads == {} and meter.calls == {}
    meter.function = "IntakeFunction"
    inside: dict[str, Any] = {}
    meter.before_call(model=get_item, params={"ConsistentRead": True}, context=inside)
    meter.after_call(parsed=read, model=get_item, context=inside)
    assert meter.reads == {"IntakeFunction": 2.0} and meter.calls["IntakeFunction"] == {"dynamodb:GetItem": 1}


def test_a_write_without_consumed_capacity_inside_a_function_fails_the_run(cost: ModuleType) -> None:
    meter = cost.Meter("127.0.0.1:1", "127.0.0.1:2")
    meter.function = "IntakeFunction"
    with pytest.raises(RuntimeError, match="without ConsumedCapacity"):
        meter.after_call(parsed={}, model=SimpleNamespace(name="PutItem"), context={})


def test_published_events_are_counted_per_entry(cost: ModuleType) -> None:
    """EventBridge bills each event, not each PutEvents call."""
    meter = cost.Meter("127.0.0.1:1", "127.0.0.1:2")
    meter.function = "PublisherFunction"
    put_events = SimpleNamespace(name="PutEvents", service_model=SimpleNamespace(service_name="events"))
    meter.before_call(model=put_events, params={"Entries": [{}, {}, {}]}, context={})
    assert meter.events == {"PublisherFunction": 3} and meter.calls["PublisherFunction"] == {"events:PutEvents": 1}


# ------------------------------------------------------------------------------------ the bill's arithmetic

# Round prices, so each line below is worked out by hand.
PRICES: dict[str, Any] = {
    "dynamodb": {
        "write_request_unit_per_million": 0.625,
        "read_request_unit_per_million": 0.125,
        "storage_gb_month": 0.25,
        "pitr_gb_month": 0.20,
    },
    "lambda": {"requests_per_million": 0.20, "gb_second_arm64": 0.00001, "gb_second_x86_64": 0.00002},
    "api_gateway_rest": {"requests_per_million": 3.50},
    "sqs_standard": {"requests_per_million": 0.40},
    "eventbridge": {"custom_events_per_million": 1.00},
    "secrets_manager": {"api_calls_per_10000": 0.05},
    "xray": {"traces_recorded_per_million": 5.00},
    "cloudwatch": {"logs_ingested_gb": 0.50},
    "s3": {"put_requests_per_1000": 0.005, "standard_gb_month": 0.023},
    "kms": {"requests_per_10000": 0.03},
}


def function(trigger: str, invocations: float = 1.0, cpu_ms: float = 0.0, **more: Any) -> dict[str, Any]:
    # 2,048 MB: a whole vCPU (own time not scaled) and 2 GB (GB-seconds = 2 x seconds).
    return {
        "trigger": trigger,
        "memory_mb": 2048,
        "architecture": "arm64",
        "invocations": invocations,
        "cpu_ms": cpu_ms,
        **more,
    }


def kept_path(**changes: Any) -> dict[str, Any]:
    path = {
        "leads": 10,
        "functions": {
            "AuthorizerFunction": function(
                "authorizer", cpu_ms=6, log_bytes=60, read_units=1.2, calls={"dynamodb:GetItem": 1}
            ),
            "IntakeFunction": function(
                "api",
                cpu_ms=50,
                trustedform_calls=2,
                write_units=16,
                read_units=2,
                log_bytes=1000,
                calls={"dynamodb:PutItem": 2},
            ),
            "PublisherFunction": function("stream", cpu_ms=10, log_bytes=700, calls={"events:PutEvents": 1}),
            "RetryFunction": function("sqs", invocations=0),
            "CallbackFunction": function("sqs", invocations=0),
        },
        "events_published": 1.0,
        "rule_deliveries": {"LeadEventsRule": 1.0, "CallbackRule": 0.0},
        "trustedform": {"calls": 2.0, "operations": 10.0},
        "stored_bytes": 1024**3 / 1_000_000,  # a GB per million leads
        # AnchorFunction: 4 chain entries' writes a lead; a batch costs 20 ms CPU, an S3 PUT and a KMS MAC,
        # 670 B of its own logs and 100 B of its object; each entry 1 ms and a 100 B row
        "anchoring": {
            "memory_mb": 2048,
            "architecture": "arm64",
            "entries": 4.0,
            "batch_cpu_ms": 20.0,
            "entry_cpu_ms": 1.0,
            "log_bytes_per_batch": 670.0,
            "calls_per_batch": {"s3:PutObject": 1.0, "kms:GenerateMac": 1.0},
            "object_bytes_per_batch": 100.0,
            "object_bytes_per_entry": 100.0,
        },
    }
    path.update(changes)
    return path


def dollars(bill: dict[str, Any]) -> dict[str, float]:
    return {line["key"]: line["dollars"] for line in bill["lines"]}


def test_every_line_of_a_kept_lead(model: ModuleType) -> None:
    inputs = model.Inputs(aws_call_ms=5, trustedform_ms=500, leads_per_authorizer_call=60)
    bill = model.bill_path(kept_path(), PRICES, inputs)
    lines = dollars(bill)
    assert lines["dynamodb:writes"] == pytest.approx(16 * 0.625)
    assert lines["dynamodb:reads"] == pytest.approx((2 + 1.2 / 60) * 0.125)  # the authorizer's read, shared
    # the sweeper reads each lead's state once as its watermark passes (half a unit), 1.4 times (its margin)
    assert lines["dynamodb:sweeper"] == pytest.approx(0.7 * 0.125)
    # (50 ms CPU + 2 DynamoDB calls x 5 ms + 2 TrustedForm calls x 500 ms) x 2 GB x $0.00001 a GB-second,
    # a million times; + a million requests
    assert lines["lambda:IntakeFunction"] == pytest.approx(1.060 * 2 * 0.00001 * 1e6 + 0.20)
    # once per 60 leads: 6 ms CPU + its GetItem's 5 ms
    authorizer = (6 + 5) / 60 / 1000 * 2 * 0.00001 * 1e6 + 0.20 / 60
    assert lines["lambda:AuthorizerFunction"] == pytest.approx(authorizer, abs=1e-6)
    assert lines["lambda:PublisherFunction"] == pytest.approx((0.010 + 0.005) * 2 * 0.00001 * 1e6 + 0.20)
    assert lines["lambda:RetryFunction"] == lines["lambda:CallbackFunction"] == 0
    assert lines["apigateway"] == 3.50
    assert lines["sqs:LeadEventsRule"] == pytest.approx(0.40)  # the example rule's send
    assert lines["sqs:CallbackRule"] == lines["sqs:functions"] == lines["sqs:event_sources"] == 0
    assert lines["eventbridge"] == pytest.approx(1.00)
    # the evidence anchors, 100 entries a batch: the lead's 4 entries are 0.04 of a batch; (0.04 x 20 ms
    # of the batch's CPU + 4 x 1 ms of the entries' + 0.04 x 2 calls x 5 ms) x 2 GB x $0.00001, a million
    # times; + 0.04 of a million requests
    assert lines["lambda:AnchorFunction"] == pytest.approx((0.8 + 4 + 0.4) / 1000 * 2 * 0.00001 * 1e6 + 0.04 * 0.20)
    assert lines["s3:anchors"] == pytest.approx(0.04 * 1e6 / 1000 * 0.005)  # $0.20
    assert lines["kms:anchors"] == pytest.approx(0.04 * 1e6 / 10_000 * 0.03)  # $0.12
    # logged: the access log line 480 B + each function's own (the authorizer's shared) + 330 B of
    # Lambda's lines per billed invocation; the anchoring's per batch
    logged = 480 + (60 / 60 + 1000 + 700) + 330 * (1 / 60 + 1 + 1) + 0.04 * (670 + 330)
    assert lines["cloudwatch:logs"] == pytest.approx(logged * 1e6 / 1024**3 * 0.50, rel=1e-3)
    assert bill["aws_per_million"] == pytest.approx(sum(lines.values()), abs=1e-3)
    assert bill["storage_per_million_per_month"] == pytest.approx(0.45)
    # the anchors: 4 rows of 100 B + 0.04 of an object's own 100 B, in S3 Standard
    assert bill["anchor_bytes"] == pytest.approx(404)
    assert bill["anchor_storage_per_million_per_month"] == pytest.approx(404 * 1e6 / 1024**3 * 0.023, abs=1e-4)
    assert bill["xray_per_million_when_active"] == 5.00
    assert (bill["trustedform_calls"], bill["trustedform_operations"]) == (2.0, 10.0)


def test_own_time_is_scaled_to_the_cpu_share_lambda_gives_the_memory(model: ModuleType) -> None:
    small = function("api", cpu_ms=100, memory_mb=512)
    line = model.lambda_line("IntakeFunction", small, PRICES, model.Inputs())
    own_on_lambda = 100 * 1769 / 512  # a whole vCPU at 1,769 MB
    assert line.dollars == pytest.approx(own_on_lambda / 1000 * 0.5 * 0.00001 * 1e6 + 0.20)
    assert "346 ms CPU" in line.detail  # 100 x 1,769 / 512 = 345.5


def test_a_retried_lead_pays_its_queue_and_the_callback_path(model: ModuleType) -> None:
    path = kept_path(rule_deliveries={"LeadEventsRule": 1.0, "CallbackRule": 1.0})
    path["functions"]["IntakeFunction"]["calls"] = {"sqs:SendMessage": 1.0}  # the retry message
    path["functions"]["RetryFunction"] = function("sqs", cpu_ms=40, trustedform_calls=1)
    path["functions"]["CallbackFunction"] = function("sqs", cpu_ms=5, callbacks=1)
    inputs = model.Inputs(aws_call_ms=0, trustedform_ms=500, callback_ms=200)
    lines = dollars(model.bill_path(path, PRICES, inputs))
    assert lines["sqs:functions"] == pytest.approx(0.40)
    assert lines["sqs:event_sources"] == pytest.approx(2 * 2 * 0.40)  # receive + delete, for each function
    assert lines["sqs:CallbackRule"] == pytest.approx(0.40)
    assert lines["lambda:RetryFunction"] == pytest.approx(0.540 * 2 * 0.00001 * 1e6 + 0.20)
    assert lines["lambda:CallbackFunction"] == pytest.approx(0.205 * 2 * 0.00001 * 1e6 + 0.20)


def test_records_per_batch_shares_invocations_and_polls_not_the_work(model: ModuleType) -> None:
    path = kept_path()
    path["functions"]["RetryFunction"] = function("sqs", cpu_ms=40)
    one, ten = (dollars(model.bill_path(path, PRICES, model.Inputs(records_per_batch=n))) for n in (1, 10))
    work = 0.040 * 2 * 0.00001 * 1e6
    assert one["lambda:RetryFunction"] == pytest.approx(work + 0.20)
    assert ten["lambda:RetryFunction"] == pytest.approx(work + 0.20 / 10)
    assert ten["sqs:event_sources"] == pytest.approx(one["sqs:event_sources"] / 10)
    assert ten["lambda:IntakeFunction"] == one["lambda:IntakeFunction"]  # not queue-fed


def test_a_quiet_stream_anchors_each_entry_alone_and_pays_a_put_a_mac_and_an_invocation_for_each(
    model: ModuleType,
) -> None:
    quiet, busy = (
        dollars(model.bill_path(kept_path(), PRICES, model.Inputs(aws_call_ms=5, entries_per_anchor_batch=n)))
        for n in (1, 100)
    )
    assert quiet["s3:anchors"] == pytest.approx(4 * 5.00) and quiet["kms:anchors"] == pytest.approx(4 * 3.00)
    # 4 batches: (4 x 20 + 4 x 1 + 4 x 2 x 5 ms) x 2 GB x $0.00001 x a million + 4 x $0.20
    assert quiet["lambda:AnchorFunction"] == pytest.approx(0.124 * 2 * 0.00001 * 1e6 + 4 * 0.20)
    assert busy["s3:anchors"] == pytest.approx(quiet["s3:anchors"] / 100)  # shared by a batch's entries
    assert busy["kms:anchors"] == pytest.approx(quiet["kms:anchors"] / 100)
    assert busy["lambda:IntakeFunction"] == quiet["lambda:IntakeFunction"]  # nothing else batched by it


def test_the_default_anchor_batch_is_the_templates_anchor_batch_size(model: ModuleType) -> None:
    from local.provision import load_template

    parameters = load_template()["Parameters"]
    assert model.Inputs().entries_per_anchor_batch == parameters["AnchorBatchSize"]["Default"]


def test_a_batch_and_an_entry_are_told_apart_from_one_entry_batches_and_full_ones(cost: ModuleType) -> None:
    # one-entry batches cost 12 each (10 the batch's, 2 the entry's); 2 batches of 50 entries: 2 x 10 + 100 x 2
    assert cost.split_batch_and_entry([12.0, 11.0, 12.0, 13.0], 220.0, 2, 100) == pytest.approx((10.0, 2.0))
    # no batch of more than one entry: nothing is known to be shared, all of it counts per entry
    assert cost.split_batch_and_entry([12.0], 24.0, 2, 2) == (0.0, 12.0)
    # noise never makes either part negative
    assert cost.split_batch_and_entry([12.0], 10.0, 1, 50) == (12.0, 0.0)
    assert cost.split_batch_and_entry([12.0], 5000.0, 1, 50) == (0.0, 12.0)


def test_anchorfunctions_s3_and_kms_calls_are_counted_under_its_label(cost: ModuleType) -> None:
    meter = cost.Meter("127.0.0.1:1", "127.0.0.1:2")
    meter.function = cost.ANCHOR_BATCHED
    for service, operation in (("s3", "PutObject"), ("kms", "GenerateMac")):
        model = SimpleNamespace(name=operation, service_model=SimpleNamespace(service_name=service))
        meter.before_call(model=model, params={}, context={})
    assert meter.calls == {cost.ANCHOR_BATCHED: {"s3:PutObject": 1, "kms:GenerateMac": 1}}


def test_trustedform_dollars_only_at_a_stated_price(model: ModuleType) -> None:
    unpriced = model.bill_path(kept_path(), PRICES, model.Inputs())
    priced = model.bill_path(kept_path(), PRICES, model.Inputs(trustedform_usd_per_operation=0.002))
    assert unpriced["trustedform_per_million"] is None
    assert priced["trustedform_per_million"] == pytest.approx(10 * 0.002 * 1e6)
    assert priced["aws_per_million"] == unpriced["aws_per_million"]  # TrustedForm is beside AWS, not in it


def test_prices_file_names_its_region_date_and_a_source_for_every_price() -> None:
    prices = json.loads((BENCH / "prices.json").read_text())
    assert prices["region"] == "us-east-1" and prices["as_of"] and prices["currency"] == "USD"
    sections = {name: value for name, value in prices.items() if isinstance(value, dict) and name != "sources"}
    assert set(sections) == set(prices["sources"])
    numbers = [value for name, section in sections.items() if name != "trustedform" for value in section.values()]
    assert numbers and all(isinstance(n, int | float) and n > 0 for n in numbers)
    # TrustedForm bills by contract: an input, unset (operations printed) or a positive price.
    stated = prices["trustedform"]["usd_per_operation"]
    assert stated is None or stated > 0
