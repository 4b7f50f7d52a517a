"""Leads kept on their LeadiD token alone (issue 25) through the real intake, retry worker, sweeper, call gate
and evidence file: no ``trustedform_cert_url``, the vendor's ``consent_records`` rule enforced with ``jornaya``
or ``either``, the token audited by the TCPA Guardian simulator over loopback HTTP, TrustedForm never called."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.support.screening import gate, publish_rules, screen_exchanges
from tests.support.stack import EMAIL, PHONE, VENDOR, deliver, later, lead


def new_token() -> str:
    return str(uuid.uuid4()).upper()


def tokened(token: str, **fields: Any) -> dict[str, Any]:
    """A lead with a LeadiD token and no certificate URL."""
    return {"email": EMAIL, "phone": PHONE, "universal_leadid": token, **fields}


def post(stack, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = stack.post(body)
    return response.status, response.json()


def audits(stack, token: str) -> list[dict[str, Any]]:
    log = stack.screen_sims.jornaya.requests
    return [r for r in log if (r["route"] or "").lower() == "/singlequery" and token in r["subjects"]]


def take_token_alone(stack, required: str = "either", **more: Any) -> None:
    publish_rules(stack.provisioned.table_name, consent_records={"required": required}, **more)


# --- kept on the token -----------------------------------------------------------------------------------


def test_under_either_a_lead_without_a_certificate_is_kept_on_its_token_and_trustedform_never_called(screened):
    take_token_alone(screened, "either")
    token = new_token()
    status, body = post(screened, tokened(token.lower()))
    assert status == 201 and body["status"] == "retained", body
    assert body["cert_id"] is None and body["certificate_url"] is None
    assert body["leadid_token"] == token and body["kept_on"] == ["jornaya"]
    assert screened.sim.requests == []  # no call, so no API key sent
    assert len(audits(screened, token)) == 1
    [exchange] = screen_exchanges(screened, body["lead_id"])
    assert exchange["provider"] == "jornaya" and exchange["response"]["status"] == 200
    state = screened.lead_state(body["lead_id"])
    assert "cert_id" not in state and state["leadid_token"] == token and state["rules_passed"] is True
    assert screened.get(body["lead_id"]).json()["kept_on"] == ["jornaya"]  # the lead's JSON says it too


def test_under_either_a_lead_with_a_certificate_is_retained_as_before_without_an_audit(screened):
    take_token_alone(screened, "either")
    token = new_token()
    status, body = post(screened, lead(None, universal_leadid=token))
    assert status == 201 and body["kept_on"] == ["trustedform"], body
    assert audits(screened, token) == [] and len(screened.sim.requests) == 1


def test_under_jornaya_a_red_audit_is_refused_and_nothing_asked_of_trustedform(screened):
    take_token_alone(screened, "jornaya")
    token = new_token()
    screened.screen_sims.jornaya.script(token, disclosure="mismatch")  # red under the default audit profile
    status, body = post(screened, tokened(token))
    assert status == 422 and body["reason"] == "consent_record_missing", body
    assert body["detail"]["result"] == "red" and body["kept_on"] is None
    assert screened.sim.requests == []
    assert gate(screened, body["lead_id"])["contactable"] is False


def test_a_yellow_audit_keeps_the_record_but_an_enforced_jornaya_rule_refuses_it_with_its_reason(screened):
    take_token_alone(screened, "either", jornaya={"mode": "enforce", "max_result": "green"})
    token = new_token()
    screened.screen_sims.jornaya.script(token, consent="passive")  # yellow under the default audit profile
    status, body = post(screened, tokened(token))
    assert status == 422 and body["reason"] == "jornaya_audit_failed" and body["detail"]["result"] == "yellow", body
    assert screened.sim.requests == []


def test_a_token_jornaya_does_not_vouch_for_is_refused_as_a_missing_record(screened):
    take_token_alone(screened, "jornaya")
    token = new_token()
    screened.screen_sims.jornaya.script(token, opted_out=True)
    status, body = post(screened, tokened(token))
    assert status == 422 and body["reason"] == "consent_record_missing", body
    assert body["detail"]["not_authentic"] == "opted_out" and screened.sim.requests == []


# --- faults: pending, retried, swept ---------------------------------------------------------------------


def test_a_jornaya_outage_leaves_the_lead_pending_then_the_retry_worker_keeps_it(screened):
    take_token_alone(screened, "either")
    token = new_token()
    screened.screen_sims.jornaya.script(token, ["unavailable", "ok"])
    status, body = post(screened, tokened(token))
    assert status == 202 and body["status"] == "pending" and body["reason"] == "screen_unavailable", body
    assert deliver(screened) == ["retained"]
    state = screened.lead_state(body["lead_id"])
    assert state["status"] == "retained" and state["attempts"] == 2
    assert [x["response"]["status"] for x in screen_exchanges(screened, body["lead_id"])] == [503, 200]
    assert screened.sim.requests == []
    assert screened.get(body["lead_id"]).json()["kept_on"] == ["jornaya"]


def test_even_under_fail_open_a_lead_kept_on_its_token_waits_for_its_audit(screened, monkeypatch):
    from tf_retainer import wiring

    monkeypatch.setenv("SCREEN_FAULT_POLICIES", "jornaya=fail_open")
    wiring.reset()
    take_token_alone(screened, "either")
    token = new_token()
    screened.screen_sims.jornaya.script(token, ["unavailable", "ok"])
    status, body = post(screened, tokened(token))
    assert status == 202 and body["reason"] == "screen_unavailable", body
    assert deliver(screened) == ["retained"]


class Killed(BaseException):
    """The invocation's process killed: nothing after it runs."""


def test_the_sweeper_recovers_a_lead_without_a_certificate_stranded_as_reserved(screened, monkeypatch):
    from tf_retainer.leads import intake
    from tf_retainer.leads import sweep as recovery
    from tf_retainer.wiring import default_deps

    take_token_alone(screened, "jornaya")
    token = new_token()

    def killed(*_: Any, **__: Any) -> None:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(intake, "screen_then_retain", killed)
        with pytest.raises(Killed):
            post(screened, tokened(token, lead_id="STRANDED-1"))
    lead_id = screened.reader.find_vendor_lead(VENDOR, "STRANDED-1")
    assert screened.lead_state(lead_id)["status"] == "received" and audits(screened, token) == []
    later(monkeypatch, timedelta(minutes=5))
    assert recovery.sweep(default_deps()).recovered == [lead_id]
    assert deliver(screened, wait=False) == ["retained"]
    record = screened.reader.read_lead(lead_id)
    assert record.lead.kept_on() == ["jornaya"] and len(audits(screened, token)) == 1
    assert screened.sim.requests == []


# --- one lead per token ----------------------------------------------------------------------------------


def test_a_token_another_lead_holds_is_refused_and_the_vendor_s_repeat_gets_the_first_answer(screened):
    from tests.support.cli import run

    take_token_alone(screened, "either")
    token = new_token()
    first_status, first = post(screened, tokened(token))
    assert first_status == 201, first
    # the same vendor posting the same lead again (its answer lost): the first lead's answer
    status, repeat = post(screened, tokened(token))
    assert status == 201 and repeat["lead_id"] == first["lead_id"] and repeat["kept_on"] == ["jornaya"]
    # another lead with the same token: refused, and Jornaya not asked again
    status, other = post(screened, tokened(token, email="someone.else@example.com", phone="5125550000"))
    assert status == 422 and other["reason"] == "leadid_reused" and other["lead_id"] != first["lead_id"], other
    assert len(audits(screened, token)) == 1
    claim = screened.reader.read_leadid(token).claim
    assert claim.lead_id == first["lead_id"] and claim.reuse_attempts == 1 and claim.reused_by == [other["lead_id"]]
    # the operator sees it: the token's claim, the vendor's report
    code, out, _ = run(screened, "cert", "show", token)
    assert code == 0 and f"LeadiD token {token}" in out and first["lead_id"] in out, out
    code, out, _ = run(screened, "vendors", "report", "--since", "1h")
    assert code == 0 and "without a certificate 2, kept on the token 1" in out, out


def emitted_metrics(printed: str) -> set[str]:
    """The metric names in the EMF lines the functions printed."""
    names = set()
    for line in printed.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            names |= {metric["Name"] for metric in directive["Metrics"]}
    return names


def test_a_token_another_vendor_s_lead_holds_is_counted_as_a_token_reused_not_a_certificate(screened, capfd):
    take_token_alone(screened, "either")
    token = new_token()
    assert post(screened, tokened(token))[0] == 201
    capfd.readouterr()
    response = screened.post(tokened(token), key=screened.add_vendor("vendor-b"))
    assert (response.status, response.json()["reason"]) == (422, "leadid_reused")
    emitted = emitted_metrics(capfd.readouterr().out)
    # its own count (graphed on the dashboard), and the cross-vendor one the alarm watches: no certificate reused
    assert {"LeadidTokensReused", "CrossVendorReuse"} <= emitted and "CertificatesReused" not in emitted, emitted


# --- refused as before -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rules",
    [
        {"consent_records": {"required": "either", "mode": "shadow"}},
        {"consent_records": {"required": "jornaya", "mode": "shadow"}},
        {"consent_records": {"required": "jornaya", "mode": "off"}},
    ],
)
def test_without_an_enforced_jornaya_or_either_a_lead_without_a_certificate_is_refused_as_before(screened, rules):
    publish_rules(screened.provisioned.table_name, **rules)
    token = new_token()
    status, body = post(screened, tokened(token))
    assert status == 422 and body["reason"] == "invalid_certificate_url", body
    assert body["errors"] == [{"field": "trustedform_cert_url", "message": "Field required"}]
    assert body["lead_id"] is None and audits(screened, token) == [] and screened.sim.requests == []


def test_a_lead_without_a_certificate_or_a_token_is_refused_as_before_under_either(screened):
    take_token_alone(screened, "either")
    status, body = post(screened, {"email": EMAIL, "phone": PHONE})
    assert status == 422 and body["reason"] == "invalid_certificate_url", body
    assert [e["field"] for e in body["errors"]] == ["trustedform_cert_url"]


# --- what the gate, the evidence file and the CLI show ---------------------------------------------------


def test_the_gate_and_the_evidence_file_name_the_jornaya_record_it_is_kept_on(screened, tmp_path):
    from tests.support.cli import run

    take_token_alone(screened, "either")
    token = new_token()
    status, body = post(screened, tokened(token))
    assert status == 201, body
    answer = gate(screened, body["lead_id"])
    assert answer["contactable"] is True, answer
    records = answer["facts"]["consent_records"]
    assert records["kept_on"] == ["jornaya"] and records["trustedform"] == {"cert_id": None, "retained": False}
    assert records["jornaya"]["token"] == token and records["jornaya"]["audit"]["result"] == "green"

    code, out, _ = run(screened, "evidence", body["lead_id"], "-o", "-")
    assert code == 0, out
    document = json.loads(out)
    assert document["kept_on"] == ["jornaya"] and document["certificate"]["cert_id"] is None
    assert document["second_consent_record"]["leadid_token"] == token
    assert document["certificate_record"]["leadid_token"] == token
    assert document["certificate_record"]["claim"]["lead_id"] == body["lead_id"]
    [exchange] = [x for x in document["exchanges"] if x.get("provider") == "jornaya"]
    assert exchange["call_id"] == document["second_consent_record"]["audit"]["call_id"]
    # and the file verifies: its chain starts from the lead's identity without a certificate
    saved = tmp_path / "bundle.json"
    saved.write_text(out)
    code, out, _ = run(screened, "verify", str(saved))
    assert code == 3 and "the chain holds and the content matches" in out, out  # (3: written unsigned)
    code, out, _ = run(screened, "lead", "show", body["lead_id"])
    assert code == 0 and "kept on" in out and "jornaya" in out and "LeadiD token alone" in out, out


def test_the_gate_closes_when_the_audit_s_exchange_is_missing(screened):
    take_token_alone(screened, "either")
    status, body = post(screened, tokened(new_token()))
    assert status == 201, body
    # the lead's state names an audit call the chain does not hold (evidence lost, or a forged state)
    state = screened.lead_state(body["lead_id"])
    state["screens"]["leadid"]["call_id"] = "9.9/forged"
    screened.rewrite_state(body["lead_id"], screens=state["screens"])
    answer = gate(screened, body["lead_id"])
    assert answer["contactable"] is False and answer["reason"] == "evidence_missing", answer


def test_where_the_buyer_relies_on_tokens_a_lead_with_a_certificate_claims_its_token_too(screened):
    """Under consent_records both (or jornaya, either) every lead claims its token: another lead with the same
    token is refused, whether it carries a certificate or not; under trustedform tokens are not claimed."""
    from tests.support.cli import run

    take_token_alone(screened, "both")
    token = new_token()
    status, first = post(screened, lead(None, universal_leadid=token))
    assert status == 201 and first["kept_on"] == ["trustedform", "jornaya"], first
    status, other = post(screened, lead(None, universal_leadid=token, email="someone.else@example.com"))
    assert status == 422 and other["reason"] == "leadid_reused", other
    take_token_alone(screened, "either")
    status, alone = post(screened, tokened(token, email="a.third@example.com"))
    assert status == 422 and alone["reason"] == "leadid_reused", alone
    assert len(screened.sim.requests) == 1 and len(audits(screened, token)) == 1  # the first lead's only
    code, out, _ = run(screened, "evidence", first["lead_id"], "-o", "-")
    assert code == 0, out
    record = json.loads(out)["leadid_record"]
    assert record["leadid_token"] == token and record["claim"]["reuse_attempts"] == 2
    # a buyer that does not rely on tokens: they are not claimed, a lead with its certificate is taken
    take_token_alone(screened, "trustedform")
    status, body = post(screened, lead(None, universal_leadid=token, email="a.fourth@example.com"))
    assert status == 201, body


def test_the_backtest_replays_leads_kept_on_their_token_from_their_stored_audits(screened, tmp_path):
    """`rules test` judges a lead without a certificate on its stored Jornaya audit (no call made), as the live
    path did: a stricter jornaya rule is predicted to refuse the yellow one; the rules that read TrustedForm do
    not apply to such leads, so they are neither judged nor reported as could-not-judge."""
    from tests.support.cli import run_json

    take_token_alone(screened, "either")
    green, yellow = new_token(), new_token()
    screened.screen_sims.jornaya.script(yellow, consent="passive")  # yellow under the default audit profile
    kept = {token: post(screened, tokened(token))[1] for token in (green, yellow)}
    assert {body["status"] for body in kept.values()} == {"retained"}, kept
    audited = len(screened.screen_sims.jornaya.requests)

    candidate = tmp_path / "candidate.json"
    candidate.write_text(
        json.dumps(
            {
                "consent_records": {"required": "either"},
                "jornaya": {"mode": "enforce", "max_result": "green"},
                "max_age": {"mode": "enforce", "max_seconds": 900},
            }
        )
    )
    [vendor] = run_json(screened, "rules", "test", "--file", str(candidate))["vendors"]
    assert len(screened.screen_sims.jornaya.requests) == audited and screened.sim.requests == []
    assert (vendor["leads"], vendor["replayed"], vendor["not_replayed"]) == (2, 2, 0)
    assert vendor["would_refuse_by_reason"] == {"jornaya_audit_failed": 1}
    assert [d["lead_id"] for d in vendor["leads_detail"] if d["change"] == "kept->refused"] == [kept[yellow]["lead_id"]]
    assert vendor["could_not_judge_by_rule"] == {}


def test_a_legal_hold_on_a_lead_without_a_certificate_keeps_its_token_s_claim(screened):
    from tf_retainer.store import keys
    from tf_retainer.store.codec import deserialize, serialize

    from tests.support.cli import run

    take_token_alone(screened, "jornaya")
    token = new_token()
    status, body = post(screened, tokened(token))
    assert status == 201, body
    code, _, err = run(screened, "hold", "set", "--lead", body["lead_id"], "--reason", "Smith v. Acme, 26-cv-0101")
    assert code == 0, err
    out = screened.dynamodb.query(
        TableName=screened.provisioned.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=serialize({":pk": keys.leadid_pk(token)}),
    )
    [claim] = [deserialize(item) for item in out["Items"]]
    assert claim["lead_id"] == body["lead_id"] and "ttl" not in claim and "held_ttl" in claim
