"""The Jornaya TCPA Guardian simulator over real HTTP, against tests/contract/jornaya.json: the token's
authenticity (with its documented reasons), the TCPA facts and their rules, brand names, data integrity,
the buyer's audit profile and the green/yellow/red result."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from local.sims.jornaya import TOKEN, JornayaSimulator, prominence
from tests.support.sims import AUDIT_KEY, KEY, check, client, token

GREEN, YELLOW, RED = 1, 2, 3


@pytest.fixture(scope="module")
def simulator():
    with JornayaSimulator(api_keys=(KEY,), audit_keys=(AUDIT_KEY,)) as sim:
        yield sim


@pytest.fixture
def sim(simulator):
    simulator.reset()
    simulator.api_keys = frozenset({KEY})
    return simulator


@pytest.fixture
def c(sim):
    with client(sim) as c:
        yield c


def params(lead: str, documented: bool = True, **extra: str) -> dict[str, str]:
    """The query; checked against the contract unless the test sends what we never would."""
    data = "email;joe@example.com|phone1;5125550142"
    query = {"lac": KEY, "id": lead, "lak": AUDIT_KEY, "lpc": "VENDOR-1", "data": data, **extra}
    return check("jornaya", "requests/SingleQueryParams", query) if documented else query


def audit(c, lead: str, documented: bool = True, **extra: str) -> dict:
    response = c.get("/SingleQuery", params=params(lead, documented, **extra))
    assert response.status_code == 200, response.text
    return check("jornaya", "responses/SingleQuery/200", response.json())["audit"]


def test_a_good_lead_is_authentic_and_green(c):
    lead = token()
    answer = audit(c, lead)
    tcpa = answer["market"]["leadid"]["tcpa"]
    assert (answer["authentic"], answer["token"], answer["result"], tcpa["result"]) == (1, lead, GREEN, GREEN)
    assert tcpa["disclosure"] == "match" and tcpa["consent"] == "active" and tcpa["prominence"] == 100
    assert all(v == GREEN for k, v in tcpa.items() if k.endswith("_rule"))
    assert answer["data_integrity"] == 1 and answer["fields"] == {"email": 1, "phone1": 1}


def test_a_lower_case_token_is_accepted(c):
    lead = token().lower()
    assert audit(c, lead)["authentic"] == 1


@pytest.mark.parametrize(
    ("lead", "facts", "reason"),
    [
        ("not-a-token", {}, 4),
        ("A1C2860F-25EA-4937-BC78-222D8C22778", {}, 4),  # 35 characters
        (None, {"issued": False}, 4),
        (None, {"created_at": (datetime.now(UTC) - timedelta(days=366)).isoformat()}, 1),
        (None, {"opted_out": True}, 3),
    ],
)
def test_inauthentic_tokens_answer_200_with_the_documented_reason(c, sim, lead, facts, reason):
    lead = lead or token()
    if facts:
        sim.script(lead, **facts)
    answer = audit(c, lead, documented=TOKEN.fullmatch(lead) is not None)
    assert answer == {"authentic": 0, "reason": reason, "reg_rule": RED, "result": RED, "token": lead}


def test_a_token_queried_more_than_100_times_reaches_its_limit(c, sim):
    lead = token()
    for _ in range(100):
        assert audit(c, lead)["authentic"] == 1
    assert audit(c, lead)["reason"] == 2
    assert sim.count(lead) == 101


@pytest.mark.parametrize(
    ("facts", "field", "value", "rule"),
    [
        ({"disclosure": "mismatch"}, "disclosure", "mismatch", RED),
        ({"disclosure": "no_label"}, "disclosure", "no_label", RED),
        ({"consent": "passive"}, "consent", "passive", YELLOW),
        ({"consent": "active_decline"}, "consent", "active_decline", RED),
        ({"consent": "no_interaction"}, "consent", "no_interaction", GREEN),
        ({"font_px": 11}, "prominence", 37.5, YELLOW),
        ({"contrast": 25}, "contrast", 25, YELLOW),
        ({"visible": False}, "visibility", "not_visible", RED),
        ({"captured": False}, "capture", 0, RED),
        ({"stored": False}, "stored", 0, RED),
    ],
)
def test_each_tcpa_fact_sets_its_field_rule_and_the_result(c, sim, facts, field, value, rule):
    lead = token()
    sim.script(lead, **facts)
    answer = audit(c, lead)
    tcpa = answer["market"]["leadid"]["tcpa"]
    assert (tcpa[field], tcpa[f"{field}_rule"], tcpa["result"], answer["result"]) == (value, rule, rule, rule)


@pytest.mark.parametrize(("px", "value"), [(8, 0), (9, 12.5), (12, 50), (15.5, 87.5), (16, 100), (30, 100)])
def test_prominence_follows_jornayas_table(px, value):
    assert prominence(px) == value


def test_call_center_leads_are_flagged_as_the_profile_says(c, sim):
    lead = token()
    sim.script(lead, call_center=True)
    assert (audit(c, lead)["call_center"], audit(c, lead)["result"]) == (1, GREEN)
    sim.profile(AUDIT_KEY, failing={"call_center": RED})
    assert audit(c, lead)["call_center_rule"] == RED and audit(c, lead)["result"] == RED


def test_brand_names_are_echoed_as_sent_and_checked_one_by_one(c, sim):
    lead = token()
    sim.script(lead, brands=["Acme Insurance, LLC"])
    sent = "acme insurance, llc| Other Brand"
    tcpa = audit(c, lead, brand_names=sent)["market"]["leadid"]["tcpa"]
    assert tcpa["brand_names"] == sent
    assert tcpa["brand_name_present"] == [
        {"brand_name": "acme insurance, llc", "present": 1},
        {"brand_name": " Other Brand", "present": 0},
    ]
    assert tcpa["brand_name_present_rule"] == RED and tcpa["result"] == RED
    assert "brand_names" not in audit(c, lead)["market"]["leadid"]["tcpa"]


def test_the_profiles_brand_names_apply_when_the_request_names_none(c, sim):
    lead = token()
    sim.profile(AUDIT_KEY, brand_names="Acme Insurance, LLC")
    assert audit(c, lead)["market"]["leadid"]["tcpa"]["brand_name_present_rule"] == GREEN  # unscripted: all present


def test_more_than_30_brand_names_is_error_1050(c):
    response = c.get("/SingleQuery", params=params(token(), brand_names="|".join(f"Brand {i}" for i in range(31))))
    body = check("jornaya", "responses/SingleQuery/error", response.json())
    assert body["error"] == {"code": 1050, "message": "Brand names parameter limit of 30 was reached"}


def test_data_integrity_compares_what_was_sent_with_what_the_script_saw(c, sim):
    lead = token()
    sim.script(lead, witnessed={"email": "Joe@Example.com", "phone1": "(512) 555-0142", "f_name": "Joe"})
    answer = audit(c, lead, data="email;joe@example.com|phone1;+15125550142|f_name;Jim|zip;78704")
    assert answer["fields"] == {"email": 1, "phone1": 1, "f_name": 0, "zip": 0}
    assert answer["data_integrity_failed"] == ["f_name", "zip"] and answer["data_integrity_rule"] == YELLOW
    assert answer["result"] == YELLOW


def test_the_audit_profile_decides_the_colours(c, sim):
    lead = token()
    sim.script(lead, font_px=12, consent="passive")
    assert audit(c, lead)["result"] == YELLOW
    response = c.post(f"/_simulator/profiles/{AUDIT_KEY}", json={"min_prominence": 75, "consent": {"passive": RED}})
    assert response.json()["min_prominence"] == 75
    tcpa = audit(c, lead)["market"]["leadid"]["tcpa"]
    assert (tcpa["prominence_rule"], tcpa["consent_rule"], tcpa["result"]) == (YELLOW, RED, RED)
    assert c.post(f"/_simulator/profiles/{AUDIT_KEY}", json={"colour": "red"}).status_code == 400


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"lac": "unknown"}, 401, 1001),
        ({"lak": "unknown"}, 401, 1002),
        ({"lpc": ""}, 400, 1000),
        ({"data": "email"}, 400, 1000),
    ],
)
def test_bad_requests_answer_the_error_envelope(c, changes, status, code):
    response = c.get("/SingleQuery", params=params(token(), documented=False, **changes))
    assert response.status_code == status
    assert check("jornaya", "responses/SingleQuery/error", response.json())["error"]["code"] == code


def test_post_as_a_form_or_as_single_query_json(c, sim):
    lead = token()
    form = c.post("/SingleQuery", data=params(lead))
    assert check("jornaya", "responses/SingleQuery/200", form.json())["audit"]["authentic"] == 1
    query = {k: v for k, v in params(lead).items() if k != "id"}
    posted = c.post("/singlequery", params=query, json={"single_query": {"lead_id": lead, "brand_names": "Acme"}})
    assert posted.json()["audit"]["market"]["leadid"]["tcpa"]["brand_names"] == "Acme"
    assert sim.count(lead) == 2 and KEY not in json.dumps(sim.requests) and AUDIT_KEY not in json.dumps(sim.requests)


def test_authenticate_answers_authenticity_alone(c, sim):
    lead = token()
    answer = c.get("/Authenticate", params={"lac": KEY, "id": lead}).json()
    assert check("jornaya", "responses/Authenticate/200", answer) == {"authenticate": {"authentic": 1, "token": lead}}
    sim.script(lead, opted_out=True)
    assert c.get("/Authenticate", params={"lac": KEY, "id": lead}).json()["authenticate"]["reason"] == 3
    assert c.get("/Authenticate", params={"lac": "wrong", "id": lead}).status_code == 401
