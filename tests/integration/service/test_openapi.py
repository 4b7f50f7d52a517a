"""docs/openapi.json, the description published to vendors: what the intake code generates (the drift
check), complete (every route, answer status, reason code and header), and true of the running API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from tf_retainer.api import parsing
from tf_retainer.api import status as http_status
from tf_retainer.domain.models import GateReason, Reason

from local.apigw import _routes
from local.openapi import PUBLISHED, generate
from local.provision import load_template
from tests.support.stack import lead

GATEWAY_STATUSES = {401, 403, 429, 500, 502, 504}  # the authorizer's, the usage plan's, API Gateway's 5xx
EVERY_ROUTE = GATEWAY_STATUSES | {http_status.UNAVAILABLE_STATUS}  # and ours when the store does not answer


@pytest.fixture(scope="module")
def description() -> dict[str, Any]:
    return json.loads(generate())


def test_docs_openapi_json_is_what_the_code_generates():
    assert PUBLISHED.read_text(encoding="utf-8") == generate(), "docs/openapi.json is stale: run make openapi"


def test_the_description_has_every_route_the_template_gives_the_api(description):
    routes = {(route.method, route.resource) for route in _routes(load_template())}
    described = {(method.upper(), path) for path, operations in description["paths"].items() for method in operations}
    assert described == routes
    assert {
        ("GET", "/leads/{lead_id}/contactable"),
        ("POST", "/revocations"),
        ("POST", "/revocations/batch"),
    } <= described
    assert ("POST", "/leads/{lead_id}/contacts") in described


def test_every_reason_code_is_in_the_description(description):
    schemas = description["components"]["schemas"]
    assert schemas["Reason"]["enum"] == [reason.value for reason in Reason]
    assert schemas["GateReason"]["enum"] == [reason.value for reason in GateReason]
    assert schemas["LeadAnswer"]["properties"]["reason"]["anyOf"][0] == {"$ref": "#/components/schemas/Reason"}
    assert schemas["ContactableAnswer"]["properties"]["reason"]["anyOf"][0] == {
        "$ref": "#/components/schemas/GateReason"
    }


def statuses(description: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(status) for status in description["paths"][path][method]["responses"]}


def test_every_answer_status_of_post_leads_is_described(description):
    answered = set(http_status.ANSWER_STATUS.values()) | {http_status.MALFORMED_STATUS, http_status.REFUSED_STATUS}
    elsewhere = {Reason.LEAD_NOT_FOUND, Reason.CONSUMER_NOT_FOUND, Reason.REVOCATION_ID_CONFLICT}  # other routes'
    refused = {status for reason, status in http_status.REFUSAL_STATUS.items() if reason not in elsewhere}
    assert statuses(description, "post", "/leads") == answered | refused | EVERY_ROUTE


@pytest.mark.parametrize("path", ["/leads/{lead_id}", "/leads/{lead_id}/contactable"])
def test_every_answer_status_of_the_lead_reads_is_described(description, path):
    found = 200
    not_found = http_status.REFUSAL_STATUS[Reason.LEAD_NOT_FOUND]
    assert statuses(description, "get", path) == {found, not_found, http_status.REFUSED_STATUS} | EVERY_ROUTE


def test_the_vendor_key_header_secures_every_operation(description):
    [scheme_name] = description["components"]["securitySchemes"]
    scheme = description["components"]["securitySchemes"][scheme_name]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "x-api-key")
    assert description["security"] == [{scheme_name: []}]
    assert all("security" not in operation for ops in description["paths"].values() for operation in ops.values())


def test_post_leads_accepts_json_and_form_bodies(description):
    body = description["paths"]["/leads"]["post"]["requestBody"]
    assert set(body["content"]) == {parsing.JSON, parsing.FORM}
    for media in body["content"].values():
        # required of every lead but those kept on their LeadiD token alone (issue 25): said in words
        assert "required" not in media["schema"]
        described = media["schema"]["properties"]["trustedform_cert_url"]["description"]
        assert "consent_records" in described and "universal_leadid" in described
        assert {"email", "phone", "lead_id", "universal_leadid"} <= set(media["schema"]["properties"])


def conforms(description: dict[str, Any], method: str, path: str, status: int, body: Any) -> list[str]:
    """What is wrong with an answer, judged by the description's schema for it."""
    schema = description["paths"][path][method]["responses"][str(status)]["content"][parsing.JSON]["schema"]
    validator = Draft202012Validator({**schema, "components": description["components"]})
    return [error.message for error in validator.iter_errors(body)]


def test_the_running_api_answers_as_described(stack, description):
    answers = []
    posted = stack.post(lead(lead_id="V-9"))
    answers.append(("post", "/leads", posted))
    lead_id = posted.json()["lead_id"]
    answers.append(("get", "/leads/{lead_id}", stack.get(lead_id)))
    answers.append(("get", "/leads/{lead_id}", stack.get("no-such-lead")))
    gate = stack.gateway.handle("GET", f"/leads/{lead_id}/contactable", {"x-api-key": stack.vendor_key}, b"")
    answers.append(("get", "/leads/{lead_id}/contactable", gate))
    answers.append(("post", "/leads", stack.post(lead(), content_type="text/plain")))
    answers.append(("post", "/leads", stack.post(lead(), key="not-a-registered-vendor-key")))
    key = {"x-api-key": stack.vendor_key}
    out_of_range = stack.gateway.handle("GET", f"/leads/{lead_id}", key, b"", query={"history_limit": "0"})
    answers.append(("get", "/leads/{lead_id}", out_of_range))
    too_long = stack.gateway.handle("GET", f"/leads/{'x' * 129}/contactable", key, b"")
    answers.append(("get", "/leads/{lead_id}/contactable", too_long))
    assert [response.status for _, _, response in answers] == [201, 200, 404, 200, 415, 401, 422, 422]
    for method, path, response in answers:
        assert conforms(description, method, path, response.status, response.json()) == [], (path, response.status)
