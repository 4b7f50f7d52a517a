"""The template grants each function every DynamoDB action its code calls (moto enforces no IAM, so a
missing grant would only show in AWS): the calls are recorded while the real handlers run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.functions import invoke
from local.provision import load_template
from local.simulator import make_web_cert_id
from tests.support.stack import lead
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


@pytest.fixture
def calls(stack) -> Iterator[list[str]]:
    """The DynamoDB operations the service's shared client makes (functions run in this process)."""
    from tf_retainer import wiring

    made: list[str] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
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
def test_every_dynamodb_call_of_intake_retry_and_sweeper_is_granted(stack, calls):
    from local.poller import RetryPoller

    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", "unavailable", "success"])
    posted = stack.post(lead(cert_id)).json()
    assert posted["status"] == "pending"
    assert set(calls) <= table_actions("IntakeFunction"), calls
    calls.clear()

    poller = RetryPoller(stack.provisioned, wait_seconds=2)
    messages = stack.next_retry_messages()
    assert messages and poller.process(messages) == []
    assert "dynamodb:Query" in calls  # the chain's end, before the step is written
    assert set(calls) <= table_actions("RetryFunction"), calls
    check_after = datetime.fromisoformat(stack.lead_state(posted["lead_id"])["check_after"].replace("Z", "+00:00"))
    calls.clear()

    time.sleep(max(0.0, (check_after - datetime.now(UTC)).total_seconds()) + 0.2)  # overdue (next attempt + grace)
    report = invoke("SweeperFunction", SCHEDULED)
    assert report["recovered"] == [posted["lead_id"]]
    assert set(calls) <= table_actions("SweeperFunction"), calls
