"""What TrustedForm is asked, through the real intake (issue 22: pay only for what decides), as the
simulator received it: how many calls, with or without match_lead, retain and insights, in each retain
mode, with the lead match deciding or not, and with every rule in shadow. Whatever is asked, the evidence
chain holds each call's request, exactly as TrustedForm received it, in an entry before its answer's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.store.rule_sets import RuleStore

from local.simulator import make_web_cert_id
from tests.support.stack import lead

RULES = {"bot_detected": {}, "domains": {"allowed": ["acme-leads.example"]}}
SHADOW = {name: {**rule, "mode": "shadow"} for name, rule in RULES.items()}
# RULES, and a shadow rule beside them (it adds nothing to their calls).
WITH_SHADOW = {**RULES, "form_input_method": {"mode": "shadow", "refused": ["paste"]}}
SESSION = {"domain": "acme-leads.example", "page_url": "https://acme-leads.example/quote", "bot_detected": False}
DECIDING = ["bot_detected", "domain", "is_masked", "page_url"]  # what RULES read, and the deployment's is_masked
# Room for two calls on a loaded machine: a call cut short leaves the lead pending, and asks nothing more.
ROOMY = {"SYNC_TIMEOUT_SECONDS": "20"}


def env(**settings: str) -> list[dict[str, str]]:
    return [{**ROOMY, **settings}]


def publish(stack, rules: dict[str, Any]) -> None:
    RuleStore(stack.provisioned.table_name).publish(
        "*", RuleSet.model_validate(rules), actor="test", now=datetime.now(UTC)
    )


def post(stack, behaviour: str = "success", **session: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A lead on a scripted session: its answer, and the bodies TrustedForm received for its certificate."""
    cert_id = make_web_cert_id()
    created = datetime.now(UTC) - timedelta(minutes=2)
    stack.sim.script(cert_id, [behaviour], created_at=created, **{**SESSION, **session})
    answer = stack.post(lead(cert_id)).json()
    received = [request["body"] for request in stack.sim.requests if request["cert_id"] == cert_id]
    assert_recorded_before_sent(stack, answer["lead_id"], received)
    return answer, received


def parts(body: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(body))


def properties(body: dict[str, Any]) -> list[str]:
    return sorted(body["insights"]["properties"])


def assert_recorded_before_sent(stack, lead_id: str, received: list[dict[str, Any]]) -> None:
    """Every call's request in the chain, as TrustedForm got it, in an entry before its answer's."""
    requested: dict[str, tuple[int, dict[str, Any]]] = {}
    answered: dict[str, int] = {}
    for link in sorted(stack.reader.read_lead(lead_id).chain, key=lambda link: link.seq):
        entry = json.loads(link.content)
        requested.update({call["call_id"]: (link.seq, call["request"]) for call in entry.get("calls") or []})
        answered.update({exchange["call_id"]: link.seq for exchange in entry.get("exchanges") or []})
    assert [json.loads(request["body"]) for _, request in requested.values()] == received
    assert answered.keys() == requested.keys()
    assert all(requested[call_id][0] < seq for call_id, seq in answered.items())


@pytest.mark.parametrize("stack_env", env(LEAD_MATCH_POLICY="accept"))
def test_decide_first_asks_insights_alone_when_the_match_does_not_decide(stack):
    publish(stack, RULES)
    kept, received = post(stack)
    assert kept["status"] == "retained", kept
    assert [parts(body) for body in received] == [("insights",), ("match_lead", "retain")]
    assert properties(received[0]) == DECIDING
    refused, received = post(stack, bot_detected=True)
    assert refused["reason"] == "bot_detected", refused
    assert [parts(body) for body in received] == [("insights",)]  # no match, no retain paid


@pytest.mark.parametrize("stack_env", env())
def test_decide_first_matches_first_when_the_match_decides(stack):
    publish(stack, WITH_SHADOW)  # LEAD_MATCH_POLICY=reject, the default: the match decides
    kept, received = post(stack)
    assert kept["status"] == "retained", kept
    assert [parts(body) for body in received] == [("insights", "match_lead"), ("match_lead", "retain")]
    assert properties(received[0]) == DECIDING
    unmatched, received = post(stack, "match_failure")
    assert unmatched["reason"] == "lead_match_failed"
    assert [parts(body) for body in received] == [("insights", "match_lead")]  # refused before any retain


@pytest.mark.parametrize("stack_env", env(RETAIN_MODE="combined"))
def test_combined_asks_everything_enforced_in_one_call(stack):
    publish(stack, WITH_SHADOW)
    kept, received = post(stack)
    assert kept["status"] == "retained", kept
    assert [parts(body) for body in received] == [("insights", "match_lead", "retain")]
    assert properties(received[0]) == DECIDING
    refused, received = post(stack, bot_detected=True)
    assert refused["reason"] == "bot_detected", refused
    assert [parts(body) for body in received] == [("insights", "match_lead", "retain")]  # retained, then refused


@pytest.mark.parametrize("stack_env", [*env(), *env(RETAIN_MODE="combined"), *env(LEAD_MATCH_POLICY="accept")])
def test_shadow_rules_alone_cost_no_call_and_no_property(stack, capfd):
    publish(stack, SHADOW)
    answer, received = post(stack, bot_detected=True, domain="elsewhere.example")
    assert answer["status"] == "retained"  # shadow refuses nothing
    # decide_first falls back to one call: nothing enforced decides before the retain.
    assert [parts(body) for body in received] == [("insights", "match_lead", "retain")]
    assert properties(received[0]) == ["is_masked"]  # the deployment's own, nothing for the shadow rules
    verdicts = {v["rule"]: v for v in stack.lead_state(answer["lead_id"])["verdicts"]}
    for rule in SHADOW:  # judged on nothing: neither passed nor failed
        assert verdicts[rule] == {
            "rule": rule, "mode": "shadow", "reason": verdicts[rule]["reason"], "not_evaluated": "data not fetched",
            "passed": None,
        }  # fmt: skip
    assert "RuleWouldRefuse" not in capfd.readouterr().out  # nothing judged, nothing counted


@pytest.mark.parametrize("stack_env", env(INSIGHTS_PROPERTIES="is_masked,bot_detected"))
def test_a_shadow_rule_is_judged_on_what_the_deployment_asks_for_anyway(stack, capfd):
    publish(stack, SHADOW)
    answer, received = post(stack, bot_detected=True)
    assert [parts(body) for body in received] == [("insights", "match_lead", "retain")]
    assert properties(received[0]) == ["bot_detected", "is_masked"]
    verdicts = {v["rule"]: v for v in stack.lead_state(answer["lead_id"])["verdicts"]}
    assert answer["status"] == "retained" and verdicts["bot_detected"]["passed"] is False
    assert verdicts["domains"]["not_evaluated"] == "data not fetched"
    assert '"RuleWouldRefuse":[1.0]' in capfd.readouterr().out


@pytest.mark.parametrize("stack_env", env(LEAD_MATCH_POLICY="accept"))
def test_a_shadow_rule_beside_an_enforced_one_rides_on_its_calls(stack):
    # bot_detected enforced, the lead match and domains in shadow: the first call asks only what
    # bot_detected reads; the shadow lead match is judged on the match the retain brings anyway.
    publish(stack, {"bot_detected": {}, "lead_match": {"mode": "shadow"}, "domains": SHADOW["domains"]})
    answer, received = post(stack, "match_failure")
    assert answer["status"] == "retained"
    assert [parts(body) for body in received] == [("insights",), ("match_lead", "retain")]
    assert properties(received[0]) == ["bot_detected", "is_masked"]
    verdicts = {v["rule"]: v for v in stack.lead_state(answer["lead_id"])["verdicts"]}
    assert (verdicts["lead_match"]["mode"], verdicts["lead_match"]["passed"]) == ("shadow", False)
    assert verdicts["domains"]["not_evaluated"] == "data not fetched"
    assert verdicts["bot_detected"]["passed"] is True
