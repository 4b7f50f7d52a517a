"""Rule sets as data: validation, the vendor overlay, and each rule's verdict on TrustedForm's facts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.decisions.verdicts import Facts, evaluate, refusal
from tf_retainer.domain.models import Reason


@pytest.mark.parametrize(
    "data",
    [
        {"no_such_rule": {}},
        {"max_age": {"max_seconds": -5}},
        {"max_age": {"max_seconds": "soon"}},
        {"bot_detected": {"mode": "sometimes"}},
        {"form_input_method": {"refused": ["telepathy"]}},
        {"consent_verified": {"one_to_one": True}},
        {"page_scans": {}},
        {"domains": {"allowed": []}},
    ],
)
def test_bad_rule_sets_are_refused(data):
    with pytest.raises(ValidationError):
        RuleSet.model_validate(data)


def test_a_vendor_rule_replaces_the_defaults_one_by_one():
    default = RuleSet.model_validate({"max_age": {"max_seconds": 900}, "bot_detected": {}})
    vendor = RuleSet.model_validate({"bot_detected": {"mode": "off"}, "domains": {"allowed": ["a.example"]}})
    effective = vendor.over(default)
    assert effective.max_age and effective.max_age.max_seconds == 900
    assert effective.active("bot_detected") is None and effective.domains is not None


def verdicts(rules: dict, **facts):
    return {v.rule: v for v in evaluate(RuleSet.model_validate(rules), Facts(**facts))}


def test_unknown_facts_never_refuse():
    judged = verdicts({"max_age": {"max_seconds": 60}, "bot_detected": {}, "domains": {"allowed": ["a.example"]}})
    assert {rule: v.passed for rule, v in judged.items()} == {"max_age": None, "bot_detected": None, "domains": None}
    assert refusal(list(judged.values())) is None


def test_freshness_is_judged_on_the_age_at_arrival():
    judged = verdicts({"max_age": {"max_seconds": 900}}, age_at_arrival=901.4)
    assert judged["max_age"].refuses and judged["max_age"].reason is Reason.LEAD_TOO_OLD
    assert judged["max_age"].detail == {"age_seconds": 901, "max_seconds": 900}
    assert verdicts({"max_age": {"max_seconds": 900}}, age_at_arrival=900)["max_age"].passed


def test_domains_allow_subdomains_and_nothing_that_merely_ends_alike():
    rules = {"domains": {"allowed": ["acme.example"]}}
    assert verdicts(rules, properties={"domain": "www.acme.example"})["domains"].passed
    assert not verdicts(rules, properties={"domain": "evilacme.example"})["domains"].passed
    page_elsewhere = {"domain": "acme.example", "page_url": "https://evil.example/x"}
    assert not verdicts(rules, properties=page_elsewhere)["domains"].passed


def test_input_method_refuses_only_leads_made_entirely_of_refused_methods():
    rules = {"form_input_method": {"refused": ["paste", "autofill"]}}
    assert not verdicts(rules, properties={"form_input_method": ["paste", "autofill"]})["form_input_method"].passed
    assert verdicts(rules, properties={"form_input_method": ["paste", "typing"]})["form_input_method"].passed


def test_a_failed_match_on_a_masked_certificate_is_not_a_refusal():
    rules = {"lead_match": {}}
    assert verdicts(rules, match_success=False, masked=True)["lead_match"].passed
    assert verdicts(rules, match_success=False, masked=False)["lead_match"].refuses


def test_consent_checks_only_what_the_buyer_asked_for():
    rules = {"consent_verified": {"min_font_size_px": 12}}
    result = {"language_approved": True, "min_font_size_px_satisfied": True, "one_to_one": False, "success": True}
    judged = verdicts(rules, verify={"result": result, "languages": [{"text": "I agree"}]})["consent_verified"]
    assert judged.passed and judged.detail["consent_text"] == ["I agree"]
    result = {**result, "language_approved": False}
    judged = verdicts(rules, verify={"result": result})["consent_verified"]
    assert judged.refuses and judged.detail["failed_checks"] == ["language_approved"]


def test_shadow_verdicts_do_not_refuse():
    judged = verdicts({"bot_detected": {"mode": "shadow"}}, properties={"bot_detected": True})
    assert judged["bot_detected"].passed is False and not judged["bot_detected"].refuses


def test_rules_ask_only_for_the_properties_the_enforced_ones_read():
    rules = RuleSet.model_validate({"bot_detected": {}, "confirmed_owner": {"owner": "A"}, "domains": {"mode": "off",
                                    "allowed": ["a.example"]}, "form_input_method": {"mode": "shadow",
                                    "refused": ["paste"]}})  # fmt: skip
    assert rules.insights_properties() == {"bot_detected", "confirmed_owner"}
