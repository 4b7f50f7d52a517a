"""GET /leads/{lead_id}/contactable end to end in-process: a lead posted through the local gateway (the
real authorizer and intake handler, moto, the simulator), then the call gate asked about it. The consent
evidence is asked about for an email, which no calling hours govern (the law of the hour, at a fixed
clock: test_consent.py)."""

from __future__ import annotations

import pytest
from tf_retainer.store import keys

from local.simulator import make_web_cert_id
from tests.support.stack import lead


def contactable(stack, lead_id: str, *, key: str | None = None, channel: str = "email"):
    headers = {"x-api-key": key or stack.vendor_key}
    return stack.gateway.handle("GET", f"/leads/{lead_id}/contactable", headers, b"", query={"channel": channel})


def posted(stack, *behaviours: str, **fields) -> dict:
    cert_id = make_web_cert_id()
    if behaviours:
        stack.sim.script(cert_id, list(behaviours))
    return stack.post(lead(cert_id, **fields)).json()


def test_a_retained_lead_is_contactable_by_either_id(stack):
    answer = posted(stack, lead_id="V-7")
    for asked in (answer["lead_id"], "V-7"):
        response = contactable(stack, asked)
        assert response.status == 200
        gate = response.json()
        assert (gate["contactable"], gate["reason"], gate["status"]) == (True, None, "retained")
        assert (gate["lead_id"], gate["vendor_lead_id"]) == (answer["lead_id"], "V-7")


def test_a_pending_lead_is_not_contactable_yet(stack):
    answer = posted(stack, "unavailable")
    assert answer["status"] == "pending"
    gate = contactable(stack, answer["lead_id"]).json()
    assert (gate["contactable"], gate["reason"], gate["lead_reason"]) == (False, "pending", "trustedform_unavailable")


def test_a_rejected_lead_is_not_contactable(stack):
    answer = posted(stack, "not_found")
    gate = contactable(stack, answer["lead_id"]).json()
    assert (gate["contactable"], gate["reason"], gate["lead_reason"]) == (
        False,
        "not_retained",
        "certificate_not_found",
    )


@pytest.mark.parametrize("stack_env", [{"LEAD_MATCH_POLICY": "accept"}])
def test_a_lead_retained_despite_a_failed_match_is_not_contactable(stack):
    answer = posted(stack, "match_failure")
    assert answer["status"] == "retained"  # the policy kept it: the gate still says no
    gate = contactable(stack, answer["lead_id"]).json()
    assert (gate["contactable"], gate["reason"]) == (False, "lead_not_matched")


@pytest.mark.parametrize("stack_env", [{"MASKED_CERTIFICATE_POLICY": "accept"}])
def test_a_masked_certificate_is_contactable_when_masked_ones_are_accepted(stack):
    answer = posted(stack, "masked")
    assert (answer["masked"], answer["lead_match"]["success"]) == (True, False)
    assert contactable(stack, answer["lead_id"]).json()["contactable"] is True


def test_a_retained_lead_whose_exchange_is_gone_is_not_contactable(stack):
    lead_id = posted(stack)["lead_id"]
    assert contactable(stack, lead_id).json()["contactable"] is True
    for item in stack.all_items():  # as if the evidence had been lost
        if item["pk"] == keys.lead_pk(lead_id) and keys.is_entry(item):
            stack.dynamodb.delete_item(
                TableName=stack.provisioned.table_name, Key={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}}
            )
    gate = contactable(stack, lead_id).json()
    assert (gate["contactable"], gate["reason"]) == (False, "evidence_missing")


def test_the_gate_answers_only_the_leads_vendor(stack):
    answer = posted(stack)
    nosy = contactable(stack, answer["lead_id"], key=stack.add_vendor("nosy-vendor"))
    assert (nosy.status, nosy.json()["reason"], nosy.json()["status"]) == (404, "lead_not_found", None)
    unknown = contactable(stack, answer["lead_id"], key="not-a-registered-vendor-key")
    assert (unknown.status, unknown.json()["reason"]) == (401, "unknown_vendor_key")
