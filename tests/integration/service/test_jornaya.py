"""The second consent record through the real intake, retry worker and call gate: a lead's Jornaya LeadiD
token audited by the TCPA Guardian simulator over loopback HTTP, before TrustedForm is asked; its exchange in
the lead's chain (keys and lead data redacted); the ``jornaya`` and ``consent_records`` rules; an outage."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from local.simulator import make_web_cert_id
from tests.support.screening import (
    JORNAYA_AUDIT_KEY,
    KEYS,
    chain_calls,
    gate,
    publish_rules,
    screen_exchanges,
    tf_calls,
)
from tests.support.stack import VENDOR, deliver, later, lead

EMAIL = "Jane.Doe@Example.com"
NUMBER = "5125551212"


def new_token() -> str:
    return str(uuid.uuid4()).upper()


def post(stack, token: str | None, **fields: Any) -> tuple[int, dict[str, Any], str]:
    cert_id = fields.pop("cert_id", None) or make_web_cert_id()
    body = lead(cert_id, **({"universal_leadid": token} if token else {}), **fields)
    response = stack.post(body)
    return response.status, response.json(), cert_id


def audits(stack, token: str) -> list[dict[str, Any]]:
    log = stack.screen_sims.jornaya.requests
    return [r for r in log if (r["route"] or "").lower() == "/singlequery" and token in r["subjects"]]


# --- intake ------------------------------------------------------------------------------------------


def test_a_lead_with_both_records_is_audited_then_retained_each_exchange_in_its_chain(screened):
    publish_rules(screened.provisioned.table_name, consent_records={"required": "both"}, jornaya={"mode": "enforce"})
    token = new_token()
    status, body, cert_id = post(screened, token.lower())  # kept upper case, as Jornaya spells it
    assert status == 201, body
    assert len(audits(screened, token)) == 1 and tf_calls(screened, cert_id) == 1
    [exchange] = screen_exchanges(screened, body["lead_id"])
    assert exchange["provider"] == "jornaya" and exchange["screen"] == "leadid" and exchange["cost"] == 0.01
    assert exchange["response"]["status"] == 200 and f"id={token}" in exchange["request"]["body"]
    # the two keys and the lead data sent for Jornaya's data-integrity check are not in the evidence
    stored = json.dumps(screened.reader.read_lead(body["lead_id"]).exchanges)
    assert KEYS["jornaya"] not in stored and JORNAYA_AUDIT_KEY not in stored
    assert "Example.com" not in exchange["request"]["body"] and NUMBER not in exchange["request"]["body"]
    assert "%5Bemail%5D" in exchange["request"]["body"] or "[email]" in exchange["request"]["body"]
    # Jornaya saw them, so its data-integrity check could compare them
    [sent] = audits(screened, token)
    assert "data=email%3BJane.Doe%40Example.com%7Cphone1%3B5125551212" in sent["body_text"]
    state = screened.lead_state(body["lead_id"])
    assert state["leadid_token"] == token
    assert state["screens"]["leadid"]["findings"]["result"] == "green"
    verdicts = {v["rule"]: v["passed"] for v in state["verdicts"]}
    assert verdicts["consent_records"] is True and verdicts["jornaya"] is True
    # both calls on record before they were sent: Jornaya's, then TrustedForm's
    calls = chain_calls(screened, body["lead_id"])
    assert [call.get("provider") for call in calls] == ["jornaya", None]
    assert gate(screened, body["lead_id"])["contactable"] is True


def test_both_refuses_a_lead_whose_audit_is_red_before_trustedform_is_paid(screened):
    publish_rules(screened.provisioned.table_name, consent_records={"required": "both"})
    token = new_token()
    screened.screen_sims.jornaya.script(token, disclosure="mismatch")  # red under the default audit profile
    status, body, cert_id = post(screened, token)
    assert status == 422 and body["reason"] == "consent_record_missing", body
    assert body["detail"]["result"] == "red" and "disclosure" in body["detail"]["failing"]
    assert tf_calls(screened, cert_id) == 0
    assert gate(screened, body["lead_id"])["contactable"] is False


def test_both_refuses_a_lead_without_a_token_without_asking_anyone(screened):
    publish_rules(screened.provisioned.table_name, consent_records={"required": "both"})
    status, body, cert_id = post(screened, None)
    assert status == 422 and body["reason"] == "consent_record_missing", body
    assert body["detail"]["missing"] == "jornaya"
    assert tf_calls(screened, cert_id) == 0 and not screened.screen_sims.jornaya.requests


def test_a_token_jornaya_does_not_vouch_for_is_refused_with_its_reason(screened):
    publish_rules(screened.provisioned.table_name, jornaya={"mode": "enforce"})
    token = new_token()
    screened.screen_sims.jornaya.script(token, opted_out=True)
    status, body, _ = post(screened, token)
    assert status == 422 and body["reason"] == "jornaya_audit_failed", body
    assert body["detail"]["not_authentic"] == "opted_out"


def test_the_jornaya_rule_refuses_yellow_only_when_the_buyer_asks_for_green(screened):
    token = new_token()
    screened.screen_sims.jornaya.script(token, consent="passive")  # yellow under the default profile
    publish_rules(screened.provisioned.table_name, jornaya={"mode": "enforce"})  # max_result yellow
    assert post(screened, token)[0] == 201
    publish_rules(screened.provisioned.table_name, jornaya={"mode": "enforce", "max_result": "green"})
    status, body, _ = post(screened, token)
    assert status == 422 and body["reason"] == "jornaya_audit_failed" and body["detail"]["result"] == "yellow"


def test_brand_names_go_with_the_audit_and_a_missing_brand_is_named(screened):
    publish_rules(screened.provisioned.table_name, jornaya={"mode": "enforce", "brand_names": ["Acme Solar"]})
    token = new_token()
    screened.screen_sims.jornaya.script(token, brands=["Other Brand"])
    status, body, _ = post(screened, token)
    assert status == 422 and body["detail"]["brand_names_missing"] == ["Acme Solar"], body


def test_a_shadow_jornaya_rule_is_audited_refuses_nothing_and_records_its_verdict(screened):
    publish_rules(screened.provisioned.table_name, jornaya={"mode": "shadow"})
    token = new_token()
    screened.screen_sims.jornaya.script(token, stored=False)
    status, body, _ = post(screened, token)
    assert status == 201, body
    [verdict] = [v for v in screened.lead_state(body["lead_id"])["verdicts"] if v["rule"] == "jornaya"]
    assert verdict["passed"] is False and verdict["mode"] == "shadow"


def test_no_audit_without_a_rule_that_reads_it(screened):
    token = new_token()
    status, body, _ = post(screened, token)
    assert status == 201 and not audits(screened, token)
    assert screened.lead_state(body["lead_id"])["leadid_token"] == token  # kept, for the evidence and later


@pytest.mark.parametrize(
    "fields",
    [{"universal_leadid": "not-a-token"}, {"leadid_token": "1234"}, {"universal_leadid": "A" * 36}],
)
def test_a_malformed_token_is_refused_naming_the_field_and_nothing_is_sent(screened, fields):
    cert_id = make_web_cert_id()
    response = screened.post(lead(cert_id, **fields))
    assert response.status == 422 and response.json()["reason"] == "invalid_leadid_token", response.json()
    assert response.json()["errors"][0]["field"] == "universal_leadid"
    assert tf_calls(screened, cert_id) == 0 and not screened.screen_sims.jornaya.requests


def test_the_input_fields_name_leadid_token_is_accepted_too(screened):
    token = new_token()
    status, body, _ = post(screened, None, leadid_token=token)
    assert status == 201 and screened.lead_state(body["lead_id"])["leadid_token"] == token


# --- faults ------------------------------------------------------------------------------------------


def test_a_jornaya_outage_leaves_the_lead_pending_and_the_retry_recovers_it(screened):
    publish_rules(screened.provisioned.table_name, consent_records={"required": "both"})
    token = new_token()
    screened.screen_sims.jornaya.script(token, ["unavailable", "ok"])
    status, body, cert_id = post(screened, token)
    assert status == 202 and body["reason"] == "screen_unavailable", body
    assert tf_calls(screened, cert_id) == 0  # nothing paid at TrustedForm while the record is unaudited
    assert deliver(screened) == ["retained"]
    exchanges = screen_exchanges(screened, body["lead_id"])
    assert [x["response"]["status"] for x in exchanges] == [503, 200]
    assert [x["cost"] for x in exchanges] == [0.0, 0.01]  # only the answer is billed
    assert tf_calls(screened, cert_id) == 1


def test_a_refused_jornaya_key_is_read_afresh_once_and_the_lead_waits(screened):
    publish_rules(screened.provisioned.table_name, jornaya={"mode": "enforce"})
    screened.screen_sims.jornaya.api_keys = frozenset({"rotated-account-code"})
    token = new_token()
    status, body, _ = post(screened, token)
    assert status == 202 and body["reason"] == "screen_unavailable", body
    assert len(audits(screened, token)) == 2
    assert screened.lead_state(body["lead_id"])["burned_attempts"] == 0


# --- what the gate, the evidence file and the scorecard show -------------------------------------------


def test_the_gate_and_the_evidence_file_name_both_records(screened, tmp_path):
    from tests.support.cli import run

    publish_rules(screened.provisioned.table_name, consent_records={"required": "both"})
    token = new_token()
    status, body, cert_id = post(screened, token)
    assert status == 201, body
    records = gate(screened, body["lead_id"])["facts"]["consent_records"]
    assert records["trustedform"] == {"cert_id": cert_id, "retained": True}
    assert records["jornaya"]["token"] == token and records["jornaya"]["audit"]["result"] == "green"

    code, out, _ = run(screened, "evidence", body["lead_id"], "-o", "-")
    assert code == 0
    document = json.loads(out)
    second = document["second_consent_record"]
    assert second["leadid_token"] == token and second["audit"]["findings"]["authentic"] is True
    # the audit's raw exchange is in the file, found by the call id the record names
    [exchange] = [x for x in document["exchanges"] if x.get("call_id") == second["audit"]["call_id"]]
    assert exchange["provider"] == "jornaya"
    # and the section is checked like the others: edited, verify names it
    document["second_consent_record"]["audit"]["findings"]["result"] = "red"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    code, out, _ = run(screened, "verify", str(edited))
    assert code == 1 and "second_consent_record" in out, out


def test_an_answered_audit_is_not_asked_again_when_trustedform_is_retried(screened):
    """Jornaya bills each audit: a lead whose audit was answered and whose TrustedForm call failed is
    retried at TrustedForm only."""
    publish_rules(screened.provisioned.table_name, consent_records={"required": "both"}, jornaya={"mode": "enforce"})
    token, cert_id = new_token(), make_web_cert_id()
    screened.sim.script(cert_id, ["unavailable", "success"])
    status, body, _ = post(screened, token, cert_id=cert_id)
    assert status == 202 and body["reason"] == "trustedform_unavailable", body
    assert deliver(screened) == ["retained"]
    assert [r["status"] for r in audits(screened, token)] == [200]


def test_the_vendor_report_counts_the_tokens_and_the_audits_by_result(screened):
    from tests.support.cli import run

    publish_rules(screened.provisioned.table_name, jornaya={"mode": "enforce"})
    red = new_token()
    screened.screen_sims.jornaya.script(red, disclosure="mismatch")
    for token in (new_token(), red, None):
        post(screened, token)
    code, out, _ = run(screened, "vendors", "report", "--since", "1h")
    assert code == 0 and "LeadiD tokens 2; Jornaya's audits green=1 red=1" in out, out


class Killed(BaseException):
    """The invocation's process killed (a Lambda timeout, an out-of-memory): nothing after it runs."""


def test_an_audit_answered_before_its_caller_died_is_taken_from_the_chain_not_bought_again(screened, monkeypatch):
    """The audit's answer goes into the chain with TrustedForm's request, before TrustedForm is called; if the
    process dies then, the lead's state never learns it: the next attempt reads it from the chain."""
    from tf_retainer.domain.retry_message import RetryMessage
    from tf_retainer.leads import retry
    from tf_retainer.providers.trustedform import client
    from tf_retainer.wiring import default_deps

    publish_rules(screened.provisioned.table_name, consent_records={"required": "both"})
    token = new_token()

    def die(*args: Any, **kwargs: Any) -> Any:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(client, "send", die)  # after TrustedForm's request went on record: the process dies
        with pytest.raises(Killed):
            post(screened, token, lead_id="V-killed")
    lead_id = screened.reader.find_vendor_lead(VENDOR, "V-killed")
    assert "leadid" not in (screened.lead_state(lead_id).get("screens") or {})  # the state never learnt it
    moment = later(monkeypatch, timedelta(minutes=5))  # the dead invocation's lease has run out
    message = RetryMessage(lead_id=lead_id, attempt=1, not_before=moment)  # the sweeper's, for a dead intake
    assert retry.retry_lead(default_deps(), message) == "retained"
    assert [r["status"] for r in audits(screened, token)] == [200]  # asked once, paid once
    state = screened.lead_state(lead_id)
    assert state["screens"]["leadid"]["findings"]["result"] == "green"
    # judged on it, as if it had been asked now
    assert {v["rule"]: v.get("passed") for v in state["verdicts"]}["consent_records"] is True
