"""The template grants each function every DynamoDB action its code calls (moto enforces no IAM, so a
missing grant would only show in AWS): the calls are recorded while the real handlers run. Every write is
also put to IAM's decision (tests/support/iam.py) with its partition key and attributes, against the
function's role as SAM translates it: the key-family and attribute conditions let the code's own writes
through."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.functions import invoke
from local.provision import load_template
from local.simulator import make_web_cert_id
from tests.support.iam import decide, requests_of
from tests.support.sam import statements_of, translate
from tests.support.stack import buyer_key, lead, post_json, strand
from tests.support.template import actions, function_policies

SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}


def table_actions(function: str) -> set[str]:
    """The DynamoDB actions a function's own policies allow on the table itself (not an index, a stream)."""
    _, found = function_policies(load_template(), function)
    on_table = {"Fn::GetAtt": ["LeadsTable", "Arn"]}
    return {
        action
        for statement in found
        if statement["Effect"] == "Allow" and statement.get("Resource") == on_table
        for action in actions(statement)
    }


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate(load_template())


def assert_writes_allowed(translated: dict[str, Any], function: str, made: list[tuple[str, dict[str, Any]]]) -> None:
    statements = statements_of(translated, function)
    writes = [request for operation, params in made for request in requests_of(operation, params)]
    assert writes, f"{function} wrote nothing"
    for request in writes:
        assert decide(statements, request).allowed, f"{function}: IAM would refuse {request}"


@pytest.fixture
def made(stack) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB call's operation and parameters (functions run in this process)."""
    from tf_retainer import wiring

    seen: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, params))

    events = wiring.dynamodb().meta.events
    events.register("before-parameter-build.dynamodb", record)
    yield seen
    events.unregister("before-parameter-build.dynamodb", record)


def actions_of(calls: list[str]) -> list[str]:
    """The IAM actions of the calls (a read's partition noted apart)."""
    return [call for call in calls if call.count(":") == 1]


@pytest.fixture
def calls(stack) -> Iterator[list[str]]:
    """The DynamoDB operations the service's shared client makes (functions run in this process)."""
    from tf_retainer import wiring

    made: list[str] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("GetItem", "Query"):  # a read: of which partition (a lead's, a rule set's...)
            key = params.get("Key", {}).get("pk") or params.get("ExpressionAttributeValues", {}).get(":pk") or {}
            made.append(f"dynamodb:{model.name}:{str(key.get('S', '?')).split('#')[0]}")
        if model.name != "TransactWriteItems":
            made.append(f"dynamodb:{model.name}")
            return
        # IAM authorises a transaction item by item: Put -> PutItem, Update -> UpdateItem, ...
        names = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        made.extend(f"dynamodb:{names[kind]}" for item in params["TransactItems"] for kind in item)

    events = wiring.dynamodb().meta.events
    events.register("before-parameter-build.dynamodb", record)
    yield made
    events.unregister("before-parameter-build.dynamodb", record)


@pytest.mark.parametrize("stack_env", [{"PENDING_GRACE_SECONDS": "1"}])
def test_every_dynamodb_call_of_intake_retry_and_sweeper_is_granted(stack, calls, made, translated):
    from local.poller import RetryPoller

    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", "unavailable", "success"])
    posted = stack.post(lead(cert_id)).json()
    assert posted["status"] == "pending"
    assert set(actions_of(calls)) <= table_actions("IntakeFunction"), calls
    # A lead refused at once (another lead holds its certificate) writes its first entry in the reservation;
    # a vendor's own lead id names its lead.
    stack.post(lead(cert_id, lead_id="V-REUSED"))
    stack.post(lead(lead_id="V-1"))
    assert_writes_allowed(translated, "IntakeFunction", made)
    calls.clear()
    made.clear()

    poller = RetryPoller(stack.provisioned, wait_seconds=2)
    messages = stack.next_retry_messages()
    assert messages and poller.process(messages) == []
    # Issue 22: a retry reads nothing of the lead but its lease's answer (the chain's end is in the state)
    assert not [call for call in calls if call.endswith(":LEAD")], calls
    assert "dynamodb:Query" not in calls, calls
    assert set(actions_of(calls)) <= table_actions("RetryFunction"), calls
    assert_writes_allowed(translated, "RetryFunction", made)
    made.clear()
    check_after = datetime.fromisoformat(stack.lead_state(posted["lead_id"])["check_after"].replace("Z", "+00:00"))
    calls.clear()

    time.sleep(max(0.0, (check_after - datetime.now(UTC)).total_seconds()) + 0.2)  # overdue (next attempt + grace)
    report = invoke("SweeperFunction", SCHEDULED)
    assert report["recovered"] == [posted["lead_id"]]
    assert set(actions_of(calls)) <= table_actions("SweeperFunction"), calls
    assert_writes_allowed(translated, "SweeperFunction", made)


def test_a_lead_retained_after_its_consumers_revocation_was_honoured_is_granted_its_entry(
    stack, calls, made, translated
):
    """The revocation honoured before the lead came: the intake (retained at once) and the retry worker (a lead
    pending at intake) read the ledger under the lead's consumer tokens, the revocation it finds, and add the
    lead to it, beside its consent_revoked entry."""
    from local.poller import RetryPoller

    revocation = post_json(stack, "/revocations", {"id": "G-1", "phone": "(512) 555-1212"}, buyer_key(stack)).json()
    time.sleep(0.01)  # the leads are received after it was honoured
    calls.clear()
    made.clear()
    at_once = stack.post(lead()).json()
    assert stack.reader.read_lead(at_once["lead_id"]).history[-1].type == "consent_revoked"
    assert "dynamodb:Query:REVOKED" in calls and "dynamodb:GetItem:REVOCATION" in calls, calls
    assert set(actions_of(calls)) <= table_actions("IntakeFunction"), calls
    assert_writes_allowed(translated, "IntakeFunction", made)

    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", "success"])
    pending = stack.post(lead(cert_id)).json()
    assert pending["status"] == "pending"
    calls.clear()
    made.clear()
    messages = stack.next_retry_messages()
    assert messages and RetryPoller(stack.provisioned, wait_seconds=2).process(messages) == []
    assert stack.reader.read_lead(pending["lead_id"]).history[-1].type == "consent_revoked"
    # The retry's reads: the ledger's notices (a Query per token), the revocation, the lead's chain (whether the
    # scheduled run wrote the entry first).
    assert "dynamodb:Query:REVOKED" in calls and "dynamodb:GetItem:REVOCATION" in calls, calls
    assert set(actions_of(calls)) <= table_actions("RetryFunction"), calls
    assert_writes_allowed(translated, "RetryFunction", made)
    from tf_retainer.wiring import default_deps

    stored = default_deps().ledger.get(revocation["revocation_id"])
    assert stored is not None and stored.lead_count == 2
    assert sorted(stored.leads) == sorted([at_once["lead_id"], pending["lead_id"]])


def test_the_sweeper_s_revisit_of_a_lead_it_failed_to_requeue_is_granted(stack, calls, made, translated):
    """A lead on the mark's revisit list: read by id, requeued, taken off the list (the mark put again)."""
    from tf_retainer.ports.leads import Revisit, SweepMark

    received = datetime.now(UTC) - timedelta(hours=3)  # long before the watermark: found on the list only
    strand(stack, "listed", received)
    mark = SweepMark(until=datetime.now(UTC) - timedelta(minutes=5), revisit=(Revisit("listed", received),))
    assert stack.index.save_sweep_mark(mark, read=SweepMark())
    calls.clear()
    made.clear()
    report = invoke("SweeperFunction", SCHEDULED)
    assert report["recovered"] == ["listed"] and stack.index.sweep_mark().revisit == ()
    assert "dynamodb:GetItem:LEAD" in calls and "dynamodb:GetItem:SWEEP" in calls, calls
    assert set(actions_of(calls)) <= table_actions("SweeperFunction"), calls
    assert_writes_allowed(translated, "SweeperFunction", made)


def test_every_write_of_the_hold_function_is_granted(stack, made, translated):
    """A consumer hold set by an operator, then the daily run covering a lead that arrived since: its
    history entry, the covered-lead record, the items taken out of TTL (the lead's, its certificate's)."""
    from tests.support.cli import run

    phone = "(512) 555-0142"
    stack.post(lead(phone=phone, lead_id="H-FIRST"))
    assert run(stack, "hold", "set", "--phone", phone, "--reason", "matter 1")[0] == 0
    stack.post(lead(phone=phone, lead_id="H-LATER"))
    made.clear()
    report = invoke("HoldFunction", SCHEDULED)
    assert len(report["covered"]) == 1
    assert_writes_allowed(translated, "HoldFunction", made)


def test_every_dynamodb_call_of_the_screens_is_granted(screened, calls, made, translated, monkeypatch):
    """The screens on (template.yaml's ScreenResults, when ScreensOn): a provider down at intake (the lease
    on the number's result taken and released), the retry screening it from the sealed number (the shared
    result stored), and the call gate re-scrubbing it 32 days later."""
    from datetime import timedelta

    from tf_retainer.wiring import default_deps

    from local.poller import RetryPoller
    from tests.support.screening import publish_rules

    number = "7075276405"
    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    screened.screen_sims.dncscrub.script(number, ["unavailable", "ok", "ok"])
    posted = screened.post(lead(phone=number)).json()
    assert posted["reason"] == "screen_unavailable", posted
    screen_writes = [params for operation, params in made if operation == "UpdateItem" and "SCREEN#" in str(params)]
    assert screen_writes, "the intake took the number's lease"
    assert set(actions_of(calls)) <= table_actions("IntakeFunction"), calls
    assert_writes_allowed(translated, "IntakeFunction", made)
    calls.clear()
    made.clear()

    messages = screened.next_retry_messages()
    assert messages and RetryPoller(screened.provisioned, wait_seconds=2).process(messages) == []
    assert screened.lead_state(posted["lead_id"])["status"] == "retained"
    assert set(actions_of(calls)) <= table_actions("RetryFunction"), calls
    assert_writes_allowed(translated, "RetryFunction", made)
    calls.clear()
    made.clear()

    later = datetime.now(UTC) + timedelta(days=32)
    monkeypatch.setattr(default_deps(), "clock", lambda: later)
    headers = {"x-api-key": screened.vendor_key}
    answer = screened.gateway.handle("GET", f"/leads/{posted['lead_id']}/contactable", headers, b"").json()
    assert answer["contactable"] is True and screened.screen_sims.dncscrub.count(number) == 3, answer
    assert set(actions_of(calls)) <= table_actions("IntakeFunction"), calls
    assert_writes_allowed(translated, "IntakeFunction", made)


def test_every_dynamodb_call_of_the_consent_function_is_granted_on_the_keys_it_may_touch(stack):
    """Revocations (recorded, applied, finished by the schedule) and a contact report: every call is an
    action ConsentFunction's role allows, writes only under the leading keys its conditions name, queries of
    the table only under the keys it may read, and of the indexes it is granted."""
    from datetime import timedelta

    from tf_retainer import wiring
    from tf_retainer.leads import revocations

    _, statements = function_policies(load_template(), "ConsentFunction")
    leading: dict[str, list[str]] = {}
    for statement in statements:
        condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        for action in actions(statement):
            if condition:
                leading.setdefault(action, []).extend(prefix.rstrip("*") for prefix in condition)
    indexes = {
        str(resource).rsplit("/", 1)[-1].rstrip("}'\"")
        for statement in statements
        if "dynamodb:Query" in actions(statement)
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
        if "index" in str(resource)
    }
    made: list[tuple[str, str]] = []  # (action, partition key or index)

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        name = f"dynamodb:{model.name}"
        if model.name == "TransactWriteItems":
            kinds = {
                "Put": "PutItem",
                "Update": "UpdateItem",
                "Delete": "DeleteItem",
                "ConditionCheck": "ConditionCheckItem",
            }
            for item in params["TransactItems"]:
                for kind, request in item.items():
                    key = request.get("Item") or request.get("Key")
                    made.append((f"dynamodb:{kinds[kind]}", key["pk"]["S"]))
        elif model.name == "Query":
            index = params.get("IndexName")
            pk = next(iter(params["ExpressionAttributeValues"].values()))["S"]
            made.append((name, f"index/{index}" if index else pk))
        else:
            key = params.get("Item") or params.get("Key")
            made.append((name, key["pk"]["S"]))

    posted = stack.post(lead()).json()
    buyer = secrets.token_urlsafe(24)
    stack.vendor_keys.put(buyer, "crm", now=datetime.now(UTC), role="buyer")
    headers = {"x-api-key": buyer, "Content-Type": "application/json"}
    events = wiring.dynamodb().meta.events
    events.register("before-parameter-build.dynamodb", record)
    try:
        contact = {"channel": "call", "outcome": "answered"}
        assert (
            stack.gateway.handle(
                "POST", f"/leads/{posted['lead_id']}/contacts", headers, json.dumps(contact).encode()
            ).status
            == 201
        )
        stop = json.dumps({"id": "G-1", "phone": "512 555 1212", "message": "STOP"}).encode()
        assert stack.gateway.handle("POST", "/revocations", headers, stop).status == 201
        applied = revocations.apply
        revocations.apply = lambda *args, **kwargs: None  # type: ignore[assignment]  # left to the schedule
        try:
            late = json.dumps({"id": "G-2", "email": "jane.doe@example.com"}).encode()
            assert stack.gateway.handle("POST", "/revocations", headers, late).status == 201
        finally:
            revocations.apply = applied
        later = datetime.now(UTC) + timedelta(minutes=20)
        deps = wiring.default_deps()
        clock, deps.clock = deps.clock, lambda: later
        try:
            assert invoke("ConsentFunction", SCHEDULED)["honoured"]
        finally:
            deps.clock = clock
    finally:
        events.unregister("before-parameter-build.dynamodb", record)
    made = [(action, where) for action, where in made if not where.startswith("VENDORKEY#")]  # the authorizer's
    granted = table_actions("ConsentFunction")
    assert made and {action for action, _ in made} <= granted | {"dynamodb:Query"}, made
    for action, where in made:
        if where.startswith("index/"):
            assert where.removeprefix("index/") in indexes, (action, where)
        else:
            assert any(where.startswith(prefix) for prefix in leading[action]), (action, where)


def test_every_call_of_the_anchor_function_is_granted_and_nothing_more(stack):
    """AnchorFunction calls S3 PutObject under anchors/ (its role's one S3 grant; the bucket policy denies it
    to everyone else) and KMS GenerateMac on AnchorKey (granted by the key's policy, to its role alone), and
    nothing else: no table call, no read of an anchor."""
    from tf_retainer import wiring

    from local.streams import ANCHOR_FUNCTION, StreamPoller

    stack.post(lead())
    anchorer = wiring.anchorer()
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((f"{model.metadata['endpointPrefix']}:{model.name}", params))

    clients = (anchorer.store.s3, anchorer.mac.kms)  # type: ignore[attr-defined]
    for client in clients:
        client.meta.events.register("before-parameter-build", record)
    try:
        poller = StreamPoller(stack.provisioned, ANCHOR_FUNCTION, retry_delay_seconds=0)
        poller.drain()
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build", record)
    assert poller.given_up == 0 and seen
    assert {action for action, _ in seen} == {"s3:PutObject", "kms:GenerateMac"}
    for action, params in seen:
        if action == "s3:PutObject":
            assert params["Key"].startswith("anchors/") and params["IfNoneMatch"] == "*"
        else:
            assert params["KeyId"] == stack.provisioned.anchor_key_id
    _, statements = function_policies(load_template(), ANCHOR_FUNCTION)
    s3 = {action for statement in statements for action in actions(statement) if action.startswith("s3:")}
    assert s3 == {"s3:PutObject"}
    key_policy = load_template()["Resources"]["AnchorKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert [s["Principal"] for s in key_policy if s["Action"] == "kms:GenerateMac"] == [
        {"AWS": {"Fn::GetAtt": ["AnchorFunctionRole", "Arn"]}}
    ]
