"""Races replayed deterministically: two Lambdas' steps interleaved in one process (moto in-process,
the simulator over loopback). Each test fails on the code before its fix."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tf_retainer.models import LeadSubmission, Status
from tf_retainer.store.leads import LeadStore

from local.simulator import make_web_cert_id
from tests.conftest import VENDOR, lead

# Not imported at collection: tf_retainer.observability reads POWERTOOLS_* once, when the stack set them.


def default_deps() -> Any:
    from tf_retainer.deps import default_deps

    return default_deps()


def submit(body: dict[str, Any], vendor: str = VENDOR) -> Any:
    from tf_retainer import intake

    return intake.submit_lead(default_deps(), vendor=vendor, submission=LeadSubmission.model_validate(body))


def test_two_deliveries_of_a_vendor_lead_whose_certificate_is_taken_get_one_answer(stack, monkeypatch):
    """Both reservations fail on the claim; the second refusal write finds the vendor lead_id taken."""
    cert_id = make_web_cert_id()
    assert stack.post(lead(cert_id, lead_id="OWNER")).status == 201
    other = "other-vendor"
    stack.add_vendor(other)
    body = lead(cert_id, lead_id="DUP-1")
    original = LeadStore.record_refusal
    nested: list[Any] = []

    def refusal_after_the_other_delivery(self: LeadStore, *args: Any, **kwargs: Any) -> Any:
        if not nested:  # the other delivery runs to its end between this one's reservation and refusal
            nested.append(None)
            nested[0] = submit(body, vendor=other)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LeadStore, "record_refusal", refusal_after_the_other_delivery)
    first = submit(body, vendor=other)
    assert (first.status, first.reason) == (Status.REJECTED, "certificate_reused")
    assert first.lead_id == nested[0].lead_id  # one lead for the vendor's lead_id, one answer
    assert len(stack.sim.requests) == 1  # only the owner's retain


def conflict_once(monkeypatch, store: LeadStore, operation: str) -> list[str]:
    """The next call of ``operation`` on the store's client is cancelled by a concurrent transaction."""
    client = store._client
    real = getattr(client, operation)
    raised: list[str] = []

    def conflicting(**kwargs: Any) -> Any:
        if not raised:
            raised.append(operation)
            count = len(kwargs.get("TransactItems", [None]))
            if operation == "transact_write_items":
                reasons = [{"Code": "TransactionConflict", "Message": "conflict"}] + [{"Code": "None"}] * (count - 1)
                error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
                raise ClientError({"Error": error, "CancellationReasons": reasons}, operation)
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "conflict"}}, operation)
        return real(**kwargs)

    monkeypatch.setattr(client, operation, conflicting)
    return raised


def test_a_transaction_conflict_on_the_reservation_is_tried_again(stack, monkeypatch):
    response = stack.post(lead())  # builds the service's clients
    assert response.status == 201
    raised = conflict_once(monkeypatch, default_deps().store, "transact_write_items")
    again = stack.post(lead())
    assert raised == ["transact_write_items"]
    assert again.status == 201, again.json()
    assert again.json()["status"] == "retained"


def test_a_transaction_conflict_on_the_outcome_is_tried_again(stack, monkeypatch):
    assert stack.post(lead()).status == 201
    store = default_deps().store
    original = store.reserve
    armed: list[str] = []

    def reserve_then_conflict(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        armed.extend(conflict_once(monkeypatch, store, "transact_write_items"))  # the outcome write
        return result

    monkeypatch.setattr(store, "reserve", reserve_then_conflict)
    response = stack.post(lead())
    assert response.status == 201, response.json()
    record = stack.store.read_lead(response.json()["lead_id"])
    assert record.lead.status is Status.RETAINED and len(record.exchanges) == 1


@pytest.mark.parametrize("stack_env", [{"SYNC_TIMEOUT_SECONDS": "1.0"}])
def test_a_slow_401_does_not_give_the_second_call_a_fresh_budget(stack):
    """The budget is per invocation: a 401 that took most of it leaves no room for another full call."""
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unauthorized", "success"])
    stack.sim.latency = 0.8
    started = time.monotonic()
    response = stack.post(lead(cert_id))
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 0.5, f"the POST took {elapsed:.2f} s for a 1.0 s budget"
    assert (response.status, response.json()["reason"]) == (202, "account_error")
    assert len(stack.sim.requests) == 1  # no second call without the time to make it
