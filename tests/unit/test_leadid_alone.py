"""Leads kept on their LeadiD token alone (issue 25), pure parts: ``consent_records: jornaya | either`` judged
on Jornaya's audit with and without a certificate, which leads the intake takes without a certificate (an
enforced rule only, a token given, Jornaya's audit configured), the refusal of the others exactly as before, the
records a retained lead is kept on, its window and its claim's key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from tf_retainer.api.parsing import JSON, parse_submission
from tf_retainer.decisions.rulebook import RulesInForce
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.decisions.screen_rules import screens_needed
from tf_retainer.decisions.verdicts import Facts, evaluate
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import Reason, Status
from tf_retainer.domain.screens import Screen, ScreenResult
from tf_retainer.leads import intake, schedule
from tf_retainer.runtime.settings import Settings
from tf_retainer.store import keys

TOKEN = "3DCA834C-1820-42A9-BAE9-7A46EEA25AC0"
CERT_URL = "https://cert.trustedform.com/" + "a" * 40
SETTINGS = Settings.from_environ({"TABLE_NAME": "leads", "RETRY_QUEUE_URL": "q", "TRUSTEDFORM_SECRET_ID": "s"})


def audit(answered: bool = True, **findings: Any) -> dict[str, ScreenResult]:
    result = ScreenResult.model_validate(
        {"screen": "leadid", "provider": "jornaya", "checked_at": "2026-12-07T12:00:00Z", "answered": answered,
         "findings": findings, "call_id": "1.1/abc"}
    )  # fmt: skip
    return {"leadid": result}


def records_verdict(required: str, screens: dict[str, ScreenResult], *, certificate: bool, leadid: bool = True):
    rules = RuleSet.model_validate({"consent_records": {"required": required}})
    [verdict] = evaluate(rules, Facts(screens=screens, leadid=leadid, certificate=certificate))
    return verdict


GREEN, RED = audit(authentic=True, result="green"), audit(authentic=True, result="red", failing=["disclosure"])
NOT_VOUCHED = audit(authentic=False, not_authentic="expired")


# --- the rule --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("required", ["jornaya", "either"])
def test_jornaya_and_either_are_rule_values_now(required):
    assert RuleSet.model_validate({"consent_records": {"required": required}}).consent_records.required == required


@pytest.mark.parametrize(("screens", "passed"), [(GREEN, True), (RED, False), (NOT_VOUCHED, False), ({}, None)])
@pytest.mark.parametrize("required", ["jornaya", "either"])
def test_a_lead_without_a_certificate_is_judged_on_its_audit(required, screens, passed):
    verdict = records_verdict(required, screens, certificate=False)
    assert verdict.passed is passed and verdict.reason is Reason.CONSENT_RECORD_MISSING


def test_either_with_a_certificate_needs_no_audit_and_jornaya_needs_the_token_even_with_one():
    assert records_verdict("either", RED, certificate=True).passed is True
    assert records_verdict("either", {}, certificate=True, leadid=False).passed is True
    assert records_verdict("jornaya", RED, certificate=True).passed is False
    missing = records_verdict("jornaya", {}, certificate=True, leadid=False)
    assert missing.refuses and missing.detail["missing"] == "jornaya"


def test_either_asks_jornaya_only_for_a_lead_without_a_certificate():
    configured = {Screen.LEADID}
    either = RuleSet.model_validate({"consent_records": {"required": "either"}})
    assert screens_needed(either.screen_rules(certificate=True), configured) == set()
    assert screens_needed(either.screen_rules(certificate=False), configured) == configured
    jornaya = RuleSet.model_validate({"consent_records": {"required": "jornaya"}})
    assert screens_needed(jornaya.screen_rules(certificate=True), configured) == configured


@pytest.mark.parametrize(
    ("rule", "taken"),
    [
        ({"required": "jornaya"}, True),
        ({"required": "either"}, True),
        ({"required": "jornaya", "mode": "shadow"}, False),  # a shadow rule never lets in what enforcement refuses
        ({"required": "either", "mode": "off"}, False),
        ({"required": "both"}, False),
        ({"required": "trustedform"}, False),
        (None, False),
    ],
)
def test_only_an_enforced_jornaya_or_either_takes_a_lead_without_a_certificate(rule, taken):
    rules = RuleSet.model_validate({"consent_records": rule} if rule else {})
    assert rules.takes_token_alone() is taken


# --- the intake's decision -------------------------------------------------------------------------------


def deps(rule: dict[str, Any] | None, *, audited: bool = True) -> Any:
    rules = RulesInForce(RuleSet.model_validate({"consent_records": rule} if rule else {}), "v1")
    settings = SETTINGS.model_copy(update={"screens": {"leadid": "jornaya"} if audited else {}})
    screening = SimpleNamespace(consent_record=object() if audited else None)
    return SimpleNamespace(settings=settings, screening=screening, rules=lambda vendor: rules)


def test_the_intake_takes_a_lead_without_a_certificate_only_under_an_enforced_rule_with_jornaya_configured():
    assert intake.takes_token_alone(deps({"required": "either"}), "acme") is True
    assert intake.takes_token_alone(deps({"required": "either", "mode": "shadow"}), "acme") is False
    assert intake.takes_token_alone(deps({"required": "either"}, audited=False), "acme") is False


def lead_body(**fields: Any) -> bytes:
    return json.dumps({"email": "a@example.com", **fields}).encode()


def test_a_lead_without_a_certificate_is_parsed_when_its_vendor_takes_it():
    asked: list[bool] = []

    def takes() -> bool:
        asked.append(True)
        return True

    submission = parse_submission(lead_body(universal_leadid=TOKEN.lower()), JSON, 65536, token_alone=takes)
    assert submission.trustedform_cert_url is None and submission.universal_leadid == TOKEN and asked == [True]
    parse_submission(lead_body(trustedform_cert_url=CERT_URL), JSON, 65536, token_alone=takes)
    assert asked == [True]  # the rules are not read for a lead with a certificate


@pytest.mark.parametrize(
    ("fields", "takes", "named"),
    [
        ({"universal_leadid": TOKEN}, False, []),  # the vendor's rules do not take it
        ({}, True, []),  # no token
        ({"universal_leadid": ""}, True, []),
        ({"universal_leadid": TOKEN, "phone": "12"}, False, ["phone"]),  # named first, beside the other problem
    ],
)
def test_any_other_lead_without_a_certificate_is_refused_as_before_naming_the_field(fields, takes, named):
    with pytest.raises(InputRejected) as caught:
        parse_submission(lead_body(**fields), JSON, 65536, token_alone=lambda: takes)
    assert caught.value.reason is Reason.INVALID_CERTIFICATE_URL
    errors = caught.value.errors or []
    assert (errors[0].field, errors[0].message) == ("trustedform_cert_url", "Field required")
    assert [e.field for e in errors[1:]] == named


def test_an_empty_certificate_url_is_refused_even_when_the_token_alone_would_do():
    with pytest.raises(InputRejected) as caught:
        parse_submission(
            lead_body(trustedform_cert_url="", universal_leadid=TOKEN), JSON, 65536, token_alone=lambda: True
        )
    assert caught.value.reason is Reason.INVALID_CERTIFICATE_URL


# --- the lead --------------------------------------------------------------------------------------------


def lead(status: Status, screens: dict[str, ScreenResult], cert_id: str | None = None) -> Lead:
    return Lead(
        lead_id="L1", vendor="acme", status=status, cert_id=cert_id, leadid_token=TOKEN, received_at="r",
        deadline="d", screens=screens,
    )  # fmt: skip


def test_a_retained_lead_says_which_records_it_is_kept_on():
    assert lead(Status.RETAINED, GREEN).kept_on() == ["jornaya"]
    assert lead(Status.RETAINED, GREEN, cert_id="c" * 40).kept_on() == ["trustedform", "jornaya"]
    assert lead(Status.RETAINED, RED, cert_id="c" * 40).kept_on() == ["trustedform"]
    assert lead(Status.PENDING, GREEN).kept_on() is None
    answer = lead(Status.RETAINED, GREEN).answer()
    assert answer.kept_on == ["jornaya"] and answer.cert_id is None and answer.leadid_token == TOKEN
    records = lead(Status.RETAINED, GREEN).consent_records()
    assert records["kept_on"] == ["jornaya"] and records["trustedform"] == {"cert_id": None, "retained": False}


def test_a_lead_without_a_certificate_gets_a_web_certificate_s_window_and_claims_its_token():
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert schedule.retain_deadline(None, now, SETTINGS) == schedule.retain_deadline("web", now, SETTINGS)
    assert schedule.retain_deadline(None, now, SETTINGS) < now + timedelta(hours=SETTINGS.retain_window_hours)
    assert keys.claim_pk(None, TOKEN) == f"LEADID#{TOKEN}" and keys.claim_pk("c" * 40, TOKEN) == "CERT#" + "c" * 40
    with pytest.raises(ValueError):
        keys.claim_pk(None, None)


def test_verify_reads_a_rule_not_evaluated_for_want_of_a_certificate_as_the_chain_holds_it():
    """A lead kept on its token records TrustedForm's rules as not evaluated (``passed`` None); the chain's
    entries leave None values out, and `tf-retainer verify` compares the state in that form (it flagged such a
    state as edited before)."""
    from tf_retainer.domain import chain

    from tf_retainer_ops.bundle_check import state_problem

    verdict = {"rule": "max_age", "mode": "enforce", "passed": None, "reason": "lead_too_old", "not_evaluated": "x"}
    state = lead(Status.RETAINED, GREEN).model_dump(mode="json", exclude_none=True) | {"verdicts": [verdict]}
    entry = chain.parse(chain.Entry(seq=1, at="a", prev="p", events=[], exchanges=[], state=state).content())
    assert state_problem(state, [entry]) is None
    assert state_problem({**state, "verdicts": [{**verdict, "passed": True}]}, [entry]) is not None


def test_the_vendor_scorecard_counts_leads_without_a_certificate_and_those_kept_on_their_token():
    from tf_retainer.vendors.scorecard import score

    refused = lead(Status.REJECTED, {}).model_copy(update={"lead_id": "L2", "reason": Reason.LEADID_REUSED})
    card = score("acme", [lead(Status.RETAINED, GREEN), refused, lead(Status.RETAINED, GREEN, cert_id="c" * 40)])
    assert (card.without_certificate, card.kept_on_token, card.reused_refused) == (2, 1, 1)
