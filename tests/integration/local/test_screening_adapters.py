"""The screening adapters against their simulators over loopback HTTP: each request is the provider's
documented shape (tests/contract/<provider>.json), each documented answer is read into the findings the
rules judge, each fault into the fault the policies act on, and the evidence never holds the key or the
number. The simulators themselves are held to the same contracts (test_sim_*.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from tf_retainer.domain.screens import Screen
from tf_retainer.ports.screening import ScreenFault
from tf_retainer.providers.screening.base import ScreeningAdapter
from tf_retainer.providers.screening.blacklist_alliance import BlacklistAlliance
from tf_retainer.providers.screening.dncscrub import DncScrub
from tf_retainer.providers.screening.twilio_lookup import TwilioLookup

from local.sims.blacklist_alliance import BlacklistAllianceSimulator
from local.sims.dncscrub import DncScrubSimulator
from local.sims.twilio_lookup import TwilioLookupSimulator
from tests.support.sims import Recording, check

KEY = "screen-adapter-key-0123456789abcdef"
SID = "SK00000000000000000000000000000001"
NUMBER = "7075276405"  # DNC.com's documented example
CONSENT = date(2022, 1, 15)


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Any]]:
    started = {
        "dncscrub": DncScrubSimulator(api_keys=(KEY,)),
        "twilio_lookup": TwilioLookupSimulator(api_keys=(KEY,)),
        "blacklist_alliance": BlacklistAllianceSimulator(api_keys=(KEY,)),
    }
    for sim in started.values():
        sim.start()
    yield started
    for sim in started.values():
        sim.stop()


@pytest.fixture
def transport() -> Recording:
    return Recording()


@pytest.fixture(autouse=True)
def fresh(sims: dict[str, Any]) -> None:
    for sim in sims.values():
        sim.reset()
        sim.api_keys = frozenset({KEY})


def adapter(name: str, sims: dict[str, Any], transport: Recording) -> ScreeningAdapter:
    base = sims[name].base_url
    if name == "dncscrub":
        return DncScrub({"scrub": base, "data": base}, project_id="proj-7", transport=transport)
    if name == "twilio_lookup":
        return TwilioLookup({"api": base}, transport=transport)
    return BlacklistAlliance({"api": base}, transport=transport)


CREDENTIALS = {
    "dncscrub": {"api_key": KEY},
    "twilio_lookup": {"api_key_sid": SID, "api_key_secret": KEY},
    "blacklist_alliance": {"api_key": KEY},
}


def ask(name: str, screen: Screen, sims, transport, *, credentials=None, recorded: list | None = None) -> Any:
    return adapter(name, sims, transport).check(
        screen,
        NUMBER,
        credentials=credentials or CREDENTIALS[name],
        consent_date=CONSENT,
        deadline=time.monotonic() + 5,
        attempt=1,
        before_send=(recorded.append if recorded is not None else None),
    )


def query(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(str(request.url)).query))


# --- requests: the documented shapes ----------------------------------------------------------------------

CASES = [
    ("dncscrub", Screen.DNC, "/app/main/rpc/scrub", "requests/ScrubQuery"),
    ("dncscrub", Screen.LITIGATOR, "/v1.5/scrub/litigator", "requests/LitigatorQuery"),
    ("dncscrub", Screen.REASSIGNED, "/v1.5/Data/EnhancedRND", "requests/RndQuery"),
    ("twilio_lookup", Screen.PHONE, f"/v2/PhoneNumbers/+1{NUMBER}", "requests/LookupQuery"),
    ("twilio_lookup", Screen.REASSIGNED, f"/v2/PhoneNumbers/+1{NUMBER}", "requests/LookupQuery"),
    ("blacklist_alliance", Screen.LITIGATOR, "/lookup", "requests/SimpleLookupQuery"),
]


@pytest.mark.parametrize(("name", "screen", "path", "contract"), CASES, ids=lambda c: str(c))
def test_each_request_is_the_documented_one_and_goes_on_record_redacted(sims, transport, name, screen, path, contract):
    recorded: list[dict[str, Any]] = []
    answer = ask(name, screen, sims, transport, recorded=recorded)
    assert answer.fault is None and answer.findings is not None, answer.exchange.response
    [request] = transport.sent
    assert request.method == "GET" and request.url.path == path
    check(name, contract, query(request))
    # before it went, the request was handed over as it would go: key and number redacted
    [on_record] = recorded
    assert on_record == answer.exchange.request
    stored = json.dumps(answer.exchange.to_item())
    assert KEY not in stored and NUMBER not in stored and "[phone]" in stored
    assert answer.exchange.provider == name and answer.exchange.screen == screen.value


def test_each_provider_is_sent_its_key_its_documented_way(sims, transport):
    ask("dncscrub", Screen.DNC, sims, transport)
    ask("twilio_lookup", Screen.PHONE, sims, transport)
    ask("blacklist_alliance", Screen.LITIGATOR, sims, transport)
    dnc, twilio, bla = transport.sent
    assert dnc.headers["loginId"] == KEY and query(dnc)["projId"] == "proj-7"
    assert twilio.headers["Authorization"] == httpx.BasicAuth(SID, KEY)._auth_header
    assert query(bla)["key"] == KEY and query(bla)["ver"] == "v5"


def test_a_request_to_another_host_is_never_sent(sims, transport):
    adapter_ = TwilioLookup({"api": "https://lookups.twilio.com"}, transport=transport)
    adapter_._hosts = {"lookups.twilio.com.evil.example"}  # as if the base and the check disagreed
    with pytest.raises(ValueError, match="refusing"):
        adapter_.check(Screen.PHONE, NUMBER, credentials=CREDENTIALS["twilio_lookup"], consent_date=None,
                       deadline=time.monotonic() + 5, attempt=1)  # fmt: skip
    assert transport.sent == []


# --- answers: what the rules read -------------------------------------------------------------------------


def test_dnc_scrub_findings(sims, transport):
    assert ask("dncscrub", Screen.DNC, sims, transport).findings["result_code"] == "C"
    sims["dncscrub"].script(NUMBER, national_dnc="2003-06-01", state_dnc="2010-01-01")
    found = ask("dncscrub", Screen.DNC, sims, transport).findings
    assert (found["national"], found["state"], found["internal"], found["litigator"]) == (True, True, False, False)
    sims["dncscrub"].script(NUMBER, national_dnc=None, state_dnc=None, internal_dnc=True)
    assert ask("dncscrub", Screen.DNC, sims, transport).findings["internal"] is True
    sims["dncscrub"].script(NUMBER, internal_dnc=False, litigator=True)
    found = ask("dncscrub", Screen.DNC, sims, transport).findings
    assert found["litigator"] is True and found["national"] is False
    sims["dncscrub"].script(NUMBER, litigator=False, line_type="Wireless", region="TX")
    found = ask("dncscrub", Screen.DNC, sims, transport).findings
    assert found["wireless_prohibited_state"] is True and found["wireless"] is True and found["result_code"] == "L"


def test_litigator_findings_from_both_providers(sims, transport):
    sims["blacklist_alliance"].script(NUMBER, codes=["attorney-secondary", "prelitigation1"])
    found = ask("blacklist_alliance", Screen.LITIGATOR, sims, transport).findings
    assert (
        found["litigator"] is True
        and found["risk_level"] == 15
        and found["codes"] == ["attorney-secondary", "prelitigation1"]
    )
    sims["dncscrub"].script(NUMBER, litigator=True)
    assert ask("dncscrub", Screen.LITIGATOR, sims, transport).findings["litigator"] is True


@pytest.mark.parametrize("name", ["dncscrub", "twilio_lookup"])
@pytest.mark.parametrize(("reassigned_on", "expected"), [(None, False), ("2022-03-01", True), ("2021-12-01", False)])
def test_reassigned_findings_keep_the_consent_date_asked_about(sims, transport, name, reassigned_on, expected):
    key = NUMBER if name == "dncscrub" else "+1" + NUMBER
    adapter_ = adapter(name, sims, transport)
    sims[name].script(key, reassigned_on=reassigned_on)
    found = adapter_.check(Screen.REASSIGNED, NUMBER, credentials=CREDENTIALS[name], consent_date=CONSENT,
                           deadline=time.monotonic() + 5, attempt=1).findings  # fmt: skip
    assert found["reassigned"] is expected and found["safe_harbor"] is (not expected)
    assert found["consent_date"] == "2022-01-15"


@pytest.mark.parametrize("name", ["dncscrub", "twilio_lookup"])
def test_no_data_before_the_database_began_is_neither_yes_nor_no(sims, transport, name):
    old = date(2020, 6, 1)  # the FCC database starts on 27 January 2021
    answer = adapter(name, sims, transport).check(
        Screen.REASSIGNED,
        NUMBER,
        credentials=CREDENTIALS[name],
        consent_date=old,
        deadline=time.monotonic() + 5,
        attempt=1,
    )
    found = answer.findings
    if name == "dncscrub":  # Enhanced RND falls back on the carriers' data, from July 2018
        assert found["reassigned"] is False
    else:
        assert found["reassigned"] is None and found["safe_harbor"] is False


def test_phone_findings(sims, transport):
    sims["twilio_lookup"].script("+1" + NUMBER, line_type="tollFree", line_status="inactive")
    found = ask("twilio_lookup", Screen.PHONE, sims, transport).findings
    assert (found["valid"], found["line_type"], found["line_status"]) == (True, "tollFree", "inactive")
    sims["twilio_lookup"].script("+1" + NUMBER, valid=False)
    assert ask("twilio_lookup", Screen.PHONE, sims, transport).findings["valid"] is False


# --- faults: what the policies act on ---------------------------------------------------------------------

FAULTS = [
    ("unavailable", ScreenFault.UNAVAILABLE),
    ("server_error", ScreenFault.UNAVAILABLE),
    ("throttled:7", ScreenFault.THROTTLED),
    ("malformed", ScreenFault.UNEXPECTED),
    ("drop", ScreenFault.UNAVAILABLE),
]


@pytest.mark.parametrize(("name", "screen"), [(c[0], c[1]) for c in CASES], ids=lambda c: str(c))
@pytest.mark.parametrize(("fault", "expected"), FAULTS)
def test_every_fault_is_read_as_one_the_policies_know(sims, transport, name, screen, fault, expected):
    key = "+1" + NUMBER if name == "twilio_lookup" else NUMBER
    sims[name].script(key, [fault])
    answer = adapter(name, sims, transport).check(screen, NUMBER, credentials=CREDENTIALS[name], consent_date=CONSENT,
                                                  deadline=time.monotonic() + 5, attempt=1)  # fmt: skip
    assert (answer.fault, answer.findings) == (expected, None)
    if fault.startswith("throttled"):
        assert answer.retry_after == 7.0


@pytest.mark.parametrize(("name", "screen"), [(c[0], c[1]) for c in CASES], ids=lambda c: str(c))
def test_a_refused_key_is_the_account_s_fault_and_never_stored(sims, transport, name, screen):
    wrong = {field: "wrong-key-0123456789abcdef" for field in CREDENTIALS[name]}
    answer = ask(name, screen, sims, transport, credentials=wrong)
    assert answer.fault is ScreenFault.ACCOUNT  # DNC.com's scrub answers its login page with a 200
    assert "wrong-key-0123456789abcdef" not in json.dumps(answer.exchange.to_item())


def test_a_hung_provider_times_out_within_the_deadline(sims, transport):
    sims["dncscrub"].script(NUMBER, ["hang"])  # the simulator holds the request for 30 s
    answer = adapter("dncscrub", sims, transport).check(
        Screen.DNC,
        NUMBER,
        credentials=CREDENTIALS["dncscrub"],
        consent_date=None,
        deadline=time.monotonic() + 0.5,
        attempt=1,
    )
    assert answer.fault is ScreenFault.TIMEOUT and answer.exchange.error == "timeout"
