"""The operator CLI in-process against the `stack` fixture (moto + simulator + local gateway), with an
explicit target (--table/--queue-url/--dlq-url), checking what an operator relies on."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from tf_retainer.runtime.clock import iso
from tf_retainer.store import keys

from local.simulator import make_web_cert_id
from tests.support.cli import assert_no_secrets, run, run_json
from tests.support.stack import VENDOR, lead
from tf_retainer_ops import cli, target
from tf_retainer_ops.bundle import content_digest


def test_lead_show_lists_the_history_in_order(stack):
    posted = stack.post(lead(lead_id="V-7")).json()
    code, out, err = run(stack, "lead", "show", posted["lead_id"])
    assert code == 0, err
    assert "retained" in out and posted["cert_id"] in out and "V-7" in out
    history = out.split("history:\n", 1)[1].splitlines()
    # The call's request is on record before it went (calling), then its answer (attempt) and the outcome.
    steps = ["received", "calling", "attempt", "retained"]
    assert [line.split()[1] for line in history if line.startswith("  ")] == steps

    view = run_json(stack, "lead", "show", posted["lead_id"])
    assert [event["type"] for event in view["history"]] == steps
    assert [event["at"] for event in view["history"]] == sorted(event["at"] for event in view["history"])
    assert view["state"]["status"] == "retained" and view["exchanges"] == 1
    assert "pk" not in view["state"] and "ttl" not in view["state"]
    assert_no_secrets(stack, out, json.dumps(view))


def test_lead_exchanges_show_the_raw_exchange_redacted(stack):
    posted = stack.post(lead()).json()
    code, out, _ = run(stack, "lead", "exchanges", posted["lead_id"])
    assert code == 0
    assert "authorization: Basic [REDACTED]" in out and "< 200" in out
    [exchange] = run_json(stack, "lead", "exchanges", posted["lead_id"])
    assert exchange["request"]["headers"]["authorization"] == "Basic [REDACTED]"
    assert_no_secrets(stack, out)


def test_cert_show_has_the_claim_and_the_reuse_attempt(stack):
    cert_id = make_web_cert_id()
    first = stack.post(lead(cert_id)).json()
    stack.post(lead(cert_id, email="another.consumer@example.com"))  # another lead: certificate_reused
    shown = run_json(stack, "cert", "show", cert_id)
    assert shown["claim"]["lead_id"] == first["lead_id"] and shown["claim"]["status"] == "retained"
    assert [e["type"] for e in shown["history"]] == [
        "received",
        "calling",
        "attempt",
        "retained",
        "received",
        "certificate_reused",
        "rejected",
    ]
    code, out, _ = run(stack, "cert", "show", cert_id)
    assert code == 0 and first["lead_id"] in out


def test_unknown_lead_is_one_line_and_exit_1(stack):
    code, out, err = run(stack, "lead", "show", "no-such-lead")
    assert (code, out) == (1, "")
    assert err.strip() == "tf-retainer: no lead no-such-lead"


def test_evidence_file_has_everything_and_nothing_secret(stack, tmp_path, monkeypatch):
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", "success"])
    posted = stack.post(lead(cert_id, lead_id="V-9", utm_source="search")).json()
    assert posted["status"] == "pending"
    out_file = tmp_path / "ev.json"
    code, out, err = run(stack, "evidence", posted["lead_id"], "-o", str(out_file))
    assert code == 0, err
    assert str(out_file) in out
    text = out_file.read_text()
    evidence = json.loads(text)
    assert evidence["lead_id"] == posted["lead_id"] and evidence["vendor"] == VENDOR
    assert evidence["generated_at"] and evidence["generated_by"]["tool"] == "tf-retainer"
    assert evidence["lead"]["fields"] == {"utm_source": "search"}
    assert set(evidence["lead"]["contact_fingerprints"]) == {"email", "phone"}
    assert evidence["certificate"]["certificate_url"] == f"https://cert.trustedform.com/{cert_id}"
    assert evidence["retain"]["status"] == "pending" and evidence["retain"]["reason"] == "trustedform_unavailable"
    [exchange] = evidence["exchanges"]
    assert exchange["request"]["headers"]["authorization"] == "Basic [REDACTED]"
    assert exchange["response"]["status"] == 503 or exchange["error"]
    assert [e["type"] for e in evidence["history"]] == ["received", "calling", "attempt", "pending"]
    assert all(e["at"] for e in evidence["history"])
    assert evidence["certificate_record"]["claim"]["lead_id"] == posted["lead_id"]
    assert evidence["content_sha256"] == content_digest(evidence)
    assert_no_secrets(stack, text, out)

    # default file name, in the current directory
    monkeypatch.chdir(tmp_path)
    assert run(stack, "evidence", posted["lead_id"])[0] == 0
    assert (tmp_path / f"evidence-{posted['lead_id']}.json").is_file()


def test_a_signed_evidence_file_verifies_and_an_edited_one_does_not(stack, tmp_path):
    key_id = stack.provisioned.evidence_key_id
    posted = stack.post(lead()).json()
    signed = tmp_path / "signed.json"
    code, _, err = run(stack, "--evidence-key-id", key_id, "evidence", posted["lead_id"], "-o", str(signed))
    assert code == 0, err
    assert json.loads(signed.read_text())["signature"]["algorithm"] == "HMAC_SHA_256"
    verdict = run_json(stack, "--evidence-key-id", key_id, "verify", str(signed))
    assert (verdict["digest_ok"], verdict["signature_ok"], verdict["evidence_key_id"]) == (True, True, key_id)

    # An editor changes what only the signature covers and recomputes the digest: the digest agrees, the
    # signature does not.
    document = json.loads(signed.read_text())
    document["certificate_record"]["claim"]["lead_id"] = "someone-else"
    document["content_sha256"] = content_digest(document)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    code, out, _ = run(stack, "--evidence-key-id", key_id, "verify", str(edited))
    assert code == 1 and "FORGED" in out

    # The outcome changed where the file shows it, the digest recomputed: the state no longer agrees.
    document = json.loads(signed.read_text())
    document["retain"]["status"] = "rejected"
    document["content_sha256"] = content_digest(document)
    edited.write_text(json.dumps(document))
    code, out, _ = run(stack, "--evidence-key-id", key_id, "verify", str(edited))
    assert code == 1 and "EDITED: the retain shown is not what the state holds" in out

    # Without the deployment's key the signature is not checked: not proven (exit 3), never valid.
    code, out, _ = run(stack, "verify", str(signed))
    assert code == 3 and "the target names no evidence key" in out

    # Without a key the file is unsigned, and verify says what that proves (exit 3: not proven).
    unsigned = tmp_path / "unsigned.json"
    code, _, err = run(stack, "evidence", posted["lead_id"], "-o", str(unsigned))
    assert code == 0 and "unsigned" in err
    code, out, _ = run(stack, "--evidence-key-id", key_id, "verify", str(unsigned))
    assert code == 3 and "unsigned" in out


def test_evidence_of_a_retained_lead_has_the_masked_url_and_lead_match(stack, tmp_path):
    posted = stack.post(lead()).json()
    evidence = json.loads(run(stack, "evidence", posted["lead_id"], "-o", "-")[1])
    assert evidence["certificate"]["masked_cert_url"] == posted["masked_cert_url"]
    assert evidence["lead_match"]["success"] is True
    assert evidence["retain"]["expires_at"] == posted["expires_at"]
    assert evidence["certificate_record"]["claim"]["status"] == "retained"


def test_vendors_add_list_revoke(stack):
    added = run_json(stack, "vendors", "add", "newco")
    key = added["api_key"]
    assert len(key) >= 43 and added["key_hint"] == key[-4:]
    assert stack.post(lead(), key=key).status == 201

    code, listing, _ = run(stack, "vendors", "list")
    assert code == 0 and "newco" in listing and VENDOR in listing and key not in listing
    rows = run_json(stack, "vendors", "list")
    assert {row["vendor"]: row["active"] for row in rows} == {VENDOR: True, "newco": True}
    assert all("api_key" not in row and key not in json.dumps(row) for row in rows)

    code, out, err = run(stack, "vendors", "revoke", "newco")
    assert code == 0, err
    assert "revoked 1 key(s)" in out and key not in out
    assert stack.post(lead(), key=key).status == 403
    assert stack.post(lead()).status == 201  # other vendors untouched
    assert {row["vendor"]: row["active"] for row in run_json(stack, "vendors", "list")}["newco"] is False


def test_vendors_revoke_one_key_by_hash(stack):
    first = run_json(stack, "vendors", "add", "twokeys")
    second = run_json(stack, "vendors", "add", "twokeys")
    code, _, err = run(stack, "vendors", "revoke", "twokeys", "--key-hash", first["key_hash"][:12])
    assert code == 0, err
    assert stack.post(lead(), key=first["api_key"]).status == 403
    assert stack.post(lead(), key=second["api_key"]).status == 201


def test_vendors_add_with_a_usage_plan_mirrors_the_key_in_api_gateway(stack):
    apigw = boto3.client("apigateway")
    plan = apigw.create_usage_plan(name="leads-plan")["id"]
    code, out, err = run(stack, "--usage-plan-id", plan, "--json", "vendors", "add", "gatewayco")
    assert code == 0, err
    added = json.loads(out)
    key = apigw.get_api_key(apiKey=added["api_gateway_key_id"], includeValue=True)
    assert key["value"] == added["api_key"] and key["enabled"] is True
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan)["items"]] == [key["id"]]

    code, out, err = run(stack, "--usage-plan-id", plan, "--json", "vendors", "revoke", "gatewayco")
    assert code == 0, err
    assert json.loads(out)["api_gateway_keys_disabled"] == [key["id"]]
    assert apigw.get_api_key(apiKey=key["id"])["enabled"] is False


def test_vendors_add_without_usage_plan_says_so(stack):
    code, _, err = run(stack, "vendors", "add", "plainco")
    assert code == 0 and "no UsagePlanId" in err


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "_leading", "a/b"])
def test_vendors_add_refuses_bad_names(stack, name):
    code, _, err = run(stack, "vendors", "add", name)
    assert code == 2 and err.startswith("tf-retainer: vendor name")


def put_in_dlq(stack, count: int) -> list[str]:
    bodies = [
        json.dumps({"lead_id": f"dead-{n}", "attempt": 3, "not_before": iso(datetime.now(UTC))}) for n in range(count)
    ]
    for body in bodies:
        stack.sqs.send_message(QueueUrl=stack.provisioned.retry_dlq_url, MessageBody=body)
    return bodies


def drain(stack, url: str) -> list[str]:
    bodies = []
    while messages := stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in messages]
        for m in messages:
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def test_dlq_redrive_moves_every_message(stack):
    bodies = put_in_dlq(stack, 13)
    code, out, err = run(stack, "dlq", "redrive")
    assert code == 0, err
    assert "moved 13 message(s)" in out
    assert "batch 1: moved 10 (total 10)" in out and "batch 2: moved 3 (total 13)" in out
    assert drain(stack, stack.provisioned.retry_dlq_url) == []
    assert sorted(drain(stack, stack.provisioned.retry_queue_url)) == sorted(bodies)


def test_dlq_redrive_max_moves_at_most_n(stack):
    put_in_dlq(stack, 5)
    result = run_json(stack, "dlq", "redrive", "--max", "3")
    assert (result["moved"], result["method"]) == (3, "manual")
    assert len(drain(stack, stack.provisioned.retry_queue_url)) == 3
    assert len(drain(stack, stack.provisioned.retry_dlq_url)) == 2


def test_dlq_redrive_of_an_empty_dlq(stack):
    assert run_json(stack, "dlq", "redrive")["moved"] == 0


def age(stack, lead_id: str, **changes: Any) -> None:
    """Rewrite a lead's state as time and a crash would have left it (its open-index keys included)."""
    stack.rewrite_state(lead_id, **changes)


def test_summary_counts_and_stuck_leads_then_requeue(stack):
    now = datetime.now(UTC)
    for _ in range(2):
        assert stack.post(lead()).status == 201
    rejected_cert = make_web_cert_id()
    stack.sim.script(rejected_cert, ["not_found"])
    assert stack.post(lead(rejected_cert)).status == 422
    pending_cert = make_web_cert_id()
    stack.sim.script(pending_cert, ["unavailable"])
    stuck = stack.post(lead(pending_cert)).json()
    assert stack.post(lead(trustedform_cert_url="https://evil.example/x")).status == 422  # never stored
    # The retry message got lost and the lead is an hour late; another lead crashed mid-call.
    stack.sqs.purge_queue(QueueUrl=stack.provisioned.retry_queue_url)
    late = iso(now - timedelta(hours=1))
    age(stack, stuck["lead_id"], next_attempt_at=late, check_after=late)
    crashed = stack.post(lead()).json()
    aged = {"received_at": iso(now - timedelta(minutes=30)), "check_after": iso(now - timedelta(minutes=28))}
    age(stack, crashed["lead_id"], status="received", attempts=0, **aged)
    put_in_dlq(stack, 2)

    summary = run_json(stack, "summary", "--hours", "24")
    assert summary["leads"] == 5
    assert summary["by_status"] == {"retained": 2, "rejected": 1, "pending": 1, "received": 1}
    assert summary["rejections_by_reason"] == {"certificate_not_found": 1}
    assert summary["pending_by_reason"] == {"trustedform_unavailable": 1}
    assert summary["by_vendor"] == {VENDOR: 5}
    assert [lead_["lead_id"] for lead_ in summary["stuck_pending"]] == [stuck["lead_id"]]
    assert [lead_["lead_id"] for lead_ in summary["stuck_received"]] == [crashed["lead_id"]]
    assert summary["dead_letter_queue"]["visible"] == 2
    code, out, _ = run(stack, "summary")
    assert code == 0 and "stuck pending" in out and stuck["lead_id"] in out and crashed["lead_id"] in out

    # a short window still reports the crashed lead: open leads are always looked at
    assert run_json(stack, "summary", "--hours", "0.1")["stuck_received"][0]["lead_id"] == crashed["lead_id"]

    requeueing = datetime.now(UTC)
    code, out, err = run(stack, "requeue", stuck["lead_id"])
    requeued = datetime.now(UTC)
    assert code == 0, err
    assert f"requeued lead {stuck['lead_id']} for attempt 2" in out
    [message] = stack.retry_messages()
    body = json.loads(message["Body"])
    assert body["lead_id"] == stuck["lead_id"] and body["attempt"] == 2
    assert requeueing <= datetime.fromisoformat(body["not_before"].replace("Z", "+00:00")) <= requeued  # at once

    assert run_json(stack, "requeue", crashed["lead_id"])["attempt"] == 1
    code, _, err = run(stack, "requeue", summary["stuck_pending"][0]["lead_id"].replace("a", "b") + "x")
    assert code == 1 and "no lead" in err


def test_requeue_refuses_a_final_lead(stack):
    posted = stack.post(lead()).json()
    code, _, err = run(stack, "requeue", posted["lead_id"])
    assert code == 1 and "is retained" in err
    assert stack.queued() == 0


def test_local_without_a_state_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(target, "REPO_ROOT", tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["--local", "summary"], out=out, err=err) == 2
    assert err.getvalue() == "tf-retainer: local stack not running: start it with make run\n"
    assert out.getvalue() == ""


def test_local_with_a_dead_endpoint_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(target, "REPO_ROOT", tmp_path)
    (tmp_path / ".local-stack").mkdir()
    state = {"endpoint_url": "http://127.0.0.1:9", "region": "us-east-1", "table_name": "t"}
    (tmp_path / ".local-stack" / "state.json").write_text(json.dumps(state))
    err = io.StringIO()
    assert cli.main(["lead", "show", "x", "--local"], out=io.StringIO(), err=err) == 2
    assert err.getvalue().startswith("tf-retainer: local stack not reachable at http://127.0.0.1:9")
    assert "make run" in err.getvalue() and err.getvalue()[-1] == "\n" and err.getvalue().count("\n") == 1


def test_no_target_and_unknown_stack_are_clear_errors(stack, monkeypatch):
    monkeypatch.delenv("TF_RETAINER_STACK", raising=False)
    err = io.StringIO()
    assert cli.main(["summary"], out=io.StringIO(), err=err) == 2
    assert "no target" in err.getvalue()
    err = io.StringIO()
    monkeypatch.setenv("TF_RETAINER_STACK", "no-such-stack")
    assert cli.main(["summary"], out=io.StringIO(), err=err) == 2
    assert err.getvalue() == "tf-retainer: stack no-such-stack not found in us-east-1: check --stack / --region\n"


def test_a_missing_table_is_a_clear_error(stack):
    err = io.StringIO()
    code = cli.main(["--table", "no-such-table", "--region", "us-east-1", "lead", "show", "x"], err=err)
    assert code == 2 and err.getvalue().startswith("tf-retainer: not found:") and err.getvalue().count("\n") == 1


def test_a_bundle_carries_the_evidence_chain_and_verify_names_what_was_edited(stack, tmp_path):
    """Unsigned, an editor could recompute the digest: the chain still shows what was changed, and where."""
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", "success"])
    posted = stack.post(lead(cert_id)).json()
    bundle = tmp_path / "bundle.json"
    assert run(stack, "evidence", posted["lead_id"], "-o", str(bundle))[0] == 0
    document = json.loads(bundle.read_text())
    assert [link["seq"] for link in document["chain"]] == [1, 2]  # the call's request, then its answer
    code, out, _ = run(stack, "--json", "verify", str(bundle))
    assert (code, json.loads(out)["chain_ok"]) == (3, True)  # 3: unsigned, so not proven; the chain holds

    def edited(change) -> tuple[int, str]:
        copy = json.loads(bundle.read_text())
        change(copy)
        copy["content_sha256"] = content_digest(copy)
        path = tmp_path / "edited.json"
        path.write_text(json.dumps(copy))
        code, out, _ = run(stack, "verify", str(path))
        return code, out

    def response_says_200(copy):  # the 503 made into a success, in the readable part only
        copy["exchanges"][0]["response"]["status"] = 200

    def chain_says_200(copy):  # ... and in the chain too
        copy["chain"][1]["content"] = copy["chain"][1]["content"].replace('"status":503', '"status":200')

    def history_dropped(copy):
        copy["history"] = [event for event in copy["history"] if event["type"] != "pending"]

    assert edited(response_says_200) == (
        1,
        f"{bundle.parent}/edited.json: EDITED: the raw exchanges are not what the evidence chain holds\n",
    )
    code, out = edited(chain_says_200)
    assert code == 1 and "breaks at entry 2" in out
    code, out = edited(history_dropped)
    assert code == 1 and "history event 4 is not what the evidence chain holds" in out


def test_evidence_verify_checks_the_stored_chain_and_names_the_broken_entry(stack):
    posted = stack.post(lead()).json()
    ok = run_json(stack, "evidence", "verify", posted["lead_id"])
    assert (ok["ok"], ok["entries"]) == (True, 2)  # the call's request, then its answer and the outcome
    item_key = {"pk": {"S": f"LEAD#{posted['lead_id']}"}, "sk": {"S": "ENTRY#000001"}}
    stored = stack.dynamodb.get_item(TableName=stack.provisioned.table_name, Key=item_key)["Item"]
    stored["h"] = {"B": b"\x00" * 32}  # the stored hash no longer matches the content
    stack.dynamodb.put_item(TableName=stack.provisioned.table_name, Item=stored)
    code, out, _ = run(stack, "--json", "evidence", "verify", posted["lead_id"])
    assert code == 1 and json.loads(out)["broken_entry"] == 1
    assert run(stack, "evidence", "verify", "no-such-lead")[0] != 0


def test_an_edited_stored_entry_with_its_hash_recomputed_is_named_at_the_next_link(stack):
    """Rewriting one stored entry and its hash makes that entry agree with itself: the next one no longer does."""
    from datetime import UTC, datetime

    from tf_retainer.domain import chain
    from tf_retainer.domain.lead import Event

    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", "success"])
    lead_id = stack.post(lead(cert_id)).json()["lead_id"]
    stack.writer.add_history(
        stack.reader.get_lead(lead_id), [Event("note", "operator", {"text": "called"})], now=datetime.now(UTC)
    )
    assert run_json(stack, "evidence", "verify", lead_id)["entries"] == 3  # request, answer, note

    key = {"pk": {"S": keys.lead_pk(lead_id)}, "sk": {"S": keys.entry_sk(2)}}  # the answer, 503
    stored = stack.dynamodb.get_item(TableName=stack.provisioned.table_name, Key=key)["Item"]
    edited = chain.unpack(stored["b"]["B"]).replace(b'"status":503', b'"status":200')
    assert edited != chain.unpack(stored["b"]["B"])
    stored.update(b={"B": chain.pack(edited)}, h={"B": hashlib.sha256(edited).digest()})
    stack.dynamodb.put_item(TableName=stack.provisioned.table_name, Item=stored)
    code, out, _ = run(stack, "--json", "evidence", "verify", lead_id)
    assert code == 1 and json.loads(out)["broken_entry"] == 3


def test_evidence_verify_names_a_state_that_disagrees_with_its_chain(stack):
    """An insider sets a retained lead's state to rejected (issue 26, item 2): the chain still verifies link
    by link, the state does not agree with the step it says it reflects. Nor does a state pointing at
    another entry, or keeping another head."""
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["success"])
    lead_id = stack.post(lead(cert_id)).json()["lead_id"]
    assert run_json(stack, "evidence", "verify", lead_id)["ok"] is True
    stored = stack.reader.get_lead(lead_id)
    assert stored is not None and stored.applied >= 2

    stack.rewrite_state(lead_id, status="rejected" if stored.status.value == "retained" else "retained")
    code, out, _ = run(stack, "--json", "evidence", "verify", lead_id)
    answer = json.loads(out)
    assert code == 1 and answer["ok"] is False and "the state's status is not the lead's" in answer["why"]

    stack.rewrite_state(lead_id, status=stored.status.value, applied=1)  # points at the reservation's entry
    code, out, _ = run(stack, "--json", "evidence", "verify", lead_id)
    assert code == 1 and json.loads(out)["why"] == "the state's head is not the hash of entry 1"

    stack.rewrite_state(lead_id, applied=stored.applied, head="00" * 32)
    code, out, _ = run(stack, "--json", "evidence", "verify", lead_id)
    assert code == 1 and json.loads(out)["why"] == f"the state's head is not the hash of entry {stored.applied}"

    stack.rewrite_state(lead_id, head=stored.head)  # put back as it was: verifies again
    assert run_json(stack, "evidence", "verify", lead_id)["ok"] is True
