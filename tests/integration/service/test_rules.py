"""The buyer's rules through the real intake, against the simulator's scripted sessions: each rule
refuses exactly what it should, with its reason and facts; shadow refuses nothing; decide_first never
pays to retain a refused lead (the simulator's request log proves it)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.store.rule_sets import RuleStore

from local.simulator import make_web_cert_id
from tests.support.stack import VENDOR, lead

RULES = {
    "max_age": {"max_seconds": 900},
    "bot_detected": {},
    "form_input_method": {"refused": ["paste", "autofill"]},
    "domains": {"allowed": ["acme-leads.example"]},
    "confirmed_owner": {"owner": "Acme Leads, Inc."},
    "page_scans": {"required": ["I agree to be contacted"], "forbidden": ["free iPad"]},
    "consent_verified": {"min_font_size_px": 12},
}
GOOD_SESSION: dict[str, Any] = {
    "domain": "acme-leads.example",
    "page_url": "https://www.acme-leads.example/quote",
    "confirmed_owner": "ACME Leads Inc",
    "page_text": "Get a quote. I agree to be contacted by phone.",
    "form_input_method": ["typing"],
    "bot_detected": False,
    "font_size_px": 14,
}


def publish(stack, scope: str = "*", **rules: Any) -> None:
    RuleStore(stack.provisioned.table_name).publish(
        scope, RuleSet.model_validate(rules), actor="test", now=datetime.now(UTC)
    )


def scripted(stack, **session: Any) -> str:
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["success"], **{**GOOD_SESSION, **session})
    return cert_id


def retains(stack, cert_id: str) -> int:
    return sum(1 for request in stack.sim.requests if request["cert_id"] == cert_id and "retain" in request["body"])


def test_a_lead_every_rule_keeps_is_retained_with_its_verdicts(stack):
    publish(stack, **RULES)
    cert_id = scripted(stack, created_at=datetime.now(UTC) - timedelta(minutes=5))
    response = stack.post(lead(cert_id))
    assert response.status == 201, response.json()
    state = stack.lead_state(response.json()["lead_id"])
    assert state["rule_version"] == "default@1" and state["rules_passed"] is True
    assert {v["rule"] for v in state["verdicts"]} >= set(RULES) and all(v["passed"] for v in state["verdicts"])
    asked = [r["body"] for r in stack.sim.requests if r["cert_id"] == cert_id]
    # decide first (no retain), then retain: only the insights properties the rules read are asked for
    assert "retain" not in asked[0] and "retain" in asked[1] and len(asked) == 2
    assert set(asked[0]["insights"]["properties"]) == {
        "age_seconds", "created_at", "expires_at", "bot_detected", "form_input_method", "domain", "page_url",
        "confirmed_owner", "is_masked",
    }  # fmt: skip
    assert asked[0]["insights"]["scans"] == RULES["page_scans"]
    assert asked[0]["verify"] == {"min_font_size_px_required": 12}
    history = [e.type for e in stack.reader.read_lead(response.json()["lead_id"]).history]
    # Each call's request on record before it went, then both answers, the decision and the outcome.
    assert history == ["received", "calling", "calling", "attempt", "attempt", "decided", "retained"]


@pytest.mark.parametrize(
    ("session", "reason", "detail"),
    [
        ({"created_at": "OLD"}, "lead_too_old", {"rule": "max_age", "max_seconds": 900}),
        ({"bot_detected": True}, "bot_detected", {"rule": "bot_detected", "bot_detected": True}),
        ({"form_input_method": ["paste"]}, "form_input_refused", {"form_input_method": ["paste"]}),
        ({"domain": "elsewhere.example"}, "domain_not_allowed", {"domain": "elsewhere.example"}),
        ({"confirmed_owner": "Someone Else LLC"}, "owner_mismatch", {"confirmed_owner": "Someone Else LLC"}),
        ({"page_text": "Win a free iPad! I agree to be contacted."}, "scan_failed", {"forbidden_found": ["free iPad"]}),
        ({"font_size_px": 8}, "consent_not_verified", {"failed_checks": ["min_font_size_px_satisfied"]}),
    ],
)
def test_each_rule_refuses_what_it_should_before_any_retain(stack, session, reason, detail):
    publish(stack, **RULES)
    if session.get("created_at") == "OLD":
        session = {"created_at": datetime.now(UTC) - timedelta(hours=2)}
    cert_id = scripted(stack, **session)
    response = stack.post(lead(cert_id))
    answer = response.json()
    assert (response.status, answer["status"], answer["reason"]) == (422, "rejected", reason)
    assert detail.items() <= answer["detail"].items()
    assert retains(stack, cert_id) == 0  # decide_first: nothing paid to retain a refused lead
    state = stack.lead_state(answer["lead_id"])
    assert [v["rule"] for v in state["verdicts"] if v["passed"] is False] == [answer["detail"]["rule"]]


def test_the_age_is_the_age_when_the_lead_arrived(stack):
    publish(stack, max_age={"max_seconds": 900})
    created = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)  # TrustedForm shows seconds
    cert_id = scripted(stack, created_at=created)
    before = datetime.now(UTC)
    answer = stack.post(lead(cert_id)).json()
    after = datetime.now(UTC)
    assert answer["reason"] == "lead_too_old"
    # Its age (in whole seconds) at some moment between the clock readings around the post.
    age = answer["detail"]["age_seconds"]
    assert math.floor((before - created).total_seconds()) <= age <= math.ceil((after - created).total_seconds())
    assert answer["detail"]["max_seconds"] == 900


# A shadow rule is judged on what is asked anyway: here the deployment asks for bot_detected in every call.
@pytest.mark.parametrize("stack_env", [{"INSIGHTS_PROPERTIES": "is_masked,bot_detected"}])
def test_shadow_mode_keeps_the_lead_and_records_what_it_would_have_done(stack, capfd):
    publish(stack, bot_detected={"mode": "shadow"})
    cert_id = scripted(stack, bot_detected=True)
    response = stack.post(lead(cert_id))
    assert response.status == 201
    [verdict] = [v for v in stack.lead_state(response.json()["lead_id"])["verdicts"] if v["rule"] == "bot_detected"]
    assert verdict == {"rule": "bot_detected", "mode": "shadow", "passed": False, "reason": "bot_detected",
                       "bot_detected": True}  # fmt: skip
    assert '"RuleWouldRefuse":[1.0]' in capfd.readouterr().out


def test_a_vendor_rule_set_overlays_the_default(stack):
    publish(stack, bot_detected={})
    publish(stack, VENDOR, domains={"allowed": ["acme-leads.example"]})
    other = stack.add_vendor("other-vendor")
    elsewhere = {"domain": "elsewhere.example", "page_url": "https://elsewhere.example/"}
    mine = stack.post(lead(scripted(stack, **elsewhere))).json()
    theirs = stack.post(lead(scripted(stack, **elsewhere)), key=other).json()
    assert mine["reason"] == "domain_not_allowed" and theirs["status"] == "retained"
    assert stack.lead_state(mine["lead_id"])["rule_version"] == f"default@1+{VENDOR}@1"
    bot = stack.post(lead(scripted(stack, bot_detected=True)), key=other).json()
    assert bot["reason"] == "bot_detected"  # the default's rule applies to every vendor


@pytest.mark.parametrize("stack_env", [{"RETAIN_MODE": "combined"}])
def test_combined_mode_makes_one_call_and_pays_for_a_lead_it_refuses(stack):
    publish(stack, bot_detected={})
    cert_id = scripted(stack, bot_detected=True)
    answer = stack.post(lead(cert_id)).json()
    assert answer["reason"] == "bot_detected"
    assert retains(stack, cert_id) == 1 and len(stack.sim.requests) == 1


def test_the_deadline_comes_from_the_certificate(stack):
    publish(stack, max_age={"max_seconds": 365 * 86400})  # asks for created_at / expires_at
    created = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)  # TrustedForm shows seconds
    cert_id = scripted(stack, created_at=created, form_submitted=False)  # a 72-hour certificate
    stack.sim.script(cert_id, ["success", "unavailable"])  # the retain fails: the lead waits for a retry
    answer = stack.post(lead(cert_id)).json()
    assert answer["status"] == "pending"
    deadline = datetime.fromisoformat(stack.lead_state(answer["lead_id"])["deadline"].replace("Z", "+00:00"))
    # created 2 days ago with a 72-hour window: 72 hours after its creation less the hour of safety, not 3 days
    # from now
    assert deadline == created + timedelta(hours=71)
