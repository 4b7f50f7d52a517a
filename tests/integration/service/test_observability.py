"""Observability against what the code really does: scenarios run through the in-process stack, and the
EMF lines (CloudWatch embedded metric format) they print are compared with the dashboard and the alarms
in template.yaml; the same run's logs are checked for secrets, contact details and correlation keys."""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from tf_retainer import wiring
from tf_retainer.runtime.clock import iso
from tf_retainer.store import keys

from local.poller import RetryPoller
from local.provision import load_template
from local.simulator import make_web_cert_id
from tests.support.stack import EMAIL, PHONE, TF_API_KEY, VENDOR, lead

NAMESPACE = "TfRetainer"
SEARCH = re.compile(r"SEARCH\(\s*'\{([^}]*)\}\s*MetricName=\"([^\"]+)\"")


@dataclass
class Run:
    emitted: dict[str, set[frozenset[str]]] = field(default_factory=dict)  # metric -> dimension-key sets
    emf_lines: list[dict[str, Any]] = field(default_factory=list)
    logs: str = ""
    lead_ids: list[str] = field(default_factory=list)
    cert_ids: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)


class BrokenQueue:
    def send(self, message: Any, *, now: Any) -> str:
        raise RuntimeError("SQS is down")


def sqs_event(stack, body: dict[str, Any]) -> dict[str, Any]:
    """The event the retry function gets for one delivery of ``body`` (built by the local poller)."""
    message = {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": "handle",
        "Body": json.dumps(body),
        # what SQS attaches to every delivery
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795300000000",
            "ApproximateFirstReceiveTimestamp": "1795300000100",
            "SenderId": "AIDAEXAMPLE",
        },
        "MD5OfBody": "",
    }
    return RetryPoller(stack.provisioned).event([message])


def table_times_out(**_: Any) -> None:
    raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


def vendor_index_times_out(params: dict[str, Any], **_: Any) -> None:
    if params.get("IndexName") == keys.VENDOR_INDEX:
        table_times_out()


def run_scenarios(stack, monkeypatch, capfd, service_logs, screen_sims) -> Run:
    """Every outcome the service knows, through the gateway and the real handlers."""
    from aws_lambda_powertools.metrics.provider import cold_start
    from tf_retainer.wiring import default_deps

    from local.functions import invoke

    cold_start.is_cold_start = True  # this run's first invocation counts as a cold start
    run = Run()
    posted = []

    def post(body, **kwargs):
        response = stack.post(body, **kwargs)
        answer = response.json()
        posted.append(answer)
        return answer

    def scripted(*behaviours: str) -> str:
        cert_id = make_web_cert_id()
        stack.sim.script(cert_id, list(behaviours))
        return cert_id

    retained = post(lead(lead_id="OBS-1"))  # retained
    post(lead(lead_id="OBS-1"))  # duplicate lead_id
    post(lead(retained["cert_id"]))  # certificate reused (rejected)
    post(lead(retained["cert_id"]), key=stack.add_vendor("vendor-b"))  # another vendor's certificate
    post(lead(scripted("not_found")))  # rejected by TrustedForm
    post(lead(scripted("match_failure")))  # lead match failure (rejected)
    post(lead(scripted("masked")))  # masked, accepted
    post(lead(scripted("unauthorized", "unauthorized")))  # account error (pending)
    pending = post(lead(scripted("unavailable")))  # pending
    post(lead(trustedform_cert_url="https://evil.example/x"))  # refused at the door
    # The table does not answer a reservation (a read timeout, every try): 503, send again.
    table = wiring.dynamodb()
    table.meta.events.register_first("before-send.dynamodb.PutItem", table_times_out, unique_id="t")
    try:
        assert stack.post(lead()).status == 503
    finally:
        table.meta.events.unregister("before-send.dynamodb.PutItem", unique_id="t")

    # The retry worker: the pending lead's next attempt (retained), then the same message again.
    message = {"lead_id": pending["lead_id"], "attempt": 2, "not_before": iso(default_deps().clock())}
    invoke("RetryFunction", sqs_event(stack, message))
    invoke("RetryFunction", sqs_event(stack, message))  # a duplicate delivery

    # SQS refuses the retry message; once it is overdue, the sweeper hands the lead back to the queue.
    queue = default_deps().retry_queue
    monkeypatch.setattr(default_deps(), "retry_queue", BrokenQueue())
    post(lead(scripted("unavailable")))
    monkeypatch.setattr(default_deps(), "retry_queue", queue)
    clock = default_deps().clock
    later = clock() + timedelta(hours=2)
    monkeypatch.setattr(default_deps(), "clock", lambda: later)
    assert invoke("SweeperFunction", {"source": "aws.scheduler", "detail": {}})["recovered"]
    # A sweep whose reads of the vendor index (the leads as reserved) time out: it ends, and counts the failure.
    even_later = later + timedelta(minutes=15)
    monkeypatch.setattr(default_deps(), "clock", lambda: even_later)
    table.meta.events.register("provide-client-params.dynamodb.Query", vendor_index_times_out, unique_id="v")
    try:
        invoke("SweeperFunction", {"source": "aws.scheduler", "detail": {}})
    finally:
        table.meta.events.unregister("provide-client-params.dynamodb.Query", unique_id="v")
    monkeypatch.setattr(default_deps(), "clock", clock)

    # A rule in shadow mode: the lead is kept, and counted as one the rule would have refused.
    from tf_retainer.decisions.rules import MaxAge, RuleSet
    from tf_retainer.store.rule_sets import RuleStore

    shadow = RuleSet(max_age=MaxAge(max_seconds=900, mode="shadow"))
    RuleStore(stack.provisioned.table_name).publish("*", shadow, actor="test", now=datetime.now(UTC))
    stale = make_web_cert_id()
    stack.sim.script(stale, ["success"], created_at=datetime.now(UTC) - timedelta(hours=2))
    assert post(lead(stale))["status"] == "retained"

    # The screens on (a provider's simulator, its key, the contact key): a vendor whose rules enforce the
    # Do-Not-Call screen; two leads with one number make one call, the second shares its answer.
    from tests.support.screening import KEYS, publish_rules, screening_env
    from tests.support.stack import FAST_RETRIES

    screen_sims.reset()
    env = screening_env(stack, screen_sims, {"dnc": "dncscrub", "leadid": "jornaya"}, FAST_RETRIES)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    screened_key = stack.add_vendor("vendor-screened")
    publish_rules(stack.provisioned.table_name, "vendor-screened", dnc={"mode": "enforce"})
    assert post(lead(), key=screened_key)["status"] == "retained"
    assert post(lead(), key=screened_key)["status"] == "retained"
    assert screen_sims.calls("5125551212")["dncscrub"] == 1
    run.secrets.append(KEYS["dncscrub"])

    # A vendor whose leads may come without a certificate (consent_records enforced with either): one kept on
    # its LeadiD token (audited by Jornaya), then another lead with that token, refused (leadid_reused).
    token_key = stack.add_vendor("vendor-token")
    publish_rules(stack.provisioned.table_name, "vendor-token", consent_records={"required": "either"})
    token = str(uuid.uuid4()).upper()
    without_certificate = {"email": EMAIL, "phone": PHONE, "universal_leadid": token}
    assert post(without_certificate, key=token_key)["kept_on"] == ["jornaya"]
    reused = {**without_certificate, "email": "someone.else@example.com"}
    assert post(reused, key=token_key)["reason"] == "leadid_reused"
    run.secrets.append(KEYS["jornaya"])

    # No attempts left: the lead expires at once.
    monkeypatch.setenv("RETRY_MAX_ATTEMPTS", "1")
    wiring.reset()
    post(lead(scripted("server_error")))

    # The outcomes above, published from the table's stream; the vendor's callback for the lead that left
    # pending: a 503 (retried), then a 404 (given up on); an operator's redrive of it, then delivered.
    import secrets as secret_tokens

    from tf_retainer.store.vendor_callbacks import VendorCallbackStore

    from local.poller import RetryPoller
    from local.receiver import CallbackReceiver
    from local.streams import StreamPoller

    receiver = CallbackReceiver(secret=secret_tokens.token_urlsafe(16)).start()
    try:
        monkeypatch.setenv("CALLBACK_ALLOW_PRIVATE", "true")
        monkeypatch.setenv("CALLBACK_BASE_DELAY_SECONDS", "0")
        wiring.reset()
        store = VendorCallbackStore(
            stack.provisioned.table_name,
            client=stack.dynamodb,
            kms=boto3.client("kms"),
            key_id=stack.provisioned.callback_key_id,
        )
        store.put(VENDOR, receiver.url, receiver.secret, now=datetime.now(UTC))
        receiver.script("503", "404", "200")
        StreamPoller(stack.provisioned, retry_delay_seconds=0).drain()
        # A callback job as CallbackRule delivers it (the scenario's outcomes were all told at intake).
        outcome = {
            "detail-type": "Lead Retained",
            "detail": {"event_id": "obs/1", "vendor": VENDOR, "answer": retained},
        }
        invoke("CallbackFunction", sqs_event(stack, outcome))
        callbacks = RetryPoller(stack.provisioned, "CallbackFunction", queue_url=stack.provisioned.callback_queue_url)
        while messages := callbacks._receive(10, 1):
            callbacks.process(messages)
        [dead] = stack.sqs.receive_message(QueueUrl=stack.provisioned.callback_dlq_url)["Messages"]
        invoke("CallbackFunction", sqs_event(stack, json.loads(dead["Body"])["job"]))  # an operator's redrive
        assert [entry["answered"] for entry in receiver.received] == [503, 404, 200]
    finally:
        receiver.stop()

    # The automatic suspension: vendor-b's one lead was refused, below a 10 % retained floor.
    monkeypatch.setenv("AUTO_SUSPEND_BELOW_RETAINED_PERCENT", "10")
    monkeypatch.setenv("AUTO_SUSPEND_MIN_LEADS", "1")
    wiring.reset()
    assert invoke("AutoSuspendFunction", {"source": "aws.scheduler", "detail": {}})["suspended"] == ["vendor-b"]

    # Consent: a contact reported by the buyer's dialer, the consumer's STOP (in words naming the number),
    # the scheduled run over revocations, and the gate at 03:00 in Austin under shadow calling hours.
    from tf_retainer.decisions.calling import CallingOverride
    from tf_retainer.store.calling_rules import CallingRuleStore

    buyer = secret_tokens.token_urlsafe(24)
    stack.vendor_keys.put(buyer, "crm", now=datetime.now(UTC), role="buyer")
    json_headers = {"x-api-key": buyer, "Content-Type": "application/json"}
    contact = json.dumps({"channel": "call", "outcome": "no_answer"}).encode()
    assert stack.gateway.handle("POST", f"/leads/{retained['lead_id']}/contacts", json_headers, contact).status == 201
    shadow_hours = CallingOverride(modes={"federal_hours": "shadow", "state_hours": "shadow"})
    CallingRuleStore(stack.leads.table).publish(shadow_hours, actor="test", now=datetime.now(UTC))
    night = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 03:00 in Austin
    monkeypatch.setattr(default_deps(), "clock", lambda: night)
    key = {"x-api-key": buyer}
    assert stack.gateway.handle("GET", f"/leads/{retained['lead_id']}/contactable", key, b"").json()["contactable"]
    monkeypatch.setattr(default_deps(), "clock", clock)
    stop = json.dumps({"id": "OBS-STOP", "phone": "512 555 1212", "message": "STOP calling (512) 555-1212"})
    assert stack.gateway.handle("POST", "/revocations", json_headers, stop.encode()).status == 201
    assert invoke("ConsentFunction", {"source": "aws.scheduler", "detail": {}})["overdue"] == []

    captured = capfd.readouterr()
    run.logs = service_logs.getvalue() + captured.out + captured.err
    for line in (captured.out + captured.err).splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or "_aws" not in record:
            continue
        run.emf_lines.append(record)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            for metric in directive["Metrics"]:
                for dimensions in directive["Dimensions"]:
                    run.emitted.setdefault(metric["Name"], set()).add(frozenset(dimensions))
    run.lead_ids = [answer["lead_id"] for answer in posted if answer.get("lead_id")]
    run.cert_ids = [answer["cert_id"] for answer in posted if answer.get("cert_id")]
    run.secrets = [
        *run.secrets,  # the screening providers' keys
        TF_API_KEY,
        base64.b64encode(f"API:{TF_API_KEY}".encode()).decode(),
        stack.vendor_key,
        base64.b64encode(stack.vendor_key.encode()).decode(),
        "Jane.Doe@Example.com",
        "jane.doe@example.com",
        "(512) 555-1212",
        "5125551212",
        "555-1212",
    ]
    return run


# --- the dashboard ------------------------------------------------------------------------------


def _placeholders(value: Any) -> Any:
    """Every intrinsic function (Ref, Fn::...) replaced by a placeholder string."""
    if isinstance(value, dict):
        if len(value) == 1 and (("Ref" in value) or next(iter(value)).startswith("Fn::")):
            return "PLACEHOLDER"
        return {key: _placeholders(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_placeholders(item) for item in value]
    return value


def dashboard_body_from_template() -> dict[str, Any]:
    """The Fn::ToJsonString body with every intrinsic replaced by a placeholder: JSON as written."""
    body = load_template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::ToJsonString"]
    return json.loads(json.dumps(_placeholders(body)))


def deployed_dashboard(stack) -> dict[str, Any]:
    """As provisioned into (moto) CloudWatch from the template, the Sub resolved."""
    out = boto3.client("cloudwatch").get_dashboard(DashboardName=stack.provisioned.dashboard_name)
    return json.loads(out["DashboardBody"])


def dashboard_metrics(body: dict[str, Any]) -> dict[str, set[frozenset[str]]]:
    """TfRetainer metric name -> the dimension-key sets the dashboard graphs it with."""
    found: dict[str, set[frozenset[str]]] = {}
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        previous: list[Any] = []
        for row in widget["properties"]["metrics"]:
            options = row[-1] if row and isinstance(row[-1], dict) else {}
            if "expression" in options:
                for schema, name in SEARCH.findall(options["expression"]):
                    namespace, *dimension_keys = [part.strip() for part in schema.split(",")]
                    if namespace == NAMESPACE:
                        found.setdefault(name, set()).add(frozenset(dimension_keys))
                continue
            parts = [p for p in row if not isinstance(p, dict)]
            parts = [previous[i] if p == "." and i < len(previous) else p for i, p in enumerate(parts)]
            previous = parts
            if parts and parts[0] == NAMESPACE:
                found.setdefault(parts[1], set()).add(frozenset(parts[2::2]))
    return found


def test_dashboard_body_is_valid_json_and_deploys(stack):
    assert dashboard_body_from_template()["widgets"]
    body = deployed_dashboard(stack)
    assert all(widget["x"] + widget["width"] <= 24 for widget in body["widgets"])
    titles = [w["properties"].get("title") for w in body["widgets"]]
    for title in (
        "Alarms",
        "Leads by outcome",
        "Rejections by reason",
        "TrustedForm latency (ms)",
        "Retry queue",
        "Retained leads by vendor",
        "Rejected leads by vendor",
        "Expired leads by vendor (lost to the window)",
    ):
        assert title in titles
    assert "${" not in json.dumps(body)


# The shadow max_age below is judged on the created_at the deployment asks for anyway (a shadow rule never
# adds a property to a call).
@pytest.mark.parametrize("stack_env", [{"INSIGHTS_PROPERTIES": "is_masked,created_at"}])
def test_dashboard_and_emitted_metrics_match(stack, monkeypatch, capfd, service_logs, screen_sims):
    run = run_scenarios(stack, monkeypatch, capfd, service_logs, screen_sims)
    on_dashboard = dashboard_metrics(deployed_dashboard(stack))

    # Every metric the code emitted is graphed, with the same dimensions it is emitted with.
    not_graphed = {
        name: sorted(map(sorted, dims - on_dashboard.get(name, set()))) for name, dims in run.emitted.items()
    }
    assert {name: dims for name, dims in not_graphed.items() if dims} == {}

    # Every TfRetainer metric the dashboard names is one the code emitted.
    phantom = set(on_dashboard) - set(run.emitted)
    assert phantom == set(), "the dashboard graphs metrics nothing emits"

    # The scenarios did cover the list.
    for name in (
        "LeadsReceived",
        "LeadsRetained",
        "LeadsRejected",
        "LeadsPending",
        "LeadsExpired",
        "RejectionsByReason",
        "AccountErrors",
        "TrustedFormLatency",
        "DuplicateLeads",
        "CertificatesReused",
        "LeadidTokensReused",
        "MaskedCertificates",
        "LeadMatchFailures",
        "EnqueueFailures",
        "StoreUnavailable",
        "ColdStart",
        "RetryAttempts",
        "DuplicateDeliveries",
        "VendorLeads",
        "EventsPublished",
        "CallbacksDelivered",
        "CallbackRetries",
        "CallbacksFailed",
        "ScreenCalls",
        "ScreenCost",
        "ScreensShared",
        "RevocationsRecorded",
        "RevocationsHonoured",
        "LeadsRevoked",
        "RevocationHonourTime",
        "RevocationsNotHonoured",
        "ContactsReported",
        "CallingRuleWouldRefuse",
    ):
        assert name in run.emitted, name
    reasons = {line["Reason"] for line in run.emf_lines if "Reason" in line}
    assert {"certificate_reused", "certificate_not_found", "lead_match_failed"} <= reasons


# --- logs ---------------------------------------------------------------------------------------


def test_logs_carry_correlation_keys_and_no_secret(stack, monkeypatch, capfd, service_logs, screen_sims):
    run = run_scenarios(stack, monkeypatch, capfd, service_logs, screen_sims)
    assert run.logs
    for secret in run.secrets:
        assert secret not in run.logs, "a secret or a contact detail is in the logs"
    records = []
    for line in run.logs.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    outcomes = [r for r in records if r.get("message") == "lead outcome"]
    # each names its lead and the consent record it is on: its certificate, or its LeadiD token without one
    assert outcomes and all(r.get("lead_id") and (r.get("cert_id") or r.get("leadid_token")) for r in outcomes)
    assert any(r.get("leadid_token") and not r.get("cert_id") for r in outcomes)
    logged_leads = {r.get("lead_id") for r in records}
    # every lead that got past validation is findable in the logs by its id
    states = [item for item in stack.all_items() if keys.is_state(item)]
    assert states and {s["lead_id"] for s in states} <= logged_leads
    assert set(run.cert_ids) & {r.get("cert_id") for r in records}


# --- alarms -------------------------------------------------------------------------------------

AWS_METRICS = {
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"},
    "AWS/Lambda": {"Errors", "Throttles", "Duration"},
    "AWS/ApiGateway": {"5XXError", "4XXError", "Count", "Latency"},
}


def alarm_metrics(properties: dict[str, Any]) -> list[dict[str, Any]]:
    if "MetricName" in properties:
        keys = ("Namespace", "MetricName", "Dimensions")
        return [{key: properties.get(key, []) for key in keys}]
    return [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]


def test_alarms_watch_emitted_metrics_and_notify_the_topic(stack, monkeypatch, capfd, service_logs, screen_sims):
    run = run_scenarios(stack, monkeypatch, capfd, service_logs, screen_sims)
    resources = load_template()["Resources"]
    alarms = {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    watched = set()
    for logical_id, properties in alarms.items():
        assert {"Ref": "AlarmTopic"} in properties["AlarmActions"], logical_id
        for metric in alarm_metrics(properties):
            namespace, name = metric["Namespace"], metric["MetricName"]
            watched.add(name)
            if namespace == NAMESPACE:
                assert name in run.emitted, f"{logical_id} watches {name}, which nothing emits"
                dims = frozenset(d["Name"] for d in metric["Dimensions"])
                assert dims in run.emitted[name], f"{logical_id}: {name} is not emitted with {sorted(dims)}"
            else:
                assert name in AWS_METRICS[namespace], f"{logical_id}: {namespace} {name}"
                for dimension in metric["Dimensions"]:
                    value = dimension["Value"]
                    if not isinstance(value, dict) or not ("Ref" in value or "Fn::GetAtt" in value):
                        continue
                    ref = value.get("Ref") or value["Fn::GetAtt"][0]
                    if ref != "Stage":
                        assert ref in resources, f"{logical_id} names {ref}, which the template does not have"
    # What the issue asks to be alarmed on.
    for name in ("ApproximateNumberOfMessagesVisible", "AccountErrors", "LeadsExpired", "LeadsRejected", "5XXError"):
        assert name in watched, name
    assert "Throttles" in watched


def test_the_service_defaults_to_the_templates_metrics_namespace():
    """Where POWERTOOLS_METRICS_NAMESPACE is not set (the operator CLI runs the service in-process from any
    shell), the metrics still go to the namespace the dashboard and the alarms read."""
    from tf_retainer.runtime import observability

    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == observability.NAMESPACE == NAMESPACE
