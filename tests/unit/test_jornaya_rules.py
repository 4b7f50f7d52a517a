"""The second consent record, pure parts: a LeadiD token's strict shape and the field names vendors use, the
``jornaya`` and ``consent_records`` rules judged on Jornaya's findings, and the settings that turn it on."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.decisions.screen_rules import screens_needed
from tf_retainer.decisions.verdicts import Facts, evaluate
from tf_retainer.domain.leadid import InvalidLeadidToken, parse_leadid_token
from tf_retainer.domain.models import LeadSubmission
from tf_retainer.domain.screens import Screen, ScreenResult
from tf_retainer.runtime.settings import Settings

TOKEN = "3DCA834C-1820-42A9-BAE9-7A46EEA25AC0"
CERT = "https://cert.trustedform.com/" + "a" * 40
BASE = {"TABLE_NAME": "leads", "RETRY_QUEUE_URL": "q", "TRUSTEDFORM_SECRET_ID": "s"}


def audit(answered: bool = True, **findings: Any) -> dict[str, ScreenResult]:
    result = ScreenResult.model_validate(
        {"screen": "leadid", "provider": "jornaya", "checked_at": "2026-12-07T12:00:00Z", "answered": answered,
         "findings": findings}
    )  # fmt: skip
    return {"leadid": result}


def judged(rules: dict[str, Any], screens: dict[str, ScreenResult], leadid: bool | None = True) -> dict[str, Any]:
    verdicts = evaluate(RuleSet.model_validate(rules), Facts(screens=screens, leadid=leadid))
    return {v.rule: v for v in verdicts}


# --- the token -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [TOKEN, TOKEN.lower(), f"  {TOKEN}  "])
def test_a_token_is_kept_upper_case_as_jornaya_spells_it(raw):
    assert parse_leadid_token(raw) == TOKEN


@pytest.mark.parametrize(
    "raw", ["", "1234", TOKEN[:-1], TOKEN + "0", TOKEN.replace("-", ""), "G" + TOKEN[1:], TOKEN.replace("-", "_")]
)
def test_anything_but_a_36_character_uuid_is_refused(raw):
    with pytest.raises(InvalidLeadidToken):
        parse_leadid_token(raw)


@pytest.mark.parametrize("field", ["universal_leadid", "leadid_token"])
def test_both_field_names_vendors_use_are_taken(field):
    assert LeadSubmission.model_validate({"trustedform_cert_url": CERT, field: TOKEN.lower()}).universal_leadid == TOKEN


def test_two_different_tokens_under_both_names_are_refused_not_guessed():
    with pytest.raises(ValidationError, match="different tokens"):
        LeadSubmission.model_validate(
            {"trustedform_cert_url": CERT, "universal_leadid": TOKEN, "leadid_token": TOKEN[:-1] + "1"}
        )
    same = LeadSubmission.model_validate(
        {"trustedform_cert_url": CERT, "universal_leadid": TOKEN, "leadid_token": TOKEN.lower()}
    )
    assert same.universal_leadid == TOKEN and "leadid_token" not in same.extra_fields


def test_an_empty_token_is_no_token():
    assert (
        LeadSubmission.model_validate({"trustedform_cert_url": CERT, "universal_leadid": ""}).universal_leadid is None
    )


# --- the rules -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_result", "colour", "passed"),
    [("yellow", "green", True), ("yellow", "yellow", True), ("yellow", "red", False), ("green", "yellow", False)],
)
def test_the_jornaya_rule_refuses_a_colour_worse_than_the_buyer_accepts(max_result, colour, passed):
    found = judged({"jornaya": {"max_result": max_result}}, audit(authentic=True, result=colour, failing=["contrast"]))
    assert found["jornaya"].passed is passed
    if not passed:
        assert found["jornaya"].detail.items() >= {"result": colour, "failing": ["contrast"]}.items()


def test_a_token_jornaya_does_not_vouch_for_fails_both_rules_with_its_reason():
    found = judged(
        {"jornaya": {}, "consent_records": {"required": "both"}}, audit(authentic=False, not_authentic="expired")
    )
    assert found["jornaya"].passed is False and found["jornaya"].detail["not_authentic"] == "expired"
    assert found["consent_records"].passed is False


def test_consent_records_both_needs_a_token_and_trustedform_needs_nothing_more():
    found = judged({"consent_records": {"required": "both"}}, {}, leadid=False)
    assert found["consent_records"].refuses and found["consent_records"].detail["missing"] == "jornaya"
    assert judged({"consent_records": {"required": "trustedform"}}, {}, leadid=False)["consent_records"].passed is True
    # a yellow audit is a record all the same: the jornaya rule is the buyer's threshold, not this one
    assert judged({"consent_records": {"required": "both"}}, audit(authentic=True, result="yellow"))[
        "consent_records"
    ].passed


def test_an_unanswered_or_missing_audit_is_never_a_refusal():
    assert judged({"jornaya": {}}, audit(answered=False))["jornaya"].passed is None
    assert judged({"jornaya": {}}, {})["jornaya"].passed is None
    assert judged({"consent_records": {"required": "both"}}, {}, leadid=None)["consent_records"].passed is None


def test_only_both_and_the_jornaya_rule_make_jornaya_asked():
    configured = {Screen.LEADID}
    assert (
        screens_needed(RuleSet.model_validate({"jornaya": {"mode": "shadow"}}).screen_rules(), configured) == configured
    )
    both = RuleSet.model_validate({"consent_records": {"required": "both"}})
    assert screens_needed(both.screen_rules(), configured) == configured
    trustedform = RuleSet.model_validate({"consent_records": {"required": "trustedform"}})
    assert screens_needed(trustedform.screen_rules(), configured) == set()
    assert screens_needed(RuleSet.model_validate({"jornaya": {"mode": "off"}}).screen_rules(), configured) == set()


@pytest.mark.parametrize(
    "rules",
    [
        {"consent_records": {"required": "any"}},
        {"jornaya": {"max_result": "red"}},
        {"jornaya": {"brand_names": ["a|b"]}},
        {"jornaya": {"brand_names": [f"brand {n}" for n in range(31)]}},
    ],
)
def test_rule_parameters_jornaya_cannot_take_are_refused(rules):
    with pytest.raises(ValidationError):
        RuleSet.model_validate(rules)


# --- the settings ----------------------------------------------------------------------------------------


def test_jornaya_alone_needs_its_secret_and_no_kms_key_for_phone_numbers():
    on = Settings.from_environ({**BASE, "SCREENS": "leadid=jornaya", "JORNAYA_SECRET_ID": "j"})
    assert on.screens == {"leadid": "jornaya"} and on.contact_key_id == ""
    with pytest.raises(ValidationError, match="JORNAYA_SECRET_ID is required"):
        Settings.from_environ({**BASE, "SCREENS": "leadid=jornaya"})


@pytest.mark.parametrize(
    "url", ["https://api.leadid.com.evil.example", "http://api.leadid.com", "https://api.leadid.com/SingleQuery",
            "https://user@api.leadid.com", "https://www.leadid.com"]
)  # fmt: skip
def test_jornaya_s_keys_go_to_its_one_host_or_a_loopback_simulator_only(url):
    with pytest.raises(ValidationError, match="JORNAYA_API_URL"):
        Settings.from_environ({**BASE, "JORNAYA_API_URL": url})
    assert Settings.from_environ({**BASE, "JORNAYA_API_URL": "http://127.0.0.1:8914"}).jornaya_api_url.port == 8914
