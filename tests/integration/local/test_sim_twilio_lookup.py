"""The Twilio Lookup v2 simulator over real HTTP, against tests/contract/twilio_lookup.json: validation,
line type, line status (activity) and the reassigned-number answer keyed to LastVerifiedDate."""

from __future__ import annotations

import pytest

from local.sims.twilio_lookup import LINE_TYPES, NO_CARRIER_TYPES, TwilioLookupSimulator
from tests.support.sims import KEY, check, client

E164 = "+14159929960"  # the number of Twilio's own examples
ALL = "line_type_intelligence,line_status,reassigned_number"


@pytest.fixture(scope="module")
def simulator():
    with TwilioLookupSimulator(api_keys=(KEY,)) as sim:
        yield sim


@pytest.fixture
def sim(simulator):
    simulator.reset()
    simulator.api_keys = frozenset({KEY})
    return simulator


@pytest.fixture
def c(sim):
    with client(sim, auth=("SK00000000000000000000000000000000", KEY)) as c:
        yield c


def lookup(c, number: str = E164, **params: str):
    response = c.get(f"/v2/PhoneNumbers/{number}", params=check("twilio_lookup", "requests/LookupQuery", params))
    assert response.status_code == 200, response.text
    return check("twilio_lookup", "responses/Lookup/200", response.json())


def test_an_unscripted_number_is_a_valid_active_mobile(c):
    answer = lookup(c, Fields=ALL, LastVerifiedDate="20220101")
    assert answer["valid"] is True and answer["validation_errors"] == []
    assert (answer["phone_number"], answer["national_format"], answer["country_code"]) == (E164, "(415) 992-9960", "US")
    assert answer["line_type_intelligence"]["type"] == "mobile" and answer["line_type_intelligence"]["carrier_name"]
    assert answer["line_status"] == {"status": "active", "error_code": None}
    assert answer["reassigned_number"]["is_number_reassigned"] == "no"


def test_packages_not_asked_for_are_null(c):
    answer = lookup(c)
    assert answer["line_type_intelligence"] is None and answer["reassigned_number"] is None
    assert answer["line_status"] is None and answer["url"].endswith(E164)


@pytest.mark.parametrize("line_type", LINE_TYPES)
def test_each_line_type_and_its_carrier_data(c, sim, line_type):
    sim.script(E164, line_type=line_type, carrier_name="Example Carrier")
    intelligence = lookup(c, Fields="line_type_intelligence")["line_type_intelligence"]
    assert intelligence["type"] == line_type
    if line_type in NO_CARRIER_TYPES:  # documented: no carrier data for these
        assert intelligence["carrier_name"] is None and intelligence["mobile_country_code"] is None
    else:
        assert intelligence["carrier_name"] == "Example Carrier"


@pytest.mark.parametrize("status", ["inactive", "unreachable", "unknown"])
def test_line_status_is_the_scripted_activity(c, sim, status):
    sim.script(E164, line_status=status)
    assert lookup(c, Fields="line_status")["line_status"]["status"] == status


@pytest.mark.parametrize(
    ("verified", "echoed", "verdict"),
    [
        ("20220101", "2022-01-01", "yes"),  # reassigned after consent
        ("20220301", "2022-03-01", "yes"),  # on the day
        ("20220302", "2022-03-02", "no"),  # before consent
        ("20201227", "2020-12-27", "no_data_available"),  # before the FCC database's data
    ],
)
def test_reassigned_number_answers_from_the_consent_date_and_echoes_it(c, sim, verified, echoed, verdict):
    sim.script(E164, reassigned_on="2022-03-01")
    reassigned = lookup(c, Fields="reassigned_number", LastVerifiedDate=verified)["reassigned_number"]
    assert reassigned == {"last_verified_date": echoed, "is_number_reassigned": verdict, "error_code": None}


def test_reassigned_number_without_a_date_carries_an_error_code(c):
    reassigned = lookup(c, Fields="reassigned_number")["reassigned_number"]
    assert reassigned["is_number_reassigned"] is None and reassigned["error_code"] == 60617


@pytest.mark.parametrize(
    ("number", "errors"),
    [
        ("+141599299600", ["TOO_LONG"]),  # Twilio's documented example
        ("41599", ["TOO_SHORT"]),
        ("not-a-number", ["NOT_A_NUMBER"]),
        ("+447700900123", ["INVALID_COUNTRY_CODE"]),
        ("+11159929960", ["INVALID_BUT_POSSIBLE"]),
    ],
)
def test_invalid_numbers_answer_200_with_validation_errors(c, number, errors):
    answer = lookup(c, number, Fields=ALL, LastVerifiedDate="20220101")
    assert answer["valid"] is False and answer["validation_errors"] == errors
    assert answer["national_format"] is None and answer["line_type_intelligence"] is None


def test_a_number_scripted_invalid_is_invalid_but_possible(c, sim):
    sim.script(E164, valid=False)
    assert lookup(c)["validation_errors"] == ["INVALID_BUT_POSSIBLE"]


def test_national_format_is_the_same_subject(c, sim):
    lookup(c, "(415) 992-9960", CountryCode="US")
    lookup(c, "4159929960")
    lookup(c, E164)
    assert sim.counts() == {E164: 3}


@pytest.mark.parametrize("auth", [None, ("SK1", "wrong"), ("", KEY)])
def test_bad_credentials_are_401_error_20003(sim, auth):
    with client(sim, auth=auth) as bare:
        response = bare.get(f"/v2/PhoneNumbers/{E164}")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    assert check("twilio_lookup", "definitions/Error", response.json())["code"] == 20003


@pytest.mark.parametrize(
    ("params", "code"),
    [({"Fields": "bogus"}, 60200), ({"Fields": "reassigned_number", "LastVerifiedDate": "2022-01-01"}, 60200)],
)
def test_bad_parameters_are_400(c, params, code):
    response = c.get(f"/v2/PhoneNumbers/{E164}", params=params)
    assert response.status_code == 400 and check("twilio_lookup", "definitions/Error", response.json())["code"] == code


def test_a_documented_package_we_do_not_simulate_is_refused_plainly(c):
    response = c.get(f"/v2/PhoneNumbers/{E164}", params={"Fields": "caller_name"})
    assert response.status_code == 400 and "Simulator" in response.text


def test_other_methods_and_paths_answer_twilio_errors(c):
    assert c.post(f"/v2/PhoneNumbers/{E164}").json()["code"] == 20004
    assert c.get("/v1/PhoneNumbers/x").json()["code"] == 20404
