"""The Jornaya adapter against the TCPA Guardian simulator over loopback HTTP: its request is the documented
shape (tests/contract/jornaya.json), each documented answer is read into the findings the rules judge, each
fault into the fault the policies act on, and the evidence never holds the keys or the lead data."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from tf_retainer.ports.screening import ScreenFault
from tf_retainer.providers.screening.jornaya import Jornaya

from local.sims.jornaya import JornayaSimulator
from tests.support.sims import Recording, check

ACCOUNT = "jornaya-account-code-0123"
AUDIT_KEY = "jornaya-audit-key-4567"
CREDENTIALS = {"account_code": ACCOUNT, "audit_key": AUDIT_KEY}
TOKEN = "A1C2860F-25EA-4937-BC78-222D8C227789"  # Jornaya's documented example
EMAIL, PHONE = "Joe.Smith+leads@example.com", "(707) 527-6405"


@pytest.fixture(scope="module")
def sim() -> Iterator[JornayaSimulator]:
    started = JornayaSimulator(api_keys=(ACCOUNT,), audit_keys=(AUDIT_KEY,))
    started.start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def fresh(sim: JornayaSimulator) -> None:
    sim.reset()
    sim.api_keys = frozenset({ACCOUNT})


def audit(sim: JornayaSimulator, transport: httpx.BaseTransport | None = None, **overrides: Any) -> Any:
    adapter = Jornaya({"api": sim.base_url or ""}, transport=transport)
    recorded: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {
        "source": "acme_leads.co",
        "lead_data": {"email": EMAIL, "phone": PHONE},
        "brand_names": [],
        "credentials": CREDENTIALS,
        "deadline": time.monotonic() + 5,
        "attempt": 1,
        "before_send": recorded.append,
        **overrides,
    }
    answer = adapter.audit(TOKEN, **arguments)
    adapter.close()
    return answer, recorded


def test_the_request_is_the_documented_form_and_keys_and_lead_data_stay_out_of_the_evidence(sim):
    transport = Recording()
    answer, [recorded] = audit(sim, transport)
    [sent] = transport.sent
    assert (sent.method, sent.url.path, sent.url.query) == ("POST", "/SingleQuery", b"")  # no key in a URL
    form = dict(parse_qsl(sent.content.decode()))
    check("jornaya", "requests/SingleQueryParams", form)
    assert form["lpc"] == "acme-leads-co"  # the documented alphanumeric provider code
    assert form["data"] == f"email;{EMAIL}|phone1;7075276405"
    evidence = json.dumps([recorded, answer.exchange.to_item()])
    for clear in (ACCOUNT, AUDIT_KEY, EMAIL, "Joe.Smith%2Bleads%40example.com", "7075276405"):
        assert clear not in evidence
    assert answer.exchange.request == recorded  # what went on record is what was sent, redacted


def test_a_good_lead_is_authentic_and_green_with_every_check_named(sim):
    answer, _ = audit(sim)
    found = answer.findings
    assert (found["authentic"], found["result"], found["failing"]) == (True, "green", [])
    assert {"disclosure", "prominence", "contrast", "visibility", "capture", "stored", "consent"} <= set(
        found["checks"]
    )
    assert found["transid"] and found["data_integrity_failed"] == []


def test_the_colours_follow_the_audit_profile_and_the_failing_checks_are_named(sim):
    sim.script(TOKEN, contrast=20, consent="passive")
    found = audit(sim)[0].findings
    assert found["result"] == "yellow" and found["failing"] == ["consent", "contrast"]
    sim.script(TOKEN, witnessed={"email": "someone.else@example.com", "phone1": "707-527-6405"})
    found = audit(sim)[0].findings
    assert found["data_integrity_failed"] == ["email"] and "data_integrity" in found["failing"]


def test_brand_names_are_sent_and_a_missing_one_is_named(sim):
    sim.script(TOKEN, brands=["Acme Solar"])
    found = audit(sim, brand_names=["Acme Solar", "Other Co"])[0].findings
    assert found["brand_names_missing"] == ["Other Co"] and found["result"] == "red"


@pytest.mark.parametrize(
    ("facts", "reason"), [({"opted_out": True}, "opted_out"), ({"issued": False}, "invalid_token"),
                          ({"created_at": "2024-01-01T00:00:00Z"}, "expired")]
)  # fmt: skip
def test_a_token_jornaya_does_not_vouch_for_is_a_finding_not_a_fault(sim, facts, reason):
    sim.script(TOKEN, **facts)
    answer, _ = audit(sim)
    assert answer.fault is None and answer.findings["authentic"] is False
    assert answer.findings["not_authentic"] == reason


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("unavailable", ScreenFault.UNAVAILABLE),
        ("throttled:3", ScreenFault.THROTTLED),
        ("drop", ScreenFault.UNAVAILABLE),
        ("malformed", ScreenFault.UNEXPECTED),
    ],
)
def test_each_fault_is_read_into_what_the_policies_act_on(sim, fault, expected):
    sim.script(TOKEN, [fault])
    answer, _ = audit(sim)
    assert answer.findings is None and answer.fault is expected
    if expected is ScreenFault.THROTTLED:
        assert answer.retry_after == 3


def test_a_refused_account_code_is_the_account_s_fault(sim):
    sim.api_keys = frozenset({"another-account"})
    assert audit(sim)[0].fault is ScreenFault.ACCOUNT


def test_a_hung_audit_ends_at_the_deadline_as_a_timeout(sim):
    sim.script(TOKEN, ["hang"])
    answer, _ = audit(sim, deadline=time.monotonic() + 0.6)
    assert answer.fault is ScreenFault.TIMEOUT


def test_the_keys_go_to_the_configured_host_or_nowhere(sim):
    adapter = Jornaya({"api": sim.base_url or ""})
    request = adapter.build("POST", "api", "/SingleQuery")
    request.url = request.url.copy_with(host="api.leadid.com.evil.example")
    with pytest.raises(ValueError, match="refusing"):
        adapter.exchange(request, CREDENTIALS, also=str, before_send=None, attempt=1, deadline=time.monotonic() + 1)
    adapter.close()
