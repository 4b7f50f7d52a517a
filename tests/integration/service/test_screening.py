"""The screens through the real intake, retry worker and call gate, against the providers' simulators over
loopback HTTP (DNC.com, Twilio Lookup, Blacklist Alliance) and moto: what each screen refuses and when, what
goes into the lead's evidence chain, the fault policies, and one provider call per number per window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from tf_retainer.domain.contacts import sha1_hex

from local.simulator import make_web_cert_id
from tests.support.screening import (
    KEYS,
    TWILIO_SID,
    chain_calls,
    gate,
    publish_rules,
    screen_exchanges,
    tf_calls,
)
from tests.support.stack import deliver, later, lead

NUMBER = "7075276405"
PHONE = "(707) 527-6405"


def post(stack, number: str = PHONE, **fields: Any) -> tuple[int, dict[str, Any], str]:
    cert_id = fields.pop("cert_id", None) or make_web_cert_id()
    response = stack.post(lead(cert_id, phone=number, **fields))
    return response.status, response.json(), cert_id


# --- intake: before TrustedForm ----------------------------------------------------------------------


def test_a_litigator_is_refused_before_trustedform_is_called(screened):
    publish_rules(screened.provisioned.table_name, litigator={"mode": "enforce"})
    screened.screen_sims.blacklist_alliance.script(NUMBER, codes=["plaintiff-primary"])
    status, body, cert_id = post(screened)
    assert status == 422 and body["reason"] == "litigator", body
    assert body["detail"]["rule"] == "litigator" and body["detail"]["codes"] == ["plaintiff-primary"]
    assert tf_calls(screened, cert_id) == 0  # never asked, never paid for
    assert screened.screen_sims.calls(NUMBER) == {"blacklist-alliance": 1, "dncscrub": 0, "twilio-lookup": 0}
    [exchange] = screen_exchanges(screened, body["lead_id"])
    assert exchange["provider"] == "blacklist_alliance" and exchange["screen"] == "litigator"
    assert exchange["cost"] == 0.01 and exchange["response"]["status"] == 200
    stored = json.dumps(screened.reader.read_lead(body["lead_id"]).exchanges)
    assert KEYS["blacklist_alliance"] not in stored and NUMBER not in stored and "[phone]" in stored
    # its request went on record before it was sent, paired with the answer by call id
    [call] = chain_calls(screened, body["lead_id"])
    assert call["call_id"] == exchange["call_id"] and call["provider"] == "blacklist_alliance"
    state = screened.lead_state(body["lead_id"])
    assert state["screens"]["litigator"]["findings"]["litigator"] is True
    assert state["rules_passed"] is False and state["status"] == "rejected"


def test_the_cheapest_screen_runs_first_and_its_refusal_stops_the_rest(screened):
    publish_rules(screened.provisioned.table_name, litigator={"mode": "enforce"}, dnc={"mode": "enforce"})
    screened.screen_sims.dncscrub.script(NUMBER, national_dnc="2003-06-01")
    status, body, cert_id = post(screened)
    assert status == 422 and body["reason"] == "on_dnc_list", body
    assert body["detail"]["lists"] == ["national"]
    # DNC.com ($0.006 a call) before Blacklist Alliance ($0.01): its refusal leaves the litigator screen unpaid
    assert screened.screen_sims.calls(NUMBER) == {"blacklist-alliance": 0, "dncscrub": 1, "twilio-lookup": 0}
    assert tf_calls(screened, cert_id) == 0


def test_a_clean_number_is_screened_then_retained_with_every_exchange_in_its_chain(screened):
    publish_rules(
        screened.provisioned.table_name,
        litigator={"mode": "enforce"},
        dnc={"mode": "enforce"},
        phone_valid={"mode": "enforce"},
        line_type={"mode": "enforce", "refused": ["tollFree", "premium"]},
    )
    status, body, _ = post(screened)
    assert status == 201, body
    exchanges = screen_exchanges(screened, body["lead_id"])
    # cheapest first: DNC.com ($0.006), Twilio ($0.008), Blacklist Alliance ($0.01)
    assert [x["provider"] for x in exchanges] == ["dncscrub", "twilio_lookup", "blacklist_alliance"]
    state = screened.lead_state(body["lead_id"])
    assert set(state["screens"]) == {"dnc", "phone", "litigator"}
    assert all(result["answered"] for result in state["screens"].values())
    assert {v["rule"]: v["passed"] for v in state["verdicts"]}.items() >= {
        "litigator": True, "dnc": True, "phone_valid": True, "line_type": True,
    }.items()  # fmt: skip
    history = [e.type for e in screened.reader.read_lead(body["lead_id"]).history]
    assert history == [
        "received", "calling", "screened", "calling", "screened", "calling", "screened", "calling", "attempt",
        "decided", "retained",
    ]  # fmt: skip
    stored = json.dumps(screened.reader.read_lead(body["lead_id"]).exchanges)
    assert not [secret for secret in (*KEYS.values(), TWILIO_SID) if secret in stored] and NUMBER not in stored
    assert "sealed_phone" in state and NUMBER not in json.dumps(state)
    # Nowhere in the table in clear, nor as an unkeyed fingerprint (reversed by brute force) but inside the
    # raw TrustedForm requests of the chain (what TrustedForm was sent): not in the state, not in the
    # per-number results or their keys.
    items = screened.all_items()
    assert any(item["pk"].startswith("SCREEN#") for item in items)
    chain = json.dumps([item for item in items if "content" in item], default=str)
    others = json.dumps([item for item in items if "content" not in item], default=str)
    assert not [form for form in (NUMBER, sha1_hex(NUMBER), sha1_hex("+1" + NUMBER)) if form in others]
    assert NUMBER not in chain and sha1_hex("+1" + NUMBER) not in chain


def test_a_shadow_screen_refuses_nothing_and_records_what_it_would_have(screened):
    publish_rules(screened.provisioned.table_name, dnc={"mode": "shadow"})
    screened.screen_sims.dncscrub.script(NUMBER, national_dnc="2003-06-01")
    status, body, _ = post(screened)
    assert status == 201, body
    [verdict] = [v for v in screened.lead_state(body["lead_id"])["verdicts"] if v["rule"] == "dnc"]
    assert verdict["passed"] is False and verdict["mode"] == "shadow" and verdict["lists"] == ["national"]
    assert gate(screened, body["lead_id"])["contactable"] is True  # shadow never closes the gate


def test_no_screen_runs_without_a_rule_that_reads_it(screened):
    status, body, _ = post(screened)
    assert status == 201, body
    assert screened.screen_sims.calls(NUMBER) == {"blacklist-alliance": 0, "dncscrub": 0, "twilio-lookup": 0}
    assert "sealed_phone" not in screened.lead_state(body["lead_id"])


def test_the_same_number_is_asked_once_per_window_whatever_the_leads(screened, monkeypatch):
    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    first = [post(screened)[1] for _ in range(3)]
    assert screened.screen_sims.dncscrub.count(NUMBER) == 1
    shared = screened.lead_state(first[2]["lead_id"])["screens"]["dnc"]
    assert shared["source_lead_id"] == first[0]["lead_id"] and shared["cost"] == 0
    later(monkeypatch, timedelta(hours=25))  # past the 24 h window: asked again, once
    for _ in range(2):
        post(screened)
    assert screened.screen_sims.dncscrub.count(NUMBER) == 2


# --- faults --------------------------------------------------------------------------------------------


def test_a_provider_down_leaves_the_lead_pending_and_the_retry_recovers_it(screened):
    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    screened.screen_sims.dncscrub.script(NUMBER, ["unavailable", "ok"])
    status, body, cert_id = post(screened)
    assert status == 202 and body["reason"] == "screen_unavailable", body
    assert tf_calls(screened, cert_id) == 0  # not paid for while the screen is unanswered
    assert deliver(screened) == ["retained"]  # its retry: the number read back from its sealed copy
    exchanges = screen_exchanges(screened, body["lead_id"])
    assert [x["response"]["status"] for x in exchanges] == [503, 200]
    assert [x["cost"] for x in exchanges] == [0.0, 0.006]  # only the answer is billed
    assert len(chain_calls(screened, body["lead_id"])) == 3  # two screen calls and TrustedForm's, each recorded


@pytest.mark.parametrize("fault", ["hang", "throttled:1", "server_error"])
def test_fail_open_keeps_the_lead_going_with_the_screen_unanswered(screened, monkeypatch, fault):
    monkeypatch.setenv("SCREEN_FAULT_POLICIES", "dncscrub=fail_open")
    monkeypatch.setenv("SCREEN_CALL_SECONDS", "1")
    from tf_retainer import wiring

    wiring.reset()
    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    screened.screen_sims.dncscrub.script(NUMBER, [fault])
    status, body, _ = post(screened)
    assert status == 201, body
    result = screened.lead_state(body["lead_id"])["screens"]["dnc"]
    assert result["answered"] is False and result["error"]
    [verdict] = [v for v in screened.lead_state(body["lead_id"])["verdicts"] if v["rule"] == "dnc"]
    assert verdict.get("passed") is None  # not judged (None is not stored), never a refusal


def test_a_refused_key_leaves_the_lead_pending_without_burning_its_attempts(screened, monkeypatch):
    screened.screen_sims.blacklist_alliance.api_keys = frozenset({"rotated-key-0123456789"})
    publish_rules(screened.provisioned.table_name, litigator={"mode": "enforce"})
    status, body, _ = post(screened)
    assert status == 202 and body["reason"] == "screen_unavailable", body
    state = screened.lead_state(body["lead_id"])
    assert state["burned_attempts"] == 0  # the account's trouble, never the lead's
    # the key was read afresh and tried once more before giving up
    assert screened.screen_sims.blacklist_alliance.count(NUMBER) == 2


# --- the call gate -------------------------------------------------------------------------------------


def test_a_dnc_listing_at_call_time_32_days_after_a_clean_intake_scrub_closes_the_gate(screened, monkeypatch):
    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    status, body, _ = post(screened)
    assert status == 201, body
    now = gate(screened, body["lead_id"])
    assert now["contactable"] is True and screened.screen_sims.dncscrub.count(NUMBER) == 1  # intake's answer
    [check] = now["facts"]["screens"]
    assert check["rule"] == "dnc" and check["passed"] is True

    screened.screen_sims.dncscrub.script(NUMBER, national_dnc="2026-11-01")
    later(monkeypatch, timedelta(days=30))
    assert gate(screened, body["lead_id"])["contactable"] is True  # 30 days: still within the 31
    assert screened.screen_sims.dncscrub.count(NUMBER) == 1
    when = later(monkeypatch, timedelta(days=32))
    answer = gate(screened, body["lead_id"])
    assert answer["contactable"] is False and answer["reason"] == "on_dnc_list", answer
    assert screened.screen_sims.dncscrub.count(NUMBER) == 2  # re-scrubbed, once
    [check] = answer["facts"]["screens"]
    assert check["passed"] is False and check["checked_at"] == when.isoformat().replace("+00:00", "Z")
    # the gate's call went into the lead's chain like intake's: request first, then the exchange
    exchanges = screen_exchanges(screened, body["lead_id"])
    assert [x["screen"] for x in exchanges] == ["dnc", "dnc"]
    assert [c["call_id"] for c in chain_calls(screened, body["lead_id"]) if c.get("provider")] == [
        x["call_id"] for x in exchanges
    ]
    assert gate(screened, body["lead_id"])["reason"] == "on_dnc_list"  # the shared answer: no third call
    assert screened.screen_sims.dncscrub.count(NUMBER) == 2


@pytest.mark.parametrize("screens", [{"reassigned_number": "dncscrub"}, {"reassigned_number": "twilio_lookup"}])
def test_a_reassigned_number_answer_is_kept_with_the_consent_date_it_was_asked_about(screened, screens):
    publish_rules(screened.provisioned.table_name, reassigned_number={"mode": "enforce"})
    created = datetime(2026, 9, 1, 15, 30, tzinfo=UTC)
    cert_id = make_web_cert_id()
    screened.sim.script(cert_id, ["success"], created_at=created)
    sim = screened.screen_sims.dncscrub if "dncscrub" in screens.values() else screened.screen_sims.twilio_lookup
    sim.script("+1" + NUMBER if sim is screened.screen_sims.twilio_lookup else NUMBER, reassigned_on="2026-10-15")
    status, body, _ = post(screened, cert_id=cert_id)
    assert status == 201, body  # the reassigned-number check waits for the consent date: the gate asks it
    answer = gate(screened, body["lead_id"])
    assert answer["contactable"] is False and answer["reason"] == "number_reassigned", answer
    [check] = answer["facts"]["screens"]
    assert check["consent_date"] == "2026-09-01"
    [exchange] = screen_exchanges(screened, body["lead_id"])
    asked = exchange["request"]["url"]
    assert "date=2026-09-01" in asked or "LastVerifiedDate=20260901" in asked  # the safe harbour's question
    history = screened.reader.read_lead(body["lead_id"]).history
    [screened_event] = [e for e in history if e.type == "screened"]
    assert screened_event.detail["consent_date"] == "2026-09-01" and screened_event.actor == "gate"
    assert screened_event.detail["findings"]["reassigned"] is True


def test_the_gate_closes_when_a_fail_closed_provider_cannot_answer(screened, monkeypatch):
    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    status, body, _ = post(screened)
    assert status == 201
    screened.screen_sims.dncscrub.script(NUMBER, ["unavailable"])
    later(monkeypatch, timedelta(days=32))
    answer = gate(screened, body["lead_id"])
    assert answer["contactable"] is False and answer["reason"] == "screen_unavailable", answer


def test_the_backtest_predicts_what_a_shadow_screen_enforced_would_refuse(screened, tmp_path):
    """A buyer learns what a screen would refuse before enforcing it: screened in shadow (each call paid
    once), the leads' stored results replayed through the candidate (no call made); a screen never run is
    not judged."""
    from tests.support.cli import run_json

    publish_rules(screened.provisioned.table_name, dnc={"mode": "shadow"})
    screened.screen_sims.dncscrub.script("2127894561", national_dnc="2003-06-01")
    listed = post(screened, number="2127894561")[1]
    clean = post(screened)[1]
    assert {listed["status"], clean["status"]} == {"retained"}
    calls = screened.screen_sims.dncscrub.count("2127894561") + screened.screen_sims.dncscrub.count(NUMBER)

    report = run_json(screened, "rules", "test", "--mode", "dnc=enforce")
    assert screened.screen_sims.dncscrub.count("2127894561") + screened.screen_sims.dncscrub.count(NUMBER) == calls
    [vendor] = report["vendors"]
    assert vendor["would_refuse_by_reason"] == {"on_dnc_list": 1} and vendor["changes"] == {"kept->refused": 1}
    assert [d["lead_id"] for d in vendor["leads_detail"] if d["change"]] == [listed["lead_id"]]

    candidate = tmp_path / "candidate.json"
    candidate.write_text(json.dumps({"dnc": {"mode": "enforce"}, "phone_valid": {"mode": "enforce"}}))
    [vendor] = run_json(screened, "rules", "test", "--file", str(candidate))["vendors"]
    assert vendor["would_refuse_by_reason"] == {"on_dnc_list": 1}
    # the phone screen never ran: said why, never a refusal
    assert vendor["could_not_judge_by_rule"] == {
        "phone_valid": {
            "leads": 2,
            "needs": "the phone screen's answer (a phone_valid or line_type rule in shadow first)",
        }
    }


def test_a_step_found_while_the_gate_screens_closes_it_for_now_and_nothing_is_sent(screened, monkeypatch):
    """A step recorded for the lead after the gate read it (here: one whose writer died before applying it)
    meets the gate's first screen call record: nothing is sent, the gate answers screen_unavailable (ask
    again), the lead is rolled forward, and the next question is answered on the screens."""
    from tf_retainer.domain.lead import Event

    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    status, body, _ = post(screened)
    assert status == 201, body
    lead = screened.reader.get_lead(body["lead_id"])
    assert lead is not None
    client = screened.writer._table.client  # the writer's own: its state update dies, its entry stays
    killed = RuntimeError("killed before applying its step")
    step = Event("noted", "test", {})
    with mock.patch.object(client, "update_item", side_effect=killed), pytest.raises(RuntimeError):
        screened.writer.record_outcome(lead, lead, events=[step], exchanges=[], now=datetime.now(UTC))
    later(monkeypatch, timedelta(days=32))  # the intake's answer is stale: the gate must ask DNC.com

    answer = gate(screened, body["lead_id"])
    assert (answer["contactable"], answer["reason"]) == (False, "screen_unavailable"), answer
    assert screened.screen_sims.dncscrub.count(NUMBER) == 1  # only the intake's: nothing was sent
    answer = gate(screened, body["lead_id"])
    assert answer["contactable"] is True and screened.screen_sims.dncscrub.count(NUMBER) == 2, answer


# --- the shared answer under DynamoDB's faults (found by the fault soak: bench/soak.py --screens) ------------


class _ScreenResultsClient:
    """The per-number results' DynamoDB client, with one fault on the first write whose UpdateExpression
    contains ``spot``: ``conflict`` (refused, nothing applied: TransactionConflictException, which botocore
    does not retry) or ``lost-answer`` (applied, its answer lost: botocore sends it again, as it does)."""

    def __init__(self, real: Any, spot: str, fault: str) -> None:
        self._real, self._spot, self._fault, self.hits = real, spot, fault, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def update_item(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        if self.hits or self._spot not in kwargs["UpdateExpression"]:
            return self._real.update_item(**kwargs)
        self.hits += 1
        if self._fault == "conflict":
            error = {"Error": {"Code": "TransactionConflictException", "Message": "conflict"}}
            raise ClientError(error, "UpdateItem")
        self._real.update_item(**kwargs)  # applied; the answer never came back
        return self._real.update_item(**kwargs)  # the client's retry meets its own write


def _fault_screen_results(monkeypatch, spot: str, fault: str) -> _ScreenResultsClient:
    from tf_retainer.wiring import default_deps

    results = default_deps().screening.results
    faulty = _ScreenResultsClient(results._client, spot, fault)
    monkeypatch.setattr(results, "_client", faulty)
    return faulty


def test_a_conflict_on_sharing_the_answer_does_not_make_the_next_lead_pay_again(screened, monkeypatch):
    """DynamoDB refuses a write to an item another writer holds (TransactionConflictException, not retried
    by botocore): the answer about the number, just paid for, must still be shared, and the number's lease
    not left held, or the next lead with the number waits for the lease to lapse and pays again."""
    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    faulty = _fault_screen_results(monkeypatch, "#result", "conflict")
    first = post(screened)[1]
    assert faulty.hits == 1 and first["status"] == "retained", first
    second = post(screened)[1]
    assert second["status"] == "retained", second  # not left waiting on a lease nobody holds any more
    assert screened.screen_sims.dncscrub.count(NUMBER) == 1  # one call, shared
    assert screened.lead_state(second["lead_id"])["screens"]["dnc"]["source_lead_id"] == first["lead_id"]


def test_a_lease_taken_whose_answer_was_lost_is_the_callers_own(screened, monkeypatch):
    """The lease's conditional write applied, its answer lost, sent again by the client: the condition then
    fails on the caller's own lease. It is the caller's to use: it asks the provider now, rather than wait on
    itself until its deadline (leaving the lead pending and every lead with the number waiting)."""
    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    faulty = _fault_screen_results(monkeypatch, "lease_owner = :owner, lease_until", "lost-answer")
    status, body, _ = post(screened)
    assert faulty.hits == 1
    assert (status, body["status"]) == (201, "retained"), body
    assert screened.screen_sims.dncscrub.count(NUMBER) == 1


def _spy_on_sharing(monkeypatch, stack) -> list[list[int]]:
    """At each answer shared, the statuses of the exchanges of its call in the chain of the lead that made it."""
    from tf_retainer.wiring import default_deps

    results = default_deps().screening.results
    real, seen = results.store, []

    def store(key: Any, result: Any, **kwargs: Any) -> None:
        chain = stack.reader.read_lead(result.source_lead_id).exchanges
        seen.append([x["response"]["status"] for x in chain if x.get("call_id") == result.call_id])
        real(key, result, **kwargs)

    monkeypatch.setattr(results, "store", store)
    return seen


def test_an_answer_is_on_record_before_another_lead_can_rely_on_it(screened, monkeypatch):
    """Found by the fault soak under AWS faults: a caller killed after sharing its answer, before its next entry
    carried the exchange, left every lead with the number acting on an answer whose raw exchange was kept
    nowhere. The answer is in the caller's chain when it is shared, at intake and at the call gate."""
    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    seen = _spy_on_sharing(monkeypatch, screened)
    status, body, _ = post(screened)
    assert status == 201 and seen == [[200]], (body, seen)
    later(monkeypatch, timedelta(days=32))  # stale: the gate asks DNC.com again, and shares its answer
    assert gate(screened, body["lead_id"])["contactable"] is True
    assert seen == [[200], [200]]
    history = [e.type for e in screened.reader.read_lead(body["lead_id"]).history]
    assert history.count("screened") == 2  # what each call found is still recorded beside its exchange


class Killed(BaseException):
    """The invocation's process killed (a Lambda timeout, an out-of-memory): nothing after it runs."""


def _killed_before_sharing(stack, monkeypatch, vendor_lead_id: str) -> str:
    """A lead posted whose intake dies once its DNC.com answer is on record, before sharing it: nothing after
    runs, not even the release of the number's lease. Its lead id."""
    from tf_retainer.wiring import default_deps

    from tests.support.stack import VENDOR

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(default_deps().screening.results, "store", die)
        patched.setattr(default_deps().screening.results, "release", die)
        with pytest.raises(Killed):
            post(stack, lead_id=vendor_lead_id)
    lead_id = stack.reader.find_vendor_lead(VENDOR, vendor_lead_id)
    assert lead_id is not None
    return lead_id


def test_an_answer_on_record_whose_caller_died_before_sharing_it_is_not_bought_again(screened, monkeypatch):
    """Found by the fault soak under AWS faults (a retry worker killed after a write): the answer went into the
    chain, then the process died before sharing it and before its step. The next attempt takes it from the
    chain (what it found is written with it) rather than pay the provider again."""
    from tf_retainer.domain.retry_message import RetryMessage
    from tf_retainer.leads import retry
    from tf_retainer.wiring import default_deps

    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    lead_id = _killed_before_sharing(screened, monkeypatch, "V-killed")
    assert [x["response"]["status"] for x in screen_exchanges(screened, lead_id)] == [200]  # on record
    moment = later(monkeypatch, timedelta(minutes=5))  # the dead invocation's lease and the number's have run out
    message = RetryMessage(lead_id=lead_id, attempt=1, not_before=moment)  # the sweeper's, for a dead intake
    assert retry.retry_lead(default_deps(), message) == "retained"
    assert screened.screen_sims.dncscrub.count(NUMBER) == 1  # asked once, paid once
    assert screened.lead_state(lead_id)["screens"]["dnc"]["findings"]["result_code"] == "C"


def test_an_entry_applied_whose_answer_was_lost_then_throttled_is_not_written_again(screened, monkeypatch):
    """Found by the fault soak under AWS faults (an audit's exchange stored twice): the entry carrying the screen's
    answer is applied, its answer lost, and the client's retry throttled. Reported unwritten, its exchange went
    again into the next entry: the chain showed two answers for one call. The writer finds its own entry there."""
    from botocore.exceptions import ClientError
    from tf_retainer.domain import chain
    from tf_retainer.wiring import default_deps

    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    client = default_deps().writer._table.client
    real, faulted = client.put_item, []

    def put_item(**kwargs: Any) -> Any:
        blob = kwargs["Item"].get("b", {}).get("B")
        out = real(**kwargs)
        content = chain.unpack(blob).decode() if blob else ""
        if not faulted and '"provider":"dncscrub"' in content and '"response"' in content:
            faulted.append(True)  # applied; the answer lost, and the client's retry throttled
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")
        return out

    monkeypatch.setattr(client, "put_item", put_item)
    status, body, _ = post(screened)
    assert faulted and (status, body["status"]) == (201, "retained"), body
    call_ids = [x["call_id"] for x in screened.reader.read_lead(body["lead_id"]).exchanges]
    assert len(call_ids) == len(set(call_ids)) == 2, call_ids  # DNC.com's and TrustedForm's, once each


def test_an_answer_on_record_whose_caller_died_survives_the_sweepers_requeue(screened, monkeypatch):
    """Found by the fault soak under AWS faults (numbers billed twice a minute apart, the sweeper's grace): the
    sweeper's requeue is a step of its own, recorded after the entries that hold the dead attempt's answers,
    which the next attempt then no longer read. The requeue takes them into the lead's state."""
    from tf_retainer.leads import sweep
    from tf_retainer.wiring import default_deps

    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    lead_id = _killed_before_sharing(screened, monkeypatch, "V-swept")
    later(monkeypatch, timedelta(hours=1))  # overdue: the sweeper's to recover
    assert sweep.sweep(default_deps()).recovered == [lead_id]
    assert screened.lead_state(lead_id)["screens"]["dnc"]["answered"] is True
    assert deliver(screened) == ["retained"]
    assert screened.screen_sims.dncscrub.count(NUMBER) == 1  # asked once, paid once


def test_another_lead_takes_the_answer_a_dead_caller_put_on_record_rather_than_pay_again(screened, monkeypatch):
    """Found by the fault soak under AWS faults (a number billed twice 14 s apart): the caller died between the
    entry holding its answer and sharing it, its lease lapsed, and the next lead with the number paid again. The
    lease names its holder: the next lead takes the answer from the holder's chain, and shares it."""
    publish_rules(screened.provisioned.table_name, dnc={"mode": "enforce"})
    dead = _killed_before_sharing(screened, monkeypatch, "V-dead")
    later(monkeypatch, timedelta(minutes=5))  # the dead caller's lease on the number has lapsed
    status, body, _ = post(screened)
    assert (status, body["status"]) == (201, "retained"), body
    assert screened.screen_sims.dncscrub.count(NUMBER) == 1  # asked once, paid once
    assert screened.lead_state(body["lead_id"])["screens"]["dnc"]["source_lead_id"] == dead
    post(screened)  # and shared from then on
    assert screened.screen_sims.dncscrub.count(NUMBER) == 1
