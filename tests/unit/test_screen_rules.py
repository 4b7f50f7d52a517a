"""The screen rules (pure: the same results give the same verdicts, so stored results replay through a
candidate rule set), the numbers they are asked about, and the settings that turn the screens on."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tf_retainer.decisions import judgement
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.decisions.screen_rules import screens_needed
from tf_retainer.decisions.verdicts import Facts, evaluate, refusal
from tf_retainer.domain.contacts import sha1_hex
from tf_retainer.domain.keyring import Keyring
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.screens import Screen, ScreenResult, national_number, number_key, redact_number
from tf_retainer.runtime.settings import Settings

BASE = {"TABLE_NAME": "leads", "RETRY_QUEUE_URL": "q", "TRUSTEDFORM_SECRET_ID": "s"}


def result(screen: str, provider: str, answered: bool = True, **findings: Any) -> ScreenResult:
    return ScreenResult.model_validate(
        {"screen": screen, "provider": provider, "checked_at": "2026-11-22T12:00:00Z", "answered": answered,
         "findings": findings}
    )  # fmt: skip


def verdict(rules: dict[str, Any], **screens: ScreenResult) -> Any:
    [found] = [v for v in evaluate(RuleSet.model_validate(rules), Facts(screens=screens)) if v.rule in rules]
    return found


# --- the rules ----------------------------------------------------------------------------------------------


def test_a_litigator_is_refused_only_from_the_risk_level_the_buyer_sets():
    found = result("litigator", "blacklist_alliance", litigator=True, codes=["screamers"], risk_level=5)
    assert verdict({"litigator": {}}, litigator=found).refuses
    assert verdict({"litigator": {"min_risk_level": 10}}, litigator=found).passed is True
    assert verdict({"litigator": {}}, litigator=result("litigator", "blacklist_alliance", litigator=False)).passed


def test_the_litigator_rule_reads_dnc_com_s_scrub_when_no_litigator_screen_is_on():
    scrub = result("dnc", "dncscrub", result_code="D", litigator=True, national=False)
    judged = verdict({"litigator": {}}, dnc=scrub)
    assert judged.refuses and judged.detail["screen"] == "dnc"


@pytest.mark.parametrize(
    ("findings", "lists", "passed"),
    [
        ({"result_code": "D", "national": True}, None, False),
        ({"result_code": "D", "state": True}, ["national"], True),  # the buyer asked for the national list only
        ({"result_code": "P", "internal": True}, None, False),
        ({"result_code": "C"}, None, True),
        ({"result_code": "L", "wireless_prohibited_state": True}, None, True),  # only when asked for
    ],
)
def test_dnc_refuses_the_lists_the_buyer_names(findings, lists, passed):
    rule = {"dnc": {"lists": lists}} if lists else {"dnc": {}}
    assert verdict(rule, dnc=result("dnc", "dncscrub", **findings)).passed is passed


def test_dnc_may_refuse_wireless_in_the_states_that_forbid_solicitation_to_it():
    scrub = result("dnc", "dncscrub", result_code="L", wireless_prohibited_state=True)
    assert verdict({"dnc": {"wireless_prohibited_states": True}}, dnc=scrub).refuses


def test_reassigned_numbers_and_the_database_s_no_data():
    yes = result("reassigned_number", "dncscrub", reassigned=True, consent_date="2026-09-01")
    assert verdict({"reassigned_number": {}}, reassigned_number=yes).refuses
    no_data = result("reassigned_number", "twilio_lookup", reassigned=None)
    assert verdict({"reassigned_number": {}}, reassigned_number=no_data).passed is True
    assert verdict({"reassigned_number": {"no_data": "refuse"}}, reassigned_number=no_data).refuses


def test_phone_validity_and_line_type():
    dead = result("phone", "twilio_lookup", valid=True, line_type="mobile", line_status="inactive")
    assert verdict({"phone_valid": {}}, phone=dead).refuses
    assert verdict({"phone_valid": {"refuse_inactive": False}}, phone=dead).passed is True
    assert verdict({"phone_valid": {}}, phone=result("phone", "twilio_lookup", valid=False)).refuses
    toll = result("phone", "twilio_lookup", valid=True, line_type="tollFree")
    assert verdict({"line_type": {"refused": ["tollFree"]}}, phone=toll).refuses
    assert verdict({"line_type": {"refused": ["pager"]}}, phone=toll).passed is True


def test_an_unanswered_or_missing_screen_is_never_a_refusal():
    down = result("dnc", "dncscrub", answered=False)
    assert verdict({"dnc": {}}, dnc=down).passed is None
    assert verdict({"dnc": {}}).passed is None


def test_shadow_screens_never_refuse_and_the_screens_come_first():
    listed = result("dnc", "dncscrub", result_code="D", national=True)
    verdicts = evaluate(
        RuleSet.model_validate({"dnc": {"mode": "shadow"}, "bot_detected": {}}), Facts(screens={"dnc": listed})
    )
    assert verdicts[0].rule == "dnc" and refusal(verdicts) is None


def test_max_age_days_is_at_most_the_national_registry_s_31():
    with pytest.raises(ValidationError):
        RuleSet.model_validate({"dnc": {"max_age_days": 32}})
    with pytest.raises(ValidationError):
        RuleSet.model_validate({"line_type": {"refused": ["satellite"]}})


def test_the_screens_a_rule_set_needs_are_those_a_provider_answers():
    rules = RuleSet.model_validate({"litigator": {}, "dnc": {"mode": "shadow"}, "phone_valid": {"mode": "off"}})
    assert screens_needed(rules.screen_rules(), {Screen.DNC, Screen.LITIGATOR}) == {Screen.LITIGATOR, Screen.DNC}
    assert screens_needed(rules.screen_rules(), {Screen.DNC}) == {Screen.DNC}  # DNC.com's scrub names litigators
    assert screens_needed(rules.screen_rules(), set()) == set()


def test_the_reassigned_rule_asks_trustedform_for_the_consent_date_only_when_enforced():
    """The gate re-checks only enforced rules: a shadow one never adds a property TrustedForm bills."""
    assert "created_at" in RuleSet.model_validate({"reassigned_number": {}}).insights_properties()
    assert "created_at" not in RuleSet.model_validate({"reassigned_number": {"mode": "shadow"}}).insights_properties()


def test_screen_rules_never_make_decide_first_ask_trustedform_twice():
    """They are judged before TrustedForm is asked: with only screen rules enforced, one call (combined)."""
    settings = Settings.from_environ({**BASE, "RETAIN_MODE": "decide_first"})
    rules = {"litigator": {}, "dnc": {}, "phone_valid": {}, "line_type": {"refused": ["premium"]}}
    assert judgement.plan(RuleSet.model_validate(rules), settings).mode == "combined"
    assert judgement.plan(RuleSet.model_validate({**rules, "bot_detected": {}}), settings).mode == "decide_first"


def test_screen_verdicts_survive_what_trustedform_was_asked():
    """A screen rule reads the screens, whatever TrustedForm was asked for (its answers' ``fetched``), and a
    shadow screen's verdict is judged again on the lead's screens after decide_first's retain."""
    listed = result("dnc", "dncscrub", result_code="D", national=True)
    rules = RuleSet.model_validate({"dnc": {"mode": "shadow"}, "bot_detected": {}})
    [shadow, _] = evaluate(rules, Facts(screens={"dnc": listed}, fetched=frozenset({"bot_detected"})))
    assert (shadow.rule, shadow.passed) == ("dnc", False)
    lead = Lead.model_validate(
        {"lead_id": "l", "vendor": "v", "status": "pending", "cert_id": "c", "cert_kind": "web", "certificate_url": "u",
         "received_at": "2026-11-22T12:00:00Z", "deadline": "2026-11-25T12:00:00Z", "screens": {"dnc": listed}}
    )  # fmt: skip
    [again, _] = judgement.review(rules, [], lead, [shadow, *evaluate(rules, Facts())[1:]])
    assert (again.rule, again.passed, again.detail["lists"]) == ("dnc", False, ["national"])


# --- numbers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "national"),
    [("(707) 527-6405", "7075276405"), ("+1 707.527.6405", "7075276405"), ("17075276405", "7075276405"),
     ("07075276405", None), ("1234567", None), ("+44 20 7946 0958", None), (None, None), ("707-127-6405", None)],
)  # fmt: skip
def test_only_nanp_numbers_are_screened(phone, national):
    assert national_number(phone) == national


def test_every_spelling_of_the_number_is_redacted_and_its_key_is_keyed():
    text = "+17075276405 7075276405 (707) 527-6405 707-527-6405 %2B17075276405 17075276405"
    assert redact_number(text, "7075276405") == " ".join(["[phone]"] * 6)
    keyring, other = Keyring(lambda: b"k" * 32), Keyring(lambda: b"o" * 32)
    key = number_key(keyring, "7075276405")
    assert key == number_key(keyring, national_number("707 527 6405") or "")
    # Not the number's plain fingerprint (reversed by brute force), nor the consumer index's token of it.
    assert key not in (
        sha1_hex("+17075276405"),
        sha1_hex("7075276405"),
        keyring.consumer("phone", sha1_hex("7075276405")),
    )
    assert key != number_key(other, "7075276405")


# --- settings -----------------------------------------------------------------------------------------------


def settings(**env: str) -> Settings:
    return Settings.from_environ({**BASE, **env})


def test_the_screens_are_off_by_default():
    assert settings().screens == {}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCREENS": "dnc=twilio_lookup"}, "dnc is answered by dncscrub"),
        ({"SCREENS": "bogus=dncscrub"}, "unknown screen"),
        ({"SCREENS": "dnc=dncscrub"}, "DNCSCRUB_SECRET_ID is required"),
        ({"SCREENS": "dnc=dncscrub", "DNCSCRUB_SECRET_ID": "s"}, "CONTACT_KEY_ID"),
        ({"SCREEN_FAULT_POLICIES": "dncscrub=maybe"}, "fail_closed"),
        ({"SCREEN_COSTS": "acme=1"}, "unknown provider"),
        ({"SCREEN_CACHE_HOURS": "dnc=800"}, "744"),
        ({"SCREENS": "dnc"}, "not name=value"),
    ],
)
def test_a_bad_screening_setting_is_refused(env, message):
    with pytest.raises(ValidationError, match=message):
        settings(**env)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.dncscrub.com.evil.example",
        "https://evil.example/www.dncscrub.com",
        "https://user@www.dncscrub.com",
        "http://www.dncscrub.com",
        "https://www.dncscrub.com:8443",
        "https://www.dncscrub.com/app?x=1",
        "https://127.0.0.1.nip.io",
        "https://dataapi.dncscrub.com",  # another of the provider's hosts: not this setting's
    ],
)
def test_a_provider_s_key_goes_to_its_one_host_or_a_loopback_simulator_only(url):
    with pytest.raises(ValidationError, match="DNCSCRUB_API_URL"):
        settings(DNCSCRUB_API_URL=url)


@pytest.mark.parametrize("url", ["https://www.dncscrub.com", "https://www.dncscrub.com:443/", "http://127.0.0.1:8911"])
def test_the_production_host_and_loopback_are_accepted(url):
    assert settings(DNCSCRUB_API_URL=url).dncscrub_api_url.host in ("www.dncscrub.com", "127.0.0.1")


def test_costs_and_windows_overlay_the_defaults():
    tuned = settings(SCREEN_COSTS="dncscrub=0.02", SCREEN_CACHE_HOURS="phone=24")
    assert tuned.screen_cost("dncscrub") == 0.02 and tuned.screen_cost("blacklist_alliance") == 0.01
    assert tuned.screen_cache_seconds("phone") == 86400 and tuned.screen_cache_seconds("dnc") == 86400
