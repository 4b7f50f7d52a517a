"""The TrustedForm Certificate API v4 simulator, over real HTTP, checked against our contract with the API.

The contract (tests/contract/trustedform_v4.json) holds TrustedForm's request and answer structure as JSON
Schema; docs/trustedform.md tells the facts behind it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from local import simulator as simulator_module
from local.simulator import (
    ACCEPTED_INSIGHTS_PROPERTIES,
    ERROR_BEHAVIOURS,
    FACT_NAMES,
    FORM_INPUT_METHODS,
    INSIGHTS_PROPERTIES,
    MAX_CERT_ID_LENGTH,
    OPT_IN_TYPES,
    TrustedFormSimulator,
    make_meta_cert_id,
    make_mobile_cert_id,
    make_web_cert_id,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
# TrustedForm's request and answer structure as JSON Schema, kept in the repository (see its "about").
CONTRACT_PATH = REPO_ROOT / "tests/contract/trustedform_v4.json"
KEY = "sim-key"
MASKED_URL = re.compile(r"https://cert\.trustedform\.com/[0-9a-f]{40}")
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
# One TLS context for every client: httpx builds (and loads CA certificates into) one per client
# otherwise, about 30 ms each; every URL here is plain http on loopback anyway.
TLS = ssl.create_default_context()


# ---------------------------------------------------------------------------------------------
# the contract


CONTRACT: dict[str, Any] = json.loads(CONTRACT_PATH.read_text())
DEFINITIONS: dict[str, Any] = CONTRACT["definitions"]
VARIANT = {"web": "WebInsightsResult", "mobile": "MobileInsightsResult", "meta": "MetaLeadAdsInsightsResult"}


def _validator(schema: dict[str, Any]) -> jsonschema.Validator:
    return jsonschema.Draft7Validator({**schema, "definitions": DEFINITIONS})


# one validator per answer status the contract describes, per insights variant, for the request and errors
RESPONSE_VALIDATORS = {int(status): _validator(schema) for status, schema in CONTRACT["responses"].items()}
INSIGHTS_VALIDATORS = {kind: _validator({"$ref": f"#/definitions/{name}"}) for kind, name in VARIANT.items()}
REQUEST_VALIDATOR = _validator(CONTRACT["request_body"])
# Every error status carries at least this, whether or not the contract lists the status.
ERROR_VALIDATOR = _validator(CONTRACT["error_body"])
# every insights property the request schema allows
ALL_PROPERTIES = DEFINITIONS["InsightsParameters"]["properties"]["properties"]["items"]["enum"]


def check_answer(response: httpx.Response, kind: str = "web") -> dict[str, Any]:
    """The body as JSON, validated against the contract's schema for its status (and the error body)."""
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    validator = RESPONSE_VALIDATORS.get(response.status_code)
    if validator is not None:
        validator.validate(body)
    if response.status_code != 200:
        ERROR_VALIDATOR.validate(body)
    if "insights" in body:
        INSIGHTS_VALIDATORS[kind].validate(body["insights"])
    return body


def sha1(value: str) -> str:
    return hashlib.sha1(value.encode()).hexdigest()  # noqa: S324


def parse_z(value: str) -> datetime:
    assert ISO_Z.fullmatch(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def aged_between(age_seconds: int, created: datetime, before: datetime, after: datetime) -> bool:
    """``age_seconds`` is a certificate created at ``created`` aged (in whole seconds) at a moment between
    ``before`` and ``after``: the clock read around the request, however long it took."""
    return int((before - created).total_seconds()) <= age_seconds <= (after - created).total_seconds()


def retain_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "match_lead": {"email": "jane@example.com", "phone": "5125551212"},
        "retain": {"reference": "lead-1", "vendor": "Acme Co."},
    }
    body.update(extra)
    return body


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def simulator():
    with TrustedFormSimulator(api_keys=(KEY,)) as sim:
        yield sim


@pytest.fixture
def sim(simulator):
    simulator.reset()
    simulator.api_keys = (KEY,)
    simulator.latency = 0.0
    simulator.retry_after = 2
    return simulator


@pytest.fixture
def client(sim):
    with httpx.Client(
        base_url=sim.base_url,
        auth=("API", KEY),
        headers={"Accept": "application/json", "Api-Version": "4.0"},
        timeout=60,
        verify=TLS,
    ) as c:
        yield c


@pytest.fixture
def bare(sim):
    """A client without credentials or TrustedForm headers (what ``httpx.post`` alone would send)."""
    with httpx.Client(base_url=sim.base_url, timeout=60, verify=TLS) as c:
        yield c


@pytest.fixture
def cert_id():
    return make_web_cert_id()


# ---------------------------------------------------------------------------------------------
# the contract itself

OPERATIONS = {"match_lead", "retain", "insights", "verify"}
# the schemas the simulator's answers are checked against, directly or through the operations
RELIED_ON = (
    "Outcome",
    "MatchLeadParameters",
    "MatchLeadResult",
    "RetainParameters",
    "RetainResult",
    "InsightsParameters",
    "InsightsResult",
    "WebInsightsResult",
    "MobileInsightsResult",
    "MetaLeadAdsInsightsResult",
    "ScansResult",
    "VerifyParameters",
    "VerifyResult",
    "BadRequest",
    "ErrorOutcome",
)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set().union(*(({v} if k == "$ref" else _refs(v)) for k, v in node.items()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _top_level_names(schema: dict[str, Any]) -> set[str]:
    """The property names an ``allOf`` of ``$ref``s to object schemas allows at its top level."""
    return {name for part in schema["allOf"] for name in DEFINITIONS[part["$ref"].rsplit("/", 1)[1]]["properties"]}


def test_contract_has_every_schema_the_simulator_relies_on():
    missing = [name for name in RELIED_ON if name not in DEFINITIONS]
    assert not missing, f"{CONTRACT_PATH.name} lacks {missing}"
    # a dangling $ref would only fail once a test happened to reach it
    dangling = {ref for ref in _refs(CONTRACT) if ref.removeprefix("#/definitions/") not in DEFINITIONS}
    assert not dangling, dangling
    for schema in (CONTRACT["request_body"], CONTRACT["error_body"], *CONTRACT["responses"].values()):
        jsonschema.Draft7Validator.check_schema(schema)
    for schema in DEFINITIONS.values():
        jsonschema.Draft7Validator.check_schema(schema)
    # the four operations asked for, and answered with the outcome
    assert _top_level_names(CONTRACT["request_body"]) == OPERATIONS
    assert _top_level_names(CONTRACT["responses"]["200"]) == {"outcome", "reason", *OPERATIONS}
    # every status TrustedForm's description documents has a body schema
    assert set(CONTRACT["responses"]) == {"200", "400", "401", "402", "403", "404", "405", "422"}
    api = CONTRACT["api"]
    assert (api["method"], api["base_url"], api["path"]) == ("POST", "https://cert.trustedform.com", "/{cert_id}")
    assert (api["auth"]["scheme"], api["auth"]["username"]) == ("basic", "API")
    assert api["request_headers"]["Api-Version"]["send"] == "4.0"
    assert api["request_headers"]["Content-Type"]["send"] == "application/json"
    assert "Retry-After" in api["response_headers"]["429"]


def test_simulator_agrees_with_the_contract():
    assert set(INSIGHTS_PROPERTIES) == set(ALL_PROPERTIES)
    accepted = {*ALL_PROPERTIES, *CONTRACT["insights_properties_outside_request_enum"]}
    assert accepted == ACCEPTED_INSIGHTS_PROPERTIES
    opt_in = DEFINITIONS["VerifyParameters"]["properties"]["opt_in_types_allowed"]["items"]["enum"]
    assert set(opt_in) == OPT_IN_TYPES
    web = DEFINITIONS["WebInsightsResult"]["properties"]["properties"]["properties"]
    assert set(web["form_input_method"]["items"]["enum"]) == FORM_INPUT_METHODS
    assert CONTRACT["api"]["path_parameters"]["cert_id"]["maxLength"] == MAX_CERT_ID_LENGTH
    # every error status the contract documents is one the simulator can answer with
    assert {int(s) for s in CONTRACT["responses"]} - {200} <= {status for status, _ in ERROR_BEHAVIOURS.values()}


# ---------------------------------------------------------------------------------------------
# success path


def test_success_echoes_every_operation(client, cert_id):
    body = retain_body(
        insights={"properties": ALL_PROPERTIES, "scans": {"required": ["consent"], "forbidden": "free"}},
        verify={"advertiser_name": "Acme Inc.", "min_font_size_px_required": 12},
    )
    REQUEST_VALIDATOR.validate(body)
    before = datetime.now(UTC)
    response = client.post(f"/{cert_id}", json=body)
    after = datetime.now(UTC)

    assert response.status_code == 200
    answer = check_answer(response)
    assert answer["outcome"] == "success"
    assert answer["reason"] is None
    assert answer["match_lead"] == {
        "email": "jane@example.com",
        "phone": "5125551212",
        "result": {"email_match": True, "phone_match": True, "success": True},
    }
    retain = answer["retain"]
    assert (retain["reference"], retain["vendor"]) == ("lead-1", "Acme Co.")
    assert MASKED_URL.fullmatch(retain["results"]["masked_cert_url"])
    assert retain["results"]["masked_cert_url"] != f"https://cert.trustedform.com/{cert_id}"
    assert retain["results"]["previously_retained"] is False
    props = answer["insights"]["properties"]
    assert set(props) == set(ALL_PROPERTIES)
    created = parse_z(props["created_at"])
    # Created a minute before the request reached it (shown in whole seconds); aged since.
    assert (before - timedelta(seconds=60)).replace(microsecond=0) <= created <= after - timedelta(seconds=60)
    assert 60 <= props["age_seconds"] <= 60 + (after - before).total_seconds()
    assert props["is_masked"] is False
    assert props["domain"] and props["page_url"].startswith("https://")
    # the certificate stops being available to the API 90 days after creation
    assert parse_z(retain["results"]["expires_at"]) == created + timedelta(days=90)
    assert parse_z(props["expires_at"]) == created + timedelta(days=90)
    assert answer["insights"]["scans"]["result"]["success"] is True
    assert answer["verify"]["result"]["success"] is True
    assert answer["verify"]["advertiser_name"] == "Acme Inc."


def test_only_requested_operations_appear(client, cert_id):
    answer = check_answer(client.post(f"/{cert_id}", json={"insights": {"properties": ["is_masked"]}}))
    assert set(answer) == {"outcome", "reason", "insights"}
    assert answer["insights"]["properties"] == {"is_masked": False}
    # insights alone retains nothing
    answer = check_answer(client.post(f"/{cert_id}", json=retain_body()))
    assert answer["retain"]["results"]["previously_retained"] is False


def test_repeat_is_previously_retained(client, sim, cert_id):
    first = check_answer(client.post(f"/{cert_id}", json=retain_body()))
    second = check_answer(client.post(f"/{cert_id}", json=retain_body()))
    assert first["retain"]["results"]["previously_retained"] is False
    assert second["retain"]["results"]["previously_retained"] is True
    assert second["outcome"] == "success"
    assert second["retain"]["results"]["masked_cert_url"] == first["retain"]["results"]["masked_cert_url"]
    assert sim.is_retained(cert_id)


@pytest.mark.parametrize(
    ("maker", "kind"),
    [(make_web_cert_id, "web"), (make_mobile_cert_id, "mobile"), (make_meta_cert_id, "meta")],
)
def test_every_id_form_is_retained(client, maker, kind):
    cert_id = maker()
    assert len(cert_id) <= 255
    body = retain_body(insights={"properties": ["age_seconds", "created_at", "is_masked", "page_url"]})
    response = client.post(f"/{cert_id}", json=body)
    answer = check_answer(response, kind)
    assert answer["outcome"] == "success"
    results = answer["retain"]["results"]
    if kind == "meta":  # Meta certificates get no masked copy
        assert results["masked_cert_url"] is None
        assert answer["insights"]["properties"]["page_url"] is None
    else:
        assert MASKED_URL.fullmatch(results["masked_cert_url"])
    assert isinstance(answer["insights"]["properties"]["age_seconds"], int)


def test_scripted_created_at_drives_insights_and_expiry(client, sim, cert_id):
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=50)
    sim.script(cert_id, [], created_at=created)
    before = datetime.now(UTC)
    answer = check_answer(
        client.post(f"/{cert_id}", json=retain_body(insights={"properties": ["created_at", "age_seconds"]}))
    )
    after = datetime.now(UTC)
    assert parse_z(answer["insights"]["properties"]["created_at"]) == created
    assert aged_between(answer["insights"]["properties"]["age_seconds"], created, before, after)
    assert parse_z(answer["retain"]["results"]["expires_at"]) == created + timedelta(days=90)


# ---------------------------------------------------------------------------------------------
# session facts: the buyer's intake rules read insights and verify

# what the service sends first for a lead it may refuse: no retain
GATE_BODY: dict[str, Any] = {
    "match_lead": {"email": "jane@example.com"},
    "insights": {
        "properties": ALL_PROPERTIES,
        "scans": {"required": ["consent", "Example Co"], "forbidden": ["free", "sweepstakes"]},
    },
    "verify": {
        "advertiser_name": "Acme, Inc.",
        "min_font_size_px_required": 12,
        "min_contrast_ratio_required": 4.5,
        "opt_in_types_allowed": ["manual"],
    },
}
SUCCESS = "verify.result.success"


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b.c": leaf}``; lists are leaves."""
    if not isinstance(node, dict):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """The answer fields that differ (age_seconds moves with the clock: left out)."""
    old, new = flatten(before), flatten(after)
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)} - {"insights.properties.age_seconds"}


FACT_CASES = [
    ("bot_detected", True, {"insights.properties.bot_detected"}),
    ("form_input_method", ["paste", "autofill"], {"insights.properties.form_input_method"}),
    ("form_input_method", None, {"insights.properties.form_input_method"}),
    ("domain", "leads.example.net", {"insights.properties.domain"}),
    ("page_url", "https://leads.example.net/form?src=1", {"insights.properties.page_url"}),
    ("parent_page_url", "https://host.example.org/", {"insights.properties.parent_page_url"}),
    ("is_framed", True, {"insights.properties.is_framed"}),
    ("confirmed_owner", "Some Other Account", {"insights.properties.confirmed_owner"}),
    ("confirmed_owner", None, {"insights.properties.confirmed_owner"}),
    ("seconds_on_page", 3, {"insights.properties.seconds_on_page"}),
    ("ip", "198.51.100.9", {"insights.properties.ip"}),
    (
        "page_text",
        "Win FREE stuff! By clicking I give my CONSENT.",
        {
            "insights.scans.result.required.found",
            "insights.scans.result.required.not_found",
            "insights.scans.result.forbidden.found",
            "insights.scans.result.forbidden.not_found",
            "insights.scans.result.success",
        },
    ),
    ("consent_languages", ["I agree.", "Also this."], {"verify.languages"}),
    ("language_approved", False, {"verify.result.language_approved", SUCCESS}),
    ("font_size_px", 9, {"verify.result.min_font_size_px_satisfied", SUCCESS}),
    ("contrast_ratio", 2.1, {"verify.result.min_contrast_ratio_satisfied", SUCCESS}),
    ("opt_in_type", "pre-selected", {"verify.result.opt_in_types_satisfied", SUCCESS}),
    ("opt_in_type", "non-interactive", {"verify.result.opt_in_types_satisfied", SUCCESS}),
    ("one_to_one_advertisers", ["Other Advertiser LLC"], {"verify.result.one_to_one", SUCCESS}),
    ("one_to_one_advertisers", ["ACME inc"], set()),  # normalised: the same advertiser
    # an unretained web certificate without a form submit expires 72 hours after its creation
    ("form_submitted", False, {"verify.result.form_submitted", "insights.properties.expires_at"}),
    ("created_at", "2020-01-01T00:00:00Z", {"insights.properties.created_at", "insights.properties.expires_at"}),
]


@pytest.mark.parametrize(("fact", "value", "fields"), FACT_CASES, ids=[f"{c[0]}={c[1]!r}"[:40] for c in FACT_CASES])
def test_each_scripted_fact_changes_exactly_its_answer_field(client, bare, sim, fact, value, fields):
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    plain, scripted, over_http = make_web_cert_id(), make_web_cert_id(), make_web_cert_id()
    sim.script(plain, [], created_at=created)
    sim.script(scripted, [], **{"created_at": created, fact: value})  # keyword arguments
    sim.script(over_http, [], created_at=created)
    response = bare.post(f"/_simulator/certificates/{over_http}", json={"facts": {fact: value}})
    assert response.status_code == 200, response.text

    REQUEST_VALIDATOR.validate(GATE_BODY)
    baseline = check_answer(client.post(f"/{plain}", json=GATE_BODY))
    before = datetime.now(UTC)
    answer = check_answer(client.post(f"/{scripted}", json=GATE_BODY))
    after = datetime.now(UTC)
    assert changed(baseline, answer) == fields
    assert not changed(answer, check_answer(client.post(f"/{over_http}", json=GATE_BODY)))
    # the baseline is the good lead every unscripted certificate is
    assert baseline["outcome"] == "success"
    assert baseline["insights"]["scans"]["result"]["success"] is True
    assert baseline["verify"]["result"]["success"] is True
    assert baseline["verify"]["result"]["one_to_one"] is True
    if fact in {"page_text", "created_at"}:
        assert answer["verify"]["result"]["success"] is True
    # the fact itself is what the answer shows
    props = answer["insights"]["properties"]
    if fact in {"bot_detected", "form_input_method", "domain", "page_url", "parent_page_url", "is_framed"}:
        assert props[fact] == value
    if fact in {"confirmed_owner", "seconds_on_page", "ip"}:
        assert props[fact] == value
    if fact == "created_at":
        assert props["created_at"] == value
        assert aged_between(props["age_seconds"], parse_z(value), before, after)
    if fact == "consent_languages":
        assert answer["verify"]["languages"] == [{"text": "I agree."}, {"text": "Also this."}]
    # nothing was retained by the gate call
    assert sim.retains(scripted) == 0 and not sim.is_retained(scripted)


def test_unscripted_facts_are_the_good_lead(sim, cert_id):
    facts = sim.facts(cert_id)
    assert set(facts) == {*FACT_NAMES, "created_at"}
    assert facts["bot_detected"] is False
    assert facts["form_input_method"] == ["typing"]
    assert (facts["language_approved"], facts["form_submitted"], facts["opt_in_type"]) == (True, True, "manual")
    assert facts["one_to_one_advertisers"] is None and facts["page_text"] is None


def test_page_scans_read_the_scripted_page_text(client, sim, cert_id):
    sim.script(cert_id, [], page_text="By clicking Submit I agree to be contacted by ACME Inc.")
    scans = {"required": ["i AGREE", "acme inc", "autodialer"], "forbidden": "submit", "delimiter": "|"}
    answer = check_answer(client.post(f"/{cert_id}", json={"insights": {"properties": [], "scans": scans}}))
    result = answer["insights"]["scans"]
    assert (result["required"], result["forbidden"], result["delimiter"]) == (
        scans["required"],
        "submit",
        "|",
    )  # echoed as sent
    assert result["result"] == {
        "required": {"found": ["i AGREE", "acme inc"], "not_found": ["autodialer"]},
        "forbidden": {"found": ["submit"], "not_found": []},
        "success": False,
    }
    scans = {"required": "acme", "forbidden": ["sweepstakes"]}
    answer = check_answer(client.post(f"/{cert_id}", json={"insights": {"properties": [], "scans": scans}}))
    assert answer["insights"]["scans"]["result"] == {
        "required": {"found": ["acme"], "not_found": []},
        "forbidden": {"found": [], "not_found": ["sweepstakes"]},
        "success": True,
    }
    assert answer["insights"]["properties"] == {}


@pytest.mark.parametrize(
    ("facts", "params", "expected"),
    [
        # font size and contrast: at least the required value
        ({"font_size_px": 12}, {"min_font_size_px_required": 12}, {"min_font_size_px_satisfied": True}),
        ({"font_size_px": 11.5}, {"min_font_size_px_required": 12}, {"min_font_size_px_satisfied": False}),
        ({"contrast_ratio": 4.5}, {"min_contrast_ratio_required": 4.5}, {"min_contrast_ratio_satisfied": True}),
        ({"contrast_ratio": 4.49}, {"min_contrast_ratio_required": 4.5}, {"min_contrast_ratio_satisfied": False}),
        # opt-in type among the allowed ones
        (
            {"opt_in_type": "pre-selected"},
            {"opt_in_types_allowed": ["manual", "pre-selected"]},
            {"opt_in_types_satisfied": True},
        ),
        ({"opt_in_type": "manual"}, {"opt_in_types_allowed": []}, {"opt_in_types_satisfied": False}),
        # a check not asked for does not fail; one_to_one is null without an advertiser_name
        (
            {"font_size_px": 1, "contrast_ratio": 1, "opt_in_type": "non-interactive", "one_to_one_advertisers": []},
            {},
            {
                "min_font_size_px_satisfied": True,
                "min_contrast_ratio_satisfied": True,
                "opt_in_types_satisfied": True,
                "one_to_one": None,
            },
        ),
        # one-to-one: advertiser_name normalised (case, punctuation, spaces) against the scripted names
        ({"one_to_one_advertisers": ["acme inc"]}, {"advertiser_name": "Acme, Inc."}, {"one_to_one": True}),
        ({"one_to_one_advertisers": ["Acme Inc", "B"]}, {"advertiser_name": "Acme Co"}, {"one_to_one": False}),
        ({"one_to_one_advertisers": []}, {"advertiser_name": "Acme"}, {"one_to_one": False}),
        ({}, {"advertiser_name": "Anyone"}, {"one_to_one": True}),
        # language approval always counts; a missing form submit is reported, not a failed check
        ({"language_approved": False}, {}, {"language_approved": False}),
        ({"form_submitted": False}, {}, {"form_submitted": False}),
    ],
)
def test_verify_results_follow_facts_and_thresholds(client, sim, cert_id, facts, params, expected):
    sim.script(cert_id, [], facts=facts)
    answer = check_answer(client.post(f"/{cert_id}", json={"verify": params}))
    verify = answer["verify"]
    assert {k: verify[k] for k in params} == params  # parameters echoed
    result = verify["result"]
    for key, value in expected.items():
        assert result[key] is value, key
    checks = (
        "language_approved",
        "min_contrast_ratio_satisfied",
        "min_font_size_px_satisfied",
        "opt_in_types_satisfied",
    )
    assert result["success"] is (all(result[c] for c in checks) and result["one_to_one"] is not False)
    assert answer["outcome"] == "success"  # a failed verify is not an error of the call


@pytest.mark.parametrize(
    "properties",
    [[], ["bot_detected"], ["age_seconds", "created_at", "expires_at"], ["domain", "page_url", "browser"]],
)
def test_insights_returns_only_the_requested_properties(client, sim, cert_id, properties):
    answer = check_answer(client.post(f"/{cert_id}", json={"insights": {"properties": properties}}))
    assert list(answer["insights"]["properties"]) == properties
    assert "scans" not in answer["insights"]
    assert sim.operations(cert_id) == [["insights"]]


def test_a_call_without_retain_retains_nothing(client, sim, cert_id):
    sim.script(cert_id, [], form_submitted=False)
    first = check_answer(client.post(f"/{cert_id}", json=GATE_BODY))
    assert "retain" not in first
    assert not sim.is_retained(cert_id)
    assert sim.retains(cert_id) == 0
    # not retained: the unsubmitted web certificate still expires 72 hours after its creation
    created = parse_z(first["insights"]["properties"]["created_at"])
    assert parse_z(first["insights"]["properties"]["expires_at"]) == created + timedelta(hours=72)

    # the lead is kept: retain now, billed once
    kept = check_answer(client.post(f"/{cert_id}", json=retain_body(insights={"properties": ["expires_at"]})))
    assert kept["retain"]["results"]["previously_retained"] is False
    assert parse_z(kept["retain"]["results"]["expires_at"]) == created + timedelta(days=90)
    assert parse_z(kept["insights"]["properties"]["expires_at"]) == created + timedelta(days=90)
    again = check_answer(client.post(f"/{cert_id}", json=retain_body()))
    assert again["retain"]["results"]["previously_retained"] is True
    # answers without retain results do not count
    headers = {"X-Simulator-Behaviour": "unavailable"}
    assert client.post(f"/{cert_id}", json=retain_body(), headers=headers).status_code == 503
    headers = {"X-Simulator-Behaviour": "expired_200"}
    assert check_answer(client.post(f"/{cert_id}", json=retain_body(), headers=headers))["outcome"] == "failure"

    assert sim.retains(cert_id) == 2
    assert sim.operations(cert_id) == [
        ["match_lead", "insights", "verify"],
        ["match_lead", "retain", "insights"],
        ["match_lead", "retain"],
    ]
    recorded = sim.requests
    assert [(r["status"], r["retained"]) for r in recorded] == [
        (200, False),
        (200, True),
        (200, True),
        (503, False),
        (200, False),
    ]
    assert recorded[3]["operations"] == [] and recorded[4]["operations"] == []
    assert sim.retains(make_web_cert_id()) == 0 and sim.operations(make_web_cert_id()) == []


@pytest.mark.parametrize(
    ("maker", "behaviour", "form_submitted", "lifetime"),
    [
        (make_web_cert_id, None, True, timedelta(days=90)),
        (make_web_cert_id, None, False, timedelta(hours=72)),
        (make_web_cert_id, "masked", True, timedelta(hours=72)),
        (make_mobile_cert_id, None, False, timedelta(days=90)),
        (make_meta_cert_id, None, False, timedelta(days=90)),
    ],
)
def test_expires_at_follows_created_at_before_any_retain(client, sim, maker, behaviour, form_submitted, lifetime):
    cert_id = maker()
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30)
    sim.script(cert_id, [behaviour] if behaviour else [], created_at=created, form_submitted=form_submitted)
    body = {"insights": {"properties": ["created_at", "expires_at", "age_seconds"]}}
    kind = "mobile" if maker is make_mobile_cert_id else "meta" if maker is make_meta_cert_id else "web"
    before = datetime.now(UTC)
    props = check_answer(client.post(f"/{cert_id}", json=body), kind)["insights"]["properties"]
    after = datetime.now(UTC)
    assert parse_z(props["created_at"]) == created
    assert parse_z(props["expires_at"]) == created + lifetime
    assert aged_between(props["age_seconds"], created, before, after)


def test_certificate_types_and_masking_keep_their_nulls_whatever_is_scripted(client, sim):
    facts = {
        "bot_detected": True,
        "form_input_method": ["paste"],
        "domain": "x.example.net",
        "page_url": "https://x.example.net/",
        "parent_page_url": "https://y.example.net/",
        "is_framed": True,
        "confirmed_owner": "Owner",
        "seconds_on_page": 1,
        "ip": "198.51.100.1",
    }
    names = list(facts)
    mobile, meta, masked = make_mobile_cert_id(), make_meta_cert_id(), make_web_cert_id()
    for cert_id in (mobile, meta, masked):
        sim.script(cert_id, ["masked"] if cert_id == masked else [], facts=facts)
    body = {"insights": {"properties": names}}
    props = check_answer(client.post(f"/{mobile}", json=body), "mobile")["insights"]["properties"]
    assert {k for k, v in props.items() if v is not None} == {"confirmed_owner", "seconds_on_page", "ip"}
    props = check_answer(client.post(f"/{meta}", json=body), "meta")["insights"]["properties"]
    assert {k for k, v in props.items() if v is not None} == {"confirmed_owner"}
    props = check_answer(client.post(f"/{masked}", json=body))["insights"]["properties"]
    assert props["domain"] is props["page_url"] is props["parent_page_url"] is None  # a masked copy hides the page
    assert props["bot_detected"] is True and props["form_input_method"] == ["paste"]


def test_scripting_facts_keeps_the_behaviours_and_other_facts(client, sim, cert_id):
    sim.script(cert_id, ["unavailable", "success"], email="jane@example.com", bot_detected=True)
    sim.script(cert_id, facts={"domain": "leads.example.net"})
    assert client.post(f"/{cert_id}", json=retain_body()).status_code == 503
    answer = check_answer(
        client.post(f"/{cert_id}", json=retain_body(insights={"properties": ["bot_detected", "domain"]}))
    )
    assert answer["insights"]["properties"] == {"bot_detected": True, "domain": "leads.example.net"}
    assert answer["match_lead"]["result"]["email_match"] is True
    sim.script(cert_id, [])  # an empty list replaces the behaviours
    assert client.post(f"/{cert_id}", json=retain_body()).status_code == 200


@pytest.mark.parametrize(
    "facts",
    [
        {"telepathy": True},
        {"bot_detected": "yes"},
        {"form_input_method": ["typing", "telepathy"]},
        {"form_input_method": "typing"},
        {"opt_in_type": "implied"},
        {"font_size_px": "big"},
        {"contrast_ratio": True},
        {"seconds_on_page": -1},
        {"consent_languages": "I agree"},
        {"one_to_one_advertisers": [1]},
        {"language_approved": None},
        {"created_at": "yesterday"},
    ],
)
def test_bad_facts_are_refused_and_change_nothing(bare, sim, cert_id, facts):
    sim.script(cert_id, ["gone"])
    before = sim.facts(cert_id)
    with pytest.raises(ValueError):
        sim.script(cert_id, ["success"], facts={"is_framed": True, **facts})
    response = bare.post(f"/_simulator/certificates/{cert_id}", json={"behaviours": ["success"], "facts": facts})
    assert response.status_code == 400
    assert response.json()["error"]
    assert sim.facts(cert_id) == before
    assert bare.get(f"/_simulator/certificates/{cert_id}").json()["behaviours"] == ["gone"]


def test_control_api_scripts_facts_and_reports_the_certificate(client, bare, sim, cert_id):
    created = "2025-06-01T12:00:00Z"
    scripted = bare.post(
        f"/_simulator/certificates/{cert_id}",
        json={
            "behaviours": ["success"],
            "email": "jane@example.com",
            "created_at": created,
            "facts": {"bot_detected": True, "form_input_method": ["autofill"], "font_size_px": 8},
        },
    )
    assert scripted.status_code == 200
    state = scripted.json()
    assert state["behaviours"] == ["success"]
    assert state["facts"]["bot_detected"] is True
    assert state["facts"]["form_input_method"] == ["autofill"]
    assert state["facts"]["created_at"] == created
    assert state["facts"]["language_approved"] is True  # unscripted facts keep their defaults
    assert (state["retained"], state["retains"], state["operations"]) == (False, 0, [])
    # facts alone: behaviours kept
    bare.post(f"/_simulator/certificates/{cert_id}", json={"facts": {"ip": "198.51.100.2"}}).raise_for_status()

    check_answer(client.post(f"/{cert_id}", json=GATE_BODY))
    check_answer(client.post(f"/{cert_id}", json=retain_body()))
    state = bare.get(f"/_simulator/certificates/{cert_id}").json()
    assert state["behaviours"] == ["success"]
    assert state["facts"]["ip"] == "198.51.100.2" and state["facts"]["bot_detected"] is True
    assert (state["retained"], state["retains"]) == (True, 1)
    assert state["operations"] == [["match_lead", "insights", "verify"], ["match_lead", "retain"]]
    recorded = bare.get("/_simulator/requests").json()
    assert [(r["operations"], r["retained"]) for r in recorded] == [
        (["match_lead", "insights", "verify"], False),
        (["match_lead", "retain"], True),
    ]
    # unknown keys at the top level are refused (facts go in "facts")
    assert bare.post(f"/_simulator/certificates/{cert_id}", json={"bot_detected": True}).status_code == 400
    assert bare.get("/_simulator/certificates/not-an-id").status_code == 400
    # a never-scripted certificate answers its defaults
    fresh = bare.get(f"/_simulator/certificates/{make_web_cert_id()}").json()
    assert fresh["facts"]["bot_detected"] is False and fresh["retains"] == 0


# ---------------------------------------------------------------------------------------------
# lead matching


def test_sha1_of_normalised_values_match(client, sim, cert_id):
    sim.script(cert_id, [], email="Jane.Doe@Example.com", phone="(512) 555-1212")
    body = retain_body(match_lead={"email": sha1("jane.doe@example.com"), "phone": sha1("5125551212")})
    answer = check_answer(client.post(f"/{cert_id}", json=body))
    assert answer["outcome"] == "success"
    assert answer["match_lead"]["result"] == {"email_match": True, "phone_match": True, "success": True}
    assert answer["match_lead"]["email"] == sha1("jane.doe@example.com")  # echoed as sent

    # raw values in another formatting match too; one matching fingerprint is enough
    body = retain_body(match_lead={"email": " JANE.DOE@example.com ", "phone": "512.555.9999"})
    answer = check_answer(client.post(f"/{cert_id}", json=body))
    assert answer["match_lead"]["result"] == {"email_match": True, "phone_match": False, "success": True}
    assert answer["outcome"] == "success"


def test_match_failure_is_failure_but_still_retained(client, sim, cert_id):
    sim.script(cert_id, [], email="jane@example.com")
    body = retain_body(match_lead={"email": "someone.else@example.com"})
    answer = check_answer(client.post(f"/{cert_id}", json=body))
    assert answer["outcome"] == "failure"
    assert answer["reason"] == "None of the provided fingerprints match"
    assert answer["match_lead"]["result"] == {"email_match": False, "phone_match": None, "success": False}
    assert answer["retain"]["results"]["previously_retained"] is False
    assert sim.is_retained(cert_id)


def test_match_failure_behaviour(client, sim, cert_id):
    response = client.post(f"/{cert_id}", json=retain_body(), headers={"X-Simulator-Behaviour": "match_failure"})
    answer = check_answer(response)
    assert answer["outcome"] == "failure"
    assert answer["match_lead"]["result"]["success"] is False
    assert "results" in answer["retain"]
    assert sim.is_retained(cert_id)


def test_masked_certificate(client, sim, cert_id):
    sim.script(cert_id, ["masked"])
    body = retain_body(insights={"properties": ["is_masked", "created_at", "expires_at", "page_url"]})
    answer = check_answer(client.post(f"/{cert_id}", json=body))
    assert answer["outcome"] == "failure"
    assert answer["reason"] == "None of the provided fingerprints match"
    assert answer["match_lead"]["result"]["success"] is False
    props = answer["insights"]["properties"]
    assert props["is_masked"] is True
    assert props["page_url"] is None
    results = answer["retain"]["results"]
    assert results["masked_cert_url"] is None
    # masked certificates keep a 72-hour window
    assert parse_z(results["expires_at"]) == parse_z(props["created_at"]) + timedelta(hours=72)
    assert sim.is_retained(cert_id)


# ---------------------------------------------------------------------------------------------
# error behaviours

ERRORS = [
    ("bad_request", 400, None),
    ("unauthorized", 401, "Incorrect API key"),
    ("payment_required", 402, None),
    ("forbidden", 403, None),
    ("not_found", 404, "TrustedForm certificate has expired or could not be found"),
    ("sandbox", 405, "Certificate is not claimable"),
    ("gone", 410, None),
    ("teapot", 418, None),
    ("claim_limit", 422, "Certificate has been claimed too many times"),
    ("throttled", 429, None),
    ("server_error", 500, None),
    ("bad_gateway", 502, None),
    ("unavailable", 503, None),
]


@pytest.mark.parametrize(("behaviour", "status", "reason"), ERRORS)
def test_error_behaviours(client, sim, cert_id, behaviour, status, reason):
    response = client.post(f"/{cert_id}", json=retain_body(), headers={"X-Simulator-Behaviour": behaviour})
    assert response.status_code == status
    answer = check_answer(response)
    assert answer["outcome"] == "error"
    assert answer["reason"]
    if reason:
        assert answer["reason"] == reason
    assert "retain" not in answer
    assert not sim.is_retained(cert_id)


def test_throttled_sends_retry_after(client, sim, cert_id):
    response = client.post(f"/{cert_id}", json=retain_body(), headers={"X-Simulator-Behaviour": "throttled"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    sim.retry_after = 7
    response = client.post(f"/{cert_id}", json=retain_body(), headers={"X-Simulator-Behaviour": "throttled"})
    assert response.headers["Retry-After"] == "7"
    response = client.post(f"/{cert_id}", json=retain_body(), headers={"X-Simulator-Behaviour": "throttled:30"})
    assert response.headers["Retry-After"] == "30"


def test_expired_200_retains_nothing(client, sim, cert_id):
    response = client.post(f"/{cert_id}", json=retain_body(), headers={"X-Simulator-Behaviour": "expired_200"})
    assert response.status_code == 200
    answer = check_answer(response)
    assert answer == {"outcome": "failure", "reason": "The cert has expired"}
    assert not sim.is_retained(cert_id)


def test_malformed_answer_is_not_json(client, cert_id):
    response = client.post(f"/{cert_id}", json=retain_body(), headers={"X-Simulator-Behaviour": "malformed"})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)


# ---------------------------------------------------------------------------------------------
# request validation


@pytest.mark.parametrize("body", [{}, {"something_else": 1}])
def test_no_operation_is_an_error_outcome(client, sim, cert_id, body):
    response = client.post(f"/{cert_id}", json=body)
    assert response.status_code == 200
    assert check_answer(response) == {"outcome": "error", "reason": "No valid products detected"}
    assert not sim.is_retained(cert_id)


def test_retain_without_match_lead_is_400(client, sim, cert_id):
    response = client.post(f"/{cert_id}", json={"retain": {"reference": "x", "vendor": "y"}})
    assert response.status_code == 400
    assert check_answer(response)["outcome"] == "error"
    assert not sim.is_retained(cert_id)


@pytest.mark.parametrize(
    "body",
    [
        {"match_lead": {"email": "a@example.com"}},
        {"match_lead": {"phone": "5125551212"}, "retain": {}},
        {"match_lead": {}},
        {"match_lead": {"email": 5}},
        {"match_lead": "a@example.com"},
        {"match_lead": {"email": "a@example.com"}, "retain": {"reference": 12}},
        {"insights": {"properties": ["is_masked", "ip"]}},
        {"insights": {"properties": ["not_a_property"]}},
        {"insights": {}},
        {"insights": {"properties": ["ip"], "scans": {"required": "x", "forbidden": ["a", "b"]}}},
        {"insights": {"properties": ["ip"], "scans": {"required": 3}}},
        {"verify": {"advertiser_name": "Acme", "opt_in_types_allowed": ["manual"]}},
        {"verify": {"opt_in_types_allowed": ["telepathy"]}},
        {"verify": {"min_font_size_px_required": "big"}},
    ],
)
def test_accepts_exactly_what_the_request_schema_accepts(client, cert_id, body):
    valid = REQUEST_VALIDATOR.is_valid(body)
    response = client.post(f"/{cert_id}", json=body)
    assert (response.status_code == 200) is valid, response.text
    check_answer(response)


def test_browser_property_is_accepted_though_missing_from_the_request_enum(client, cert_id):
    # TrustedForm's description documents "browser" among the properties, in its request example and in
    # WebInsightsResult, though not in the request enum (the contract's insights_properties_outside_request_enum)
    response = client.post(f"/{cert_id}", json={"insights": {"properties": ["browser"]}})
    assert response.status_code == 200
    assert check_answer(response)["insights"]["properties"]["browser"]["name"]


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"{not json"])
def test_body_must_be_a_json_object(client, cert_id, raw):
    response = client.post(f"/{cert_id}", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    check_answer(response)


def test_content_type_must_be_json(client, cert_id):
    response = client.post(f"/{cert_id}", content=json.dumps(retain_body()), headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    check_answer(response)


def test_api_version_other_than_4_is_refused_and_absent_is_recorded(client, sim, cert_id):
    response = client.post(f"/{cert_id}", json=retain_body(), headers={"Api-Version": "3.0"})
    assert response.status_code == 400
    check_answer(response)
    with httpx.Client(base_url=sim.base_url, auth=("API", KEY), verify=TLS) as bare:
        assert bare.post(f"/{cert_id}", json=retain_body()).status_code == 200
    recorded = sim.requests
    assert recorded[0]["headers"]["Api-Version"] == "3.0"
    assert "Api-Version" not in recorded[1]["headers"]


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Basic " + base64.b64encode(b"API:wrong-key").decode(),
        "Basic " + base64.b64encode(b"api-user:sim-key").decode(),
        "Basic " + base64.b64encode(b"sim-key").decode(),
        "Bearer sim-key",
        "Basic !!!",
    ],
)
def test_bad_auth_is_401(sim, bare, cert_id, auth):
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    response = bare.post(f"/{cert_id}", content=json.dumps(retain_body()), headers=headers)
    assert response.status_code == 401
    assert check_answer(response) == {"outcome": "error", "reason": "Incorrect API key"}
    assert not sim.is_retained(cert_id)


def test_key_rotation(client, sim, cert_id):
    sim.api_keys = {"new-key"}
    assert client.post(f"/{cert_id}", json=retain_body()).status_code == 401
    response = client.post(f"/{cert_id}", json=retain_body(), auth=("API", "new-key"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "bad_id",
    [
        "eb9fc4dd9bed9ad451a5648946cf4bf09b5bb94",  # 39 hex
        "EB9FC4DD9BED9AD451A5648946CF4BF09B5BB947",  # upper case
        "eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947a",  # 41 hex
        "z" * 79,
        "a+" * 40,  # not URL-safe base64
        "0.abc.def",  # two parts
        "1.abc.def.ghi",
        "0." + "a" * 200 + "." + "b" * 30 + "." + "c" * 30,  # longer than 255
        "eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947/extra",
    ],
)
def test_bad_cert_id_is_400(client, sim, bad_id):
    response = client.post(f"/{bad_id}", json=retain_body())
    assert response.status_code == 400
    check_answer(response)
    assert not sim.is_retained(bad_id)


def test_get_returns_html_and_retains_nothing(client, sim, cert_id):
    response = client.get(f"/{cert_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert not sim.is_retained(cert_id)
    assert sim.requests == []
    answer = check_answer(client.post(f"/{cert_id}", json=retain_body()))
    assert answer["retain"]["results"]["previously_retained"] is False


# ---------------------------------------------------------------------------------------------
# switching behaviours


def test_header_behaviour_wins_and_does_not_consume_the_script(client, sim, cert_id):
    sim.script(cert_id, ["sandbox", "success"])
    response = client.post(f"/{cert_id}", json=retain_body(), headers={"X-Simulator-Behaviour": "payment_required"})
    assert response.status_code == 402
    assert client.post(f"/{cert_id}", json=retain_body()).status_code == 405
    assert client.post(f"/{cert_id}", json=retain_body()).status_code == 200


def test_script_sequence_then_last_repeats(client, sim, cert_id):
    sim.script(cert_id, ["unavailable", "unavailable", "success"])
    statuses = [client.post(f"/{cert_id}", json=retain_body()).status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert [r["behaviour"] for r in sim.requests] == ["unavailable", "unavailable", "success", "success"]


def test_invalid_requests_do_not_consume_the_script(client, sim, cert_id):
    sim.script(cert_id, ["unavailable", "success"])
    assert client.post(f"/{cert_id}", json=retain_body(), auth=("API", "nope")).status_code == 401
    assert client.post(f"/{cert_id}", json=retain_body()).status_code == 503


def test_unknown_behaviour_is_refused(client, sim, cert_id):
    with pytest.raises(ValueError):
        sim.script(cert_id, ["explode"])
    response = client.post(f"/{cert_id}", json=retain_body(), headers={"X-Simulator-Behaviour": "explode"})
    assert response.status_code == 400
    assert "Simulator" in response.json()["reason"]


def test_control_endpoints(client, bare, sim, cert_id):
    assert bare.get("/_simulator/health").json() == {"status": "ok"}
    scripted = bare.post(
        f"/_simulator/certificates/{cert_id}",
        json={"behaviours": ["gone", "success"], "email": "jane@example.com"},
    )
    assert scripted.status_code == 200
    assert client.post(f"/{cert_id}", json=retain_body()).status_code == 410
    answer = check_answer(client.post(f"/{cert_id}", json=retain_body(match_lead={"email": "x@example.com"})))
    assert answer["match_lead"]["result"]["success"] is False

    recorded = bare.get("/_simulator/requests").json()
    assert [r["status"] for r in recorded] == [410, 200]

    bad = bare.post(f"/_simulator/certificates/{cert_id}", json={"behaviours": ["nope"]})
    assert bad.status_code == 400
    assert bare.post("/_simulator/certificates/not-an-id", json={}).status_code == 400

    config = bare.post("/_simulator/config", json={"latency": 0, "retry_after": 5}).json()
    assert config == {"latency": 0.0, "retry_after": 5, "api_keys": 1}

    assert bare.post("/_simulator/reset").status_code == 200
    assert bare.get("/_simulator/requests").json() == []
    assert not sim.is_retained(cert_id)


def test_requests_are_recorded_as_received(client, sim, cert_id):
    body = retain_body()
    before = datetime.now(UTC)
    client.post(f"/{cert_id}?shared_token=abc", json=body, headers={"X-Simulator-Behaviour": "sandbox"})
    after = datetime.now(UTC)
    client.post(f"/{cert_id}", json=body, auth=("API", "bad"))
    first, second = sim.requests
    assert first["method"] == "POST"
    assert first["path"] == f"/{cert_id}?shared_token=abc"
    assert first["cert_id"] == cert_id
    assert first["body"] == body
    assert first["behaviour"] == "sandbox"
    assert first["status"] == 405
    auth = first["headers"]["Authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")).decode() == f"API:{KEY}"
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["headers"]["Api-Version"] == "4.0"
    # When it arrived, in milliseconds (cut, not rounded)
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= datetime.fromisoformat(first["time"])
    assert datetime.fromisoformat(first["time"]) <= after
    assert second["status"] == 401
    assert second["behaviour"] is None
    # a copy: mutating it changes nothing
    sim.requests.clear()
    assert len(sim.requests) == 2


# ---------------------------------------------------------------------------------------------
# time


def test_slow_and_latency_hold_the_answer_while_the_simulator_waits_their_delay(client, sim, cert_id, monkeypatch):
    """The simulator's wait is observed (and held until the test lets it go), not timed."""
    waits: queue.Queue[float] = queue.Queue()
    go_on = threading.Event()
    sleep = sim._sleep

    def held(seconds: float) -> bool:
        if seconds <= 0:
            return sleep(seconds)
        waits.put(seconds)
        return go_on.wait(60)

    monkeypatch.setattr(sim, "_sleep", held)

    def post_held(**kwargs: Any) -> tuple[float, httpx.Response]:
        answers: queue.Queue[httpx.Response] = queue.Queue()
        go_on.clear()
        caller = threading.Thread(target=lambda: answers.put(client.post(f"/{cert_id}", json=retain_body(), **kwargs)))
        caller.start()
        waited = waits.get(timeout=60)
        assert answers.empty()  # no answer while the simulator waits
        go_on.set()
        caller.join(60)
        return waited, answers.get_nowait()

    waited, response = post_held(headers={"X-Simulator-Behaviour": "slow:0.3"})
    assert waited == 0.3 and check_answer(response)["outcome"] == "success"

    sim.latency = 0.2
    waited, response = post_held()
    assert waited == 0.2 and response.status_code == 200


def test_hang_times_the_client_out_and_stop_does_not_wait(monkeypatch):
    monkeypatch.setattr(simulator_module, "HANG_SECONDS", 3600.0)  # stop returns only by not waiting it out
    with TrustedFormSimulator() as sim:
        cert_id = make_web_cert_id()
        sim.script(cert_id, ["hang"])
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{sim.base_url}/{cert_id}", json=retain_body(), auth=("API", KEY), timeout=0.3, verify=TLS)
        stopping = threading.Thread(target=sim.stop)
        stopping.start()
        stopping.join(60)
        assert not stopping.is_alive(), "stop() waits for the hang"
        assert not sim.is_retained(cert_id)


def test_hang_in_flight_is_released_by_stop(monkeypatch):
    monkeypatch.setattr(simulator_module, "HANG_SECONDS", 3600.0)
    sim = TrustedFormSimulator().__enter__()
    cert_id = make_web_cert_id()
    errors: queue.Queue[BaseException | None] = queue.Queue()

    def call():
        try:
            httpx.post(
                f"{sim.base_url}/{cert_id}",
                json=retain_body(),
                auth=("API", KEY),
                headers={"X-Simulator-Behaviour": "hang"},
                timeout=60,
                verify=TLS,
            )
            errors.put(None)
        except httpx.HTTPError as exc:
            errors.put(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not (sim.requests and sim.requests[0]["behaviour"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    in_flight = sim.requests[0]
    assert (in_flight["behaviour"], in_flight["status"]) == ("hang", None)  # visible while hanging
    sim.stop()
    thread.join(timeout=90)
    # Dropped, never answered: the connection closed by stop, not the client's own 60 s timeout.
    error = errors.get_nowait()
    assert isinstance(error, httpx.HTTPError) and not isinstance(error, httpx.TimeoutException), repr(error)


# ---------------------------------------------------------------------------------------------
# command line


def test_cli_serves_health_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "local.simulator", "--port", "0", "--api-key", "cli-secret-key"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
        banner = lines.get(timeout=60)  # a second or two; several beside the suite on 2 cores
        match = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert match, banner
        assert "X-Simulator-Behaviour" in banner
        url = match.group(0)
        assert httpx.get(f"{url}/_simulator/health", timeout=60, verify=TLS).json() == {"status": "ok"}
        cert_id = make_web_cert_id()
        response = httpx.post(
            f"{url}/{cert_id}",
            json=retain_body(),
            auth=("API", "cli-secret-key"),
            headers={"X-Simulator-Behaviour": "claim_limit"},
            timeout=60,
            verify=TLS,
        )
        assert response.status_code == 422
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0
    assert cert_id in stderr and "claim_limit" in stderr and "422" in stderr
    assert "cli-secret-key" not in stderr and "jane@example.com" not in stderr and "5125551212" not in stderr
