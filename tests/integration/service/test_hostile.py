"""What a hostile vendor sends, through the gateway and the real handlers: never a 5xx, never the key
anywhere but the TrustedForm endpoint."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator

import pytest
from tf_retainer import wiring

from local.simulator import make_web_cert_id
from tests.support.stack import lead

CERT_URL = "https://cert.trustedform.com/eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947"


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        (b'{"trustedform_cert_url": "%s", "email": "a@example.com", "x": NaN}', 422, "x"),
        (b'{"trustedform_cert_url": "%s", "email": "a@example.com", "x": Infinity}', 422, "x"),
        (b'{"trustedform_cert_url": "%s", "email": "a@example.com", "x": 1e400}', 422, "x"),
        (b'{"trustedform_cert_url": "%s", "email": "a@example.com", "x": 1e200}', 422, "x"),
        (b'{"trustedform_cert_url": "%s", "email": "a@example.com", "x": 1e-200}', 422, "x"),
        (
            b'{"trustedform_cert_url": "%s", "email": "a@example.com", "x": 1234567890123456789012345678901234567890}',
            422,
            "x",
        ),
        (b'{"trustedform_cert_url": "%s", "email": "a@example.com", "x": "\\udfff"}', 422, "x"),
        (
            b'{"trustedform_cert_url": "%s", "email": "a@example.com", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
            400,
            None,
        ),
    ],
)
def test_bodies_that_used_to_crash_intake_are_refused_naming_the_field(stack, raw, status, field):
    body = raw.replace(b"%s", CERT_URL.encode()) if b"%s" in raw else raw
    response = stack.post(None, raw=body)
    assert response.status == status, response.json()
    answer = response.json()
    assert answer["status"] == "rejected" and answer["reason"] == "invalid_request"
    if field:
        assert [error["field"] for error in answer["errors"]] == [field]
    assert stack.sim.requests == [] and stack.queued() == 0  # nothing sent, nothing queued


class RecordingProxy(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []  # noqa: RUF012 - one proxy per test, reset by the fixture

    def do_POST(self) -> None:
        RecordingProxy.seen.append(self.path + " " + str(self.headers.get("Authorization")))
        self.send_response(502)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    RecordingProxy.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_environments_proxy_never_sees_a_retain(stack, proxy, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    wiring.reset()  # a new container, with the proxy in its environment
    response = stack.post(lead())
    assert response.status == 201, response.json()
    assert RecordingProxy.seen == []
    assert len(stack.sim.requests) == 1


def test_a_loopback_lookalike_host_is_not_an_acceptable_trustedform_endpoint(stack, monkeypatch):
    from pydantic import ValidationError
    from tf_retainer.runtime.settings import get_settings

    monkeypatch.setenv("TRUSTEDFORM_API_URL", "http://127.attacker.example:8900")
    wiring.reset()
    with pytest.raises(ValidationError, match="TRUSTEDFORM_API_URL must be"):
        get_settings()
    # No function starts with that setting, the authorizer first: API Gateway's AUTHORIZER_FAILURE.
    response = stack.post(lead())
    assert (response.status, response.json()["status"]) == (503, None)
    assert stack.sim.requests == []


# --- a certificate is held only by a lead that kept it ------------------------------------------------

GENUINE = {"email": "jane.doe@example.com", "phone": "5125551212"}


def test_a_refused_thief_does_not_keep_the_certificate_from_its_owner(stack):
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["success"], **GENUINE)
    thief = stack.add_vendor("vendor-b")
    stolen = stack.post(lead(cert_id, email="mallory@example.net", phone="5550000000"), key=thief)
    assert (stolen.status, stolen.json()["reason"]) == (422, "lead_match_failed")
    genuine = stack.post(lead(cert_id))  # vendor A, the consumer's own details
    assert genuine.status == 201, genuine.json()
    assert genuine.json()["lead_match"]["success"] is True
    claim = stack.reader.read_certificate(cert_id).claim
    assert (claim.lead_id, claim.status) == (genuine.json()["lead_id"], "retained")


def test_a_vendor_retrying_after_an_early_404_gets_its_lead_retained(stack):
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["not_found", "success"])  # TrustedForm had not seen the form yet
    early = stack.post(lead(cert_id))
    assert (early.status, early.json()["reason"]) == (422, "certificate_not_found")
    again = stack.post(lead(cert_id))
    assert again.status == 201, again.json()


def test_a_held_certificate_is_still_refused_and_counted(stack, capfd):
    cert_id = make_web_cert_id()
    assert stack.post(lead(cert_id)).status == 201
    other = stack.add_vendor("vendor-c")
    for _ in range(3):
        response = stack.post(lead(cert_id), key=other)
        assert (response.status, response.json()["reason"]) == (422, "certificate_reused")
    assert stack.reader.read_certificate(cert_id).claim.reuse_attempts == 3
    assert '"CrossVendorReuse":[1.0]' in capfd.readouterr().out  # the metric the alarm watches


# --- extra fields: the allow-list in clear, contact details as fingerprints, the rest dropped ---------


def sha1(value: bytes) -> str:
    return hashlib.sha1(value, usedforsecurity=False).hexdigest()


def test_sensitive_extra_fields_are_never_stored_in_clear(stack):
    sensitive = {
        "ssn": "078-05-1120",
        "password": "hunter2-secret",
        "dob": "1970-01-31",
        "Email": "second.inbox@example.org",
        "phone_number": "(415) 555-0199",
    }
    response = stack.post(lead(utm_source="search", **sensitive))
    assert response.status == 201, response.json()
    stored = json.dumps(stack.all_items()) + json.dumps(stack.get(response.json()["lead_id"]).json())
    for value in (*sensitive.values(), "second.inbox@example.org".lower(), "4155550199"):
        assert value not in stored, value
    state = stack.lead_state(response.json()["lead_id"])
    assert state["lead"]["utm_source"] == "search"  # allow-listed: kept as sent
    # contact-like fields: the consumer index's keyed tokens, never the SHA-1 (reversible for a phone)
    keyring = stack.leads.keyring
    assert state["lead"]["Email"] == "token:" + keyring.consumer("email", sha1(b"second.inbox@example.org"))
    assert state["lead"]["phone_number"] == "token:" + keyring.consumer("phone", sha1(b"4155550199"))
    for fingerprint in (sha1(b"second.inbox@example.org"), sha1(b"4155550199")):
        assert fingerprint not in stored
    assert state["dropped_fields"] == ["dob", "password", "ssn"]  # names only, for the record


@pytest.mark.parametrize("stack_env", [{"EXTRA_FIELDS_ALLOWED": "utm_source,affiliate_id,source,sub_id"}])
def test_personal_data_in_an_allowed_field_or_a_field_name_is_not_stored(stack):
    """An allow-listed field keeps its value only when it is not shaped like personal data; a field named
    with personal data is counted, not named (issue 26, item 6)."""
    sent = {
        "utm_source": "jane.doe@example.com",
        "affiliate_id": "4111 1111 1111 1111",
        "source": "078-05-1120",
        "sub_id": "A-17",
        "jane.doe@example.com": "x",
    }
    response = stack.post(lead(**sent))
    assert response.status == 201, response.json()
    stored = json.dumps(stack.all_items()) + json.dumps(stack.get(response.json()["lead_id"]).json())
    for value in ("jane.doe@example.com", "4111 1111 1111 1111", "078-05-1120"):
        assert value not in stored, value
    state = stack.lead_state(response.json()["lead_id"])
    assert state["lead"] == {"sub_id": "A-17"}
    assert state["dropped_fields"] == ["affiliate_id", "source", "utm_source", "(1 unnamed)"]


def test_a_vendor_lead_id_that_is_an_email_is_refused_naming_the_field(stack):
    response = stack.post(lead(lead_id="jane.doe@example.com"))
    assert response.status == 422
    assert "lead_id" in json.dumps(response.json()) and "jane.doe" not in json.dumps(response.json())
    assert stack.post(lead(lead_id="5125551212")).status == 201  # a numeric CRM id is not refused


@pytest.mark.parametrize("stack_env", [{"EXTRA_FIELDS_ALLOWED": "zip,dob"}])
def test_the_buyer_chooses_which_extra_fields_are_kept(stack):
    response = stack.post(lead(zip="90210", dob="1970-01-31", utm_source="search"))
    state = stack.lead_state(response.json()["lead_id"])
    assert state["lead"] == {"zip": "90210", "dob": "1970-01-31"}
    assert state["dropped_fields"] == ["utm_source"]
