"""The TrustedForm client: what is sent, what is kept as evidence (never the API key), and how failures look.

Every exchange goes through httpx.MockTransport: in-process, no network.
"""

import base64
import hashlib
import json
import time

import httpx
import pytest
from tf_retainer.domain.contacts import lead_fingerprints, normalise_email, normalise_phone, sha1_hex
from tf_retainer.providers.trustedform.client import API_VERSION, MAX_STORED_BODY, REDACTED, TrustedFormClient

API_KEY = "tf-secret-key-9f8e7d6c5b4a"
BASIC = base64.b64encode(f"API:{API_KEY}".encode()).decode()
CERT_ID = "eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947"
BASE = "https://cert.trustedform.com"
MATCH_LEAD = {"email": sha1_hex("a@example.com")}


def client_for(handler) -> tuple[TrustedFormClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return TrustedFormClient(BASE, transport=httpx.MockTransport(record)), seen


def retain(client: TrustedFormClient, **overrides):
    kwargs = {
        "api_key": API_KEY,
        "reference": "lead-1",
        "vendor": "acme",
        "match_lead": MATCH_LEAD,
        "insights": ("is_masked",),
        "deadline": time.monotonic() + 5.0,
        "attempt": 3,
    }
    return client.retain(CERT_ID, **{**kwargs, **overrides})


def assert_no_secret(captured) -> None:
    text = json.dumps(captured)
    assert API_KEY not in text
    assert BASIC not in text


# --- the request ---------------------------------------------------------------------------


def test_retain_posts_to_the_certificate_with_basic_auth_and_the_api_version():
    client, seen = client_for(lambda request: httpx.Response(200, json={"outcome": "success"}))
    retain(client)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/{CERT_ID}"
    assert request.headers["authorization"] == f"Basic {BASIC}"
    assert request.headers["api-version"] == API_VERSION
    assert json.loads(request.content) == {
        "match_lead": MATCH_LEAD,
        "retain": {"reference": "lead-1", "vendor": "acme"},
        "insights": {"properties": ["is_masked"]},
    }


def test_no_insights_block_when_none_are_asked_for():
    client, seen = client_for(lambda request: httpx.Response(200, json={}))
    retain(client, insights=())
    assert "insights" not in json.loads(seen[0].content)


# --- redaction -----------------------------------------------------------------------------


def test_captured_request_never_holds_the_key():
    client, _ = client_for(lambda request: httpx.Response(200, json={"outcome": "success"}))
    exchange = retain(client)
    assert exchange.request["headers"]["authorization"] == f"Basic {REDACTED}"
    assert exchange.request["url"] == f"{BASE}/{CERT_ID}"
    assert json.loads(exchange.request["body"])["retain"] == {"reference": "lead-1", "vendor": "acme"}
    assert_no_secret(exchange.request)
    assert_no_secret(exchange.to_item())


def test_key_echoed_back_by_the_server_is_redacted_from_the_response():
    def echo(request: httpx.Request) -> httpx.Response:
        body = {"outcome": "error", "reason": f"bad key {API_KEY}", "auth": request.headers["authorization"]}
        return httpx.Response(
            401, json=body, headers={"X-Echo-Auth": request.headers["authorization"], "X-Echo-Key": API_KEY}
        )

    client, _ = client_for(echo)
    exchange = retain(client)
    assert exchange.status == 401
    assert_no_secret(exchange.response)
    assert_no_secret(exchange.to_item())
    assert exchange.response["headers"]["x-echo-auth"] == f"Basic {REDACTED}"
    assert exchange.response["headers"]["x-echo-key"] == REDACTED
    assert f"bad key {REDACTED}" in exchange.response["body"]


def test_key_in_the_request_body_is_redacted_from_the_capture():
    # A vendor name that happens to contain the key must not carry it into the evidence.
    client, seen = client_for(lambda request: httpx.Response(200, json={}))
    exchange = retain(client, vendor=f"vendor-{API_KEY}")
    assert API_KEY in seen[0].content.decode()  # sent as given...
    assert_no_secret(exchange.request)  # ...but never kept


def test_response_is_captured_with_status_headers_and_parsed_json():
    body = {"outcome": "success", "retain": {"results": {"expires_at": "2026-12-01T00:00:00Z"}}}
    client, _ = client_for(lambda request: httpx.Response(200, json=body, headers={"Retry-After": "7"}))
    exchange = retain(client)
    assert exchange.attempt == 3
    assert exchange.error is None
    assert exchange.status == 200
    assert exchange.json() == body
    assert exchange.header("Retry-After") == "7"
    assert json.loads(exchange.response["body"]) == body
    assert exchange.duration_ms >= 0


def test_a_body_that_is_not_json_is_kept_as_text():
    client, _ = client_for(lambda request: httpx.Response(502, text="<html>Bad Gateway</html>"))
    exchange = retain(client)
    assert exchange.status == 502
    assert exchange.json() is None
    assert exchange.response["body"] == "<html>Bad Gateway</html>"


def test_a_huge_response_body_is_clipped():
    client, _ = client_for(lambda request: httpx.Response(200, text="x" * (MAX_STORED_BODY + 10)))
    exchange = retain(client)
    assert len(exchange.response["body"]) < MAX_STORED_BODY + 20
    assert exchange.response["body"].endswith("[truncated]")


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ReadTimeout, "timeout"),
        (httpx.ConnectTimeout, "timeout"),
        (httpx.PoolTimeout, "timeout"),
        (httpx.ConnectError, "connection"),
        (httpx.RemoteProtocolError, "connection"),
        (httpx.ReadError, "connection"),
    ],
)
def test_transport_failures_become_exchanges_without_a_response(error, kind):
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)

    client, _ = client_for(fail)
    exchange = retain(client)
    assert exchange.error == kind
    assert exchange.error_detail == error.__name__
    assert exchange.response is None
    assert exchange.status is None
    assert exchange.header("retry-after") is None
    # the request that was attempted is still evidence, still without the key
    assert exchange.request["url"] == f"{BASE}/{CERT_ID}"
    assert_no_secret(exchange.to_item())


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(status):
    client, seen = client_for(
        lambda request: httpx.Response(status, headers={"Location": "https://evil.example/steal"})
    )
    exchange = retain(client)
    assert len(seen) == 1  # the key never went to the Location
    assert exchange.status == status
    assert exchange.header("location") == "https://evil.example/steal"


# --- fingerprints --------------------------------------------------------------------------


def test_sha1_hex_is_the_sha1_of_the_text():
    assert sha1_hex("a@example.com") == hashlib.sha1(b"a@example.com").hexdigest()  # noqa: S324
    assert sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709"


@pytest.mark.parametrize(("raw", "normal"), [(" A@Example.COM ", "a@example.com"), ("a@example.com", "a@example.com")])
def test_email_is_trimmed_and_lowercased(raw, normal):
    assert normalise_email(raw) == normal


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("(555) 123-4567", "5551234567"), ("+1 555.123.4567", "+15551234567"), ("[555] 123 4567", "5551234567")],
)
def test_phone_punctuation_is_removed(raw, normal):
    assert normalise_phone(raw) == normal


def test_fingerprints_match_however_the_vendor_formatted_the_contact():
    one = lead_fingerprints(" A@Example.com", "(555) 123-4567")
    other = lead_fingerprints("a@example.com", "555.123.4567")
    assert one == other == {"email": sha1_hex("a@example.com"), "phone": sha1_hex("5551234567")}


def test_fingerprints_carry_no_contact_detail_in_clear():
    fingerprints = lead_fingerprints("a@example.com", "5551234567")
    assert "a@example.com" not in fingerprints.values()
    assert "5551234567" not in fingerprints.values()
    assert all(len(value) == 40 for value in fingerprints.values())


@pytest.mark.parametrize(("email", "phone", "names"), [(None, None, set()), ("", "5551234567", {"phone"})])
def test_only_given_contacts_are_fingerprinted(email, phone, names):
    assert set(lead_fingerprints(email, phone)) == names
