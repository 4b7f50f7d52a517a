"""What TrustedForm is asked for each rule set (issue 22: pay only for what decides): the first call carries
only what the enforced rules read, the match only when it decides, a shadow rule never adds a call, an
operation or a property, and decide_first falls back to one call when no enforced rule decides first.
Then the other half: a shadow rule whose data nobody asked for is "not evaluated", never judged on an
absence, and a shadow lead_match is judged on the match the retain brought anyway."""

from __future__ import annotations

import json
from typing import Any

from tf_retainer.decisions.answer import decide
from tf_retainer.decisions.judgement import Ask, facts_from, judge, plan, review
from tf_retainer.decisions.rulebook import from_settings
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.decisions.verdicts import NOT_FETCHED, Facts, evaluate
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.models import Status
from tf_retainer.runtime.settings import Settings

from tests.support.fakes import received_lead

SCANS = {"required": ["I agree"], "forbidden": ["free iPad"]}
EVERY_RULE: dict[str, Any] = {
    "max_age": {"max_seconds": 900},
    "bot_detected": {},
    "form_input_method": {"refused": ["paste"]},
    "domains": {"allowed": ["a.example"]},
    "confirmed_owner": {"owner": "A"},
    "page_scans": SCANS,
    "consent_verified": {"min_font_size_px": 12},
}


def in_force(settings: Settings, stored: dict[str, Any], **policies: str) -> tuple[RuleSet, Settings]:
    """The rules as the rule book builds them: the deployment's policies under a stored rule set."""
    settings = settings.model_copy(update=policies)
    return RuleSet.model_validate(stored).over(from_settings(settings)), settings


def shadow(rules: dict[str, Any]) -> dict[str, Any]:
    return {name: {**rule, "mode": "shadow"} for name, rule in rules.items()}


def asks(settings: Settings, stored: dict[str, Any], **policies: str):
    rules, settings = in_force(settings, stored, **policies)
    return plan(rules, settings)


def test_the_deployments_policies_alone_make_one_call(settings):
    # LEAD_MATCH_POLICY=reject (the default) decides on the retain's own match: no first call for it.
    asked = asks(settings, {})
    assert asked.mode == "combined" and not asked.decide_first
    assert asked.combined == Ask(match_lead=True, retain=True, insights=("is_masked",))
    refuse_masked = asks(settings, {}, masked_certificate_policy="refuse")
    assert refuse_masked.mode == "combined" and refuse_masked.combined.insights == ("is_masked",)


def test_the_first_call_carries_the_match_only_when_the_match_decides(settings):
    rules = {"bot_detected": {}}
    rejecting = asks(settings, rules, lead_match_policy="reject")
    assert rejecting.mode == "decide_first"
    assert rejecting.probe == Ask(match_lead=True, retain=False, insights=("bot_detected", "is_masked"))
    accepting = asks(settings, rules, lead_match_policy="accept")
    assert accepting.probe == Ask(match_lead=False, retain=False, insights=("bot_detected", "is_masked"))
    # A rule set can make the match decide too, whatever the deployment's policy.
    assert asks(settings, {**rules, "lead_match": {}}, lead_match_policy="accept").probe.match_lead
    assert not asks(settings, {**rules, "lead_match": {"mode": "shadow"}}).probe.match_lead
    # The retain always matches (TrustedForm takes no retain without match_lead), and asks nothing else.
    assert rejecting.retain_only == accepting.retain_only == Ask(match_lead=True, retain=True)


def test_every_rule_enforced_asks_for_what_each_reads(settings):
    asked = asks(settings, EVERY_RULE, lead_match_policy="accept")
    assert asked.mode == "decide_first"
    assert set(asked.probe.insights) == {
        "age_seconds", "created_at", "expires_at", "bot_detected", "form_input_method", "domain", "page_url",
        "confirmed_owner", "is_masked",
    }  # fmt: skip
    assert asked.probe.scans == SCANS and asked.probe.verify == {"min_font_size_px_required": 12}
    assert not asked.probe.match_lead and not asked.probe.retain


def test_shadow_rules_never_cost_a_call_nor_a_property(settings):
    asked = asks(settings, shadow(EVERY_RULE))
    assert asked.mode == "combined"  # nothing enforced decides first: one call
    assert asked.combined == Ask(match_lead=True, retain=True, insights=("is_masked",))


def test_a_shadow_rule_beside_an_enforced_one_adds_nothing_to_its_call(settings):
    stored = {"bot_detected": {}, **shadow({name: EVERY_RULE[name] for name in ("domains", "page_scans")})}
    asked = asks(settings, stored, lead_match_policy="accept")
    assert asked.probe == Ask(match_lead=False, retain=False, insights=("bot_detected", "is_masked"))
    off = asks(settings, {"bot_detected": {}, "domains": {"mode": "off", "allowed": ["a.example"]}})
    assert off.probe.insights == ("bot_detected", "is_masked")


def test_retain_mode_combined_asks_everything_enforced_in_one_call(settings):
    asked = asks(settings, EVERY_RULE, retain_mode="combined")
    assert asked.mode == "combined"
    assert asked.combined.match_lead and asked.combined.retain and asked.combined.scans == SCANS
    assert "bot_detected" in asked.combined.insights and asked.combined.verify is not None


def test_the_match_reads_is_masked_even_when_the_deployment_asks_for_no_property(settings):
    # A failed match on a masked certificate is never a refusal: the match cannot decide without is_masked.
    bare = settings.model_copy(update={"insights_properties": ()})
    assert asks(bare, {"bot_detected": {}}).probe.insights == ("bot_detected", "is_masked")
    assert asks(bare, {"bot_detected": {}}, lead_match_policy="accept").probe.insights == ("bot_detected",)
    # The deployment's INSIGHTS_PROPERTIES are asked in the call made anyway (what a shadow rule can read).
    watched = settings.model_copy(update={"insights_properties": ("is_masked", "bot_detected")})
    assert asks(watched, shadow({"bot_detected": {}})).combined.insights == ("bot_detected", "is_masked")


# --- judging on what was asked --------------------------------------------------------------------------

LEAD = received_lead()


def answered(asked: dict[str, Any], answer: dict[str, Any], status: int = 200) -> Exchange:
    """One call as recorded: its request body, TrustedForm's answer."""
    exchange = Exchange(
        attempt=1,
        started_at="2026-11-22T12:00:01.000+00:00",
        duration_ms=10.0,
        request={"body": json.dumps(asked)},
        response={"status": status, "headers": {}, "body": json.dumps(answer)},
    )
    exchange._json = answer
    return exchange


def match(success: bool) -> dict[str, Any]:
    return {"result": {"email_match": success, "phone_match": None, "success": success}}


PROBE = answered(
    {"insights": {"properties": ["bot_detected", "is_masked"]}},
    {"outcome": "success", "insights": {"properties": {"bot_detected": False, "is_masked": False}}},
)
RETAIN = answered(
    {"match_lead": {"email": "x"}, "retain": {"reference": "L1", "vendor": "v"}},
    {"outcome": "failure", "match_lead": match(False), "retain": {"results": {"expires_at": "2027-01-01T00:00:00Z"}}},
)


def test_a_shadow_rule_whose_data_was_not_asked_for_is_not_evaluated():
    watched = shadow({"domains": EVERY_RULE["domains"], "page_scans": SCANS})
    rules = RuleSet.model_validate({"bot_detected": {}, **watched})
    verdicts = {v.rule: v for v in evaluate(rules, facts_from([PROBE], LEAD))}
    assert verdicts["bot_detected"].passed is True
    for rule in ("domains", "page_scans"):
        assert verdicts[rule].passed is None and verdicts[rule].detail == NOT_FETCHED
    # Asked for (by the deployment's INSIGHTS_PROPERTIES, say) it is judged: a would-refuse, not a refusal.
    fetched = Facts(properties={"domain": "b.example"}, fetched=frozenset({"domain"}))
    judged = {v.rule: v for v in evaluate(rules, fetched)}["domains"]
    assert judged.passed is False and not judged.refuses


def test_an_answer_without_its_request_on_record_is_judged_on_what_it_says():
    unknown = Exchange(attempt=1, started_at=PROBE.started_at, duration_ms=1.0, request={}, response=PROBE.response)
    unknown._json = PROBE.json()
    assert facts_from([unknown], LEAD).fetched is None
    verdicts = evaluate(RuleSet.model_validate({"domains": EVERY_RULE["domains"]}), facts_from([unknown], LEAD))
    assert [(v.passed, v.detail) for v in verdicts] == [(None, {})]  # not reported, rather than not asked


def test_decide_firsts_shadow_lead_match_is_judged_on_the_retains_match(settings):
    rules = RuleSet.model_validate({"bot_detected": {}, "lead_match": {"mode": "shadow"}})
    decision, verdicts = judge(rules, [PROBE], LEAD, decide(PROBE, settings, retaining=False))
    assert decision.status is Status.RETAINED  # kept: the first call had no match to judge
    assert {v.rule: v.detail for v in verdicts}["lead_match"] == NOT_FETCHED
    final = {v.rule: v for v in review(rules, [PROBE, RETAIN], LEAD, verdicts)}
    assert final["lead_match"].passed is False and final["lead_match"].mode == "shadow"
    assert final["bot_detected"] == {v.rule: v for v in verdicts}["bot_detected"]


def test_each_fact_comes_from_the_earliest_answer_that_reported_it():
    # An enforced match judged on the first call stands, whatever the retain's match says later.
    probe = answered(
        {"match_lead": {"email": "x"}, "insights": {"properties": ["is_masked"]}},
        {"outcome": "success", "match_lead": match(True), "insights": {"properties": {"is_masked": False}}},
    )
    facts = facts_from([probe, RETAIN], LEAD)
    assert facts.match_success is True and facts.masked is False
    assert facts.fetched == {"match_lead", "is_masked"}
    server_error = answered({"match_lead": {"email": "x"}}, {"outcome": "error"}, status=500)
    assert facts_from([server_error], LEAD).fetched == frozenset()  # a call not answered fetched nothing
