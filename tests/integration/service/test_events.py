"""Every file in events/ through its real handler, in-process (moto + the simulator): the answer is what a
user of ``sam local invoke -e events/<file>`` expects. Also checks events/env.json against the template."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local.functions import invoke
from local.provision import load_template
from local.simulator import make_web_cert_id
from local.stack import DEFAULT_VENDOR_KEY, DEFAULT_VENDOR_NAME
from tests.support.stack import lead

EVENTS = Path(__file__).resolve().parents[3] / "events"
LEAD_ID_PLACEHOLDER = "REPLACE_WITH_A_PENDING_LEAD_ID"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def proxy_answer(result: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return result["statusCode"], json.loads(result["body"])


# --------------------------------------------------------------------------------------------- API


def test_every_event_file_is_covered_here():
    covered = {
        "api-post-lead.json",
        "api-post-lead-bad-url.json",
        "api-post-lead-form.json",
        "api-get-lead.json",
        "api-get-lead-contactable.json",
        "authorizer-request.json",
        "authorizer-request-unknown-key.json",
        "sqs-retry.json",
        "sqs-retry-batch-with-poison.json",
        "schedule-sweep.json",
        "dynamodb-stream-retained.json",
        "env.json",
    }
    assert {path.name for path in EVENTS.iterdir()} == covered


@pytest.mark.parametrize("name", ["api-post-lead.json", "api-post-lead-bad-url.json", "api-post-lead-form.json"])
def test_api_events_carry_what_our_authorizer_provides(name):
    event = load(name)
    assert event["requestContext"]["authorizer"]["vendor"] == DEFAULT_VENDOR_NAME
    assert event["headers"]["x-api-key"] == DEFAULT_VENDOR_KEY
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/leads"


def test_good_lead_is_retained(stack):
    status, answer = proxy_answer(invoke("IntakeFunction", load("api-post-lead.json")))
    assert (status, answer["status"]) == (201, "retained"), answer
    assert answer["vendor_lead_id"] == "V-1001"
    [sent] = stack.sim.requests
    assert sent["body"]["retain"]["vendor"] == DEFAULT_VENDOR_NAME  # from requestContext.authorizer


def test_bad_certificate_url_is_refused(stack):
    status, answer = proxy_answer(invoke("IntakeFunction", load("api-post-lead-bad-url.json")))
    assert (status, answer["status"], answer["reason"]) == (422, "rejected", "invalid_certificate_url")
    assert stack.sim.requests == []


def test_form_encoded_post_is_retained(stack):
    event = load("api-post-lead-form.json")
    assert event["isBase64Encoded"] is True
    status, answer = proxy_answer(invoke("IntakeFunction", event))
    assert (status, answer["status"]) == (201, "retained"), answer
    assert answer["vendor_lead_id"] == "V-1002"
    # Jornaya's form field, the lead's second consent record, kept as Jornaya spells it
    assert stack.lead_state(answer["lead_id"])["leadid_token"] == "A1C2860F-25EA-4937-BC78-222D8C227789"


def test_get_of_an_unknown_lead_is_404(stack):
    status, answer = proxy_answer(invoke("IntakeFunction", load("api-get-lead.json")))
    assert (status, answer["reason"]) == (404, "lead_not_found")


def test_get_of_a_posted_lead(stack):
    _, posted = proxy_answer(invoke("IntakeFunction", load("api-post-lead.json")))
    event = load("api-get-lead.json")
    event["path"] = f"/leads/{posted['lead_id']}"
    event["pathParameters"] = {"lead_id": posted["lead_id"]}
    status, view = proxy_answer(invoke("IntakeFunction", event))
    assert (status, view["status"]) == (200, "retained")


def test_call_gate_of_an_unknown_lead_is_404(stack):
    status, answer = proxy_answer(invoke("IntakeFunction", load("api-get-lead-contactable.json")))
    assert (status, answer["reason"]) == (404, "lead_not_found")


def test_call_gate_of_a_posted_lead(stack):
    _, posted = proxy_answer(invoke("IntakeFunction", load("api-post-lead.json")))
    event = load("api-get-lead-contactable.json")
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/leads/{lead_id}/contactable"
    event["path"] = f"/leads/{posted['lead_id']}/contactable"
    event["pathParameters"] = {"lead_id": posted["lead_id"]}
    # An email: no calling hours govern it, whatever the time this runs at.
    event["queryStringParameters"] = {"channel": "email"}
    event["multiValueQueryStringParameters"] = {"channel": ["email"]}
    status, answer = proxy_answer(invoke("IntakeFunction", event))
    assert (status, answer["contactable"], answer["channel"]) == (200, True, "email"), answer


# ---------------------------------------------------------------------------------------- authorizer


def test_authorizer_allows_a_registered_vendor(stack):
    stack.vendor_keys.put(DEFAULT_VENDOR_KEY, DEFAULT_VENDOR_NAME, now=datetime.now(UTC))
    decision = invoke("AuthorizerFunction", load("authorizer-request.json"))
    assert decision["principalId"] == DEFAULT_VENDOR_NAME
    assert decision["context"] == {"vendor": DEFAULT_VENDOR_NAME}
    assert decision["usageIdentifierKey"] == DEFAULT_VENDOR_KEY
    assert [s["Effect"] for s in decision["policyDocument"]["Statement"]] == ["Allow"]


def test_authorizer_denies_a_revoked_key(stack):
    from tf_retainer.store.keys import key_hash

    stack.vendor_keys.put(DEFAULT_VENDOR_KEY, DEFAULT_VENDOR_NAME, now=datetime.now(UTC))
    stack.vendor_keys.set_active(key_hash(DEFAULT_VENDOR_KEY), False, now=datetime.now(UTC))
    decision = invoke("AuthorizerFunction", load("authorizer-request.json"))
    assert [s["Effect"] for s in decision["policyDocument"]["Statement"]] == ["Deny"]
    assert decision["context"]["reason"] == "vendor_key_revoked"  # the 403's body (ACCESS_DENIED template)


def test_authorizer_denies_a_suspended_vendor_with_its_own_reason(stack):
    from tf_retainer.store.keys import key_hash

    stack.vendor_keys.put(DEFAULT_VENDOR_KEY, DEFAULT_VENDOR_NAME, now=datetime.now(UTC))
    digest = key_hash(DEFAULT_VENDOR_KEY)
    stack.vendor_keys.set_suspended(digest, suspended=True, reason="audit", actor="alice", now=datetime.now(UTC))
    decision = invoke("AuthorizerFunction", load("authorizer-request.json"))
    assert [s["Effect"] for s in decision["policyDocument"]["Statement"]] == ["Deny"]
    assert decision["context"] == {"vendor": DEFAULT_VENDOR_NAME, "reason": "vendor_suspended"}

    stack.vendor_keys.set_suspended(digest, suspended=False, reason=None, actor="alice", now=datetime.now(UTC))
    decision = invoke("AuthorizerFunction", load("authorizer-request.json"))
    assert [s["Effect"] for s in decision["policyDocument"]["Statement"]] == ["Allow"]
    assert decision["context"] == {"vendor": DEFAULT_VENDOR_NAME}


def test_authorizer_refuses_an_unknown_key(stack):
    with pytest.raises(Exception, match=r"^Unauthorized$"):  # API Gateway answers 401
        invoke("AuthorizerFunction", load("authorizer-request-unknown-key.json"))


# ----------------------------------------------------------------------------------------------- SQS


def pending_lead(stack) -> str:
    """A lead whose first attempt met a 503: pending, its attempt 2 due; TrustedForm answers next."""
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", "success"])
    response = stack.post(lead(cert_id))
    assert (response.status, response.json()["status"]) == (202, "pending")
    return response.json()["lead_id"]


def with_lead(event: dict[str, Any], lead_id: str) -> dict[str, Any]:
    for record in event["Records"]:
        if LEAD_ID_PLACEHOLDER in record["body"]:
            record["body"] = record["body"].replace(LEAD_ID_PLACEHOLDER, lead_id)
            record["md5OfBody"] = hashlib.md5(record["body"].encode(), usedforsecurity=False).hexdigest()
    return event


def invoke_retry(event: dict[str, Any]) -> Any:
    try:
        return invoke("RetryFunction", event)
    except NotImplementedError:
        pytest.skip("functions/retry/app.py is still a stub (raises NotImplementedError)")


def attempts(stack, lead_id: str) -> int:
    return len(stack.reader.read_lead(lead_id).exchanges)


def test_sqs_event_files_are_sqs_lambda_events():
    for name in ("sqs-retry.json", "sqs-retry-batch-with-poison.json"):
        for record in load(name)["Records"]:
            assert record["eventSource"] == "aws:sqs"
            assert record["md5OfBody"] == hashlib.md5(record["body"].encode(), usedforsecurity=False).hexdigest()
            assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1


def test_one_retry_message_retains_the_pending_lead(stack):
    lead_id = pending_lead(stack)
    result = invoke_retry(with_lead(load("sqs-retry.json"), lead_id))
    assert result == {"batchItemFailures": []}
    assert stack.lead_state(lead_id)["status"] == "retained"
    assert attempts(stack, lead_id) == 2


def test_a_poison_message_fails_alone(stack):
    lead_id = pending_lead(stack)
    event = with_lead(load("sqs-retry-batch-with-poison.json"), lead_id)
    good, poison = event["Records"]
    result = invoke_retry(event)
    assert result == {"batchItemFailures": [{"itemIdentifier": poison["messageId"]}]}
    assert good["messageId"] != poison["messageId"]
    assert stack.lead_state(lead_id)["status"] == "retained"


# ------------------------------------------------------------------------------------------ env.json


def test_env_json_points_the_functions_at_the_local_stack():
    """events/env.json names what `python -m local.stack` builds (MOTO_PORT=5000, SIMULATOR_PORT=8900),
    as seen from a `sam local invoke` container."""
    from moto import mock_aws
    from tf_retainer.runtime.settings import Settings

    from local.provision import provision

    values = load("env.json")["Parameters"]
    with mock_aws():
        provisioned = provision()
    local_env = provisioned.environment()
    assert values["TABLE_NAME"] == provisioned.table_name
    assert values["EVENT_BUS_NAME"] == provisioned.event_bus_name
    assert values["RETRY_QUEUE_URL"].rsplit("/", 2)[-2:] == provisioned.retry_queue_url.rsplit("/", 2)[-2:]
    assert provisioned.secret_id.split(":secret:")[1].startswith(values["TRUSTEDFORM_SECRET_ID"] + "-")
    assert values["AWS_ENDPOINT_URL"] == "http://host.docker.internal:5000"
    assert values["RETRY_QUEUE_URL"].startswith(values["AWS_ENDPOINT_URL"] + "/")
    Settings.from_environ({**local_env, **values})  # TRUSTEDFORM_API_URL on host.docker.internal is accepted

    # sam local invoke only overrides variables the template declares: every other one must be there.
    declared = set(load_template()["Globals"]["Function"]["Environment"]["Variables"])
    assert set(values) - declared <= {"AWS_ENDPOINT_URL"}


def test_the_local_poller_sends_what_the_event_files_show(stack):
    """local.poller builds the SQS event from a real receive: same record shape as events/sqs-retry.json,
    and the real retry function retains the lead from it (the message is then deleted)."""
    from local.poller import RetryPoller

    lead_id = pending_lead(stack)
    seen: list[dict[str, Any]] = []

    def capture(function: str, event: dict[str, Any]) -> Any:
        seen.append(event)
        return invoke_retry(event)

    poller = RetryPoller(stack.provisioned, invoke=capture, wait_seconds=5)
    messages = poller.receive_batch()
    assert len(messages) == 1
    assert poller.process(messages) == []
    [record] = seen[0]["Records"]
    [example] = load("sqs-retry.json")["Records"]
    assert set(record) == set(example)
    assert set(example["attributes"]) <= set(record["attributes"])
    assert record["eventSourceARN"] == stack.provisioned.retry_queue_arn
    assert json.loads(record["body"])["lead_id"] == lead_id
    assert stack.lead_state(lead_id)["status"] == "retained"
    assert stack.queued() == 0


def test_the_stream_event_publishes_the_outcome_its_entry_holds(stack):
    """The shipped record is a real chain entry: published as it is (the publisher reads nothing else);
    an entry a writer would not publish (no `o`) is passed over; a broken image is retried, not dropped."""
    event = load("dynamodb-stream-retained.json")
    [record] = event["Records"]
    assert invoke("PublisherFunction", event) == {"batchItemFailures": []}
    [message] = stack.sqs.receive_message(QueueUrl=stack.provisioned.events_queue_url)["Messages"]
    detail = json.loads(message["Body"])["detail"]
    assert (detail["type"], detail["answer"]["status"]) == ("retained", "retained")
    assert detail["answer"]["lead_id"] == "9f1c2b7e4a5d4c3b8e6f0a1b2c3d4e5f"

    broken = json.loads(json.dumps(record))
    broken["dynamodb"]["NewImage"]["b"]["B"] = "AQ=="  # the format byte, then nothing
    sequence = record["dynamodb"]["SequenceNumber"]
    assert invoke("PublisherFunction", {"Records": [broken]}) == {"batchItemFailures": [{"itemIdentifier": sequence}]}


def test_the_scheduled_sweep_event_runs_the_sweeper(stack):
    report = invoke("SweeperFunction", load("schedule-sweep.json"))
    assert report == {"overdue": 0, "recovered": [], "rolled_forward": [], "skipped": 0, "failed": [], "revisit": 0}
