"""The DNC.com simulator over real HTTP, against tests/contract/dncscrub.json: the Full Scrub (national,
state and internal DNC, litigators, wireless), the Litigator API and the reassigned-number checks keyed to
the consent date. Numbers are DNC.com's own documented examples or fictitious."""

from __future__ import annotations

import csv
import io
import json

import pytest

from local.sims.dncscrub import SCRUB_FIELDS, DncScrubSimulator
from tests.support.sims import KEY, check, client

N1, N2, N3 = "7075276405", "5039367187", "5039367181"  # DNC.com's documented examples


@pytest.fixture(scope="module")
def simulator():
    with DncScrubSimulator(api_keys=(KEY,)) as sim:
        yield sim


@pytest.fixture
def sim(simulator):
    simulator.reset()
    simulator.api_keys = frozenset({KEY})
    return simulator


@pytest.fixture
def c(sim):
    with client(sim, headers={"loginId": KEY}) as c:
        yield c


def scrub(c, phone_list: str, **params: str):
    query = check(
        "dncscrub", "requests/ScrubQuery", {"phoneList": phone_list, "version": "5", "output": "json", **params}
    )
    response = c.get("/app/main/rpc/scrub", params=query)
    assert response.status_code == 200
    return check("dncscrub", "responses/Scrub/200", response.json())


def rnd(c, route: str, number: str, date: str):
    response = c.get(
        f"/v1.5/Data/{route}", params=check("dncscrub", "requests/RndQuery", {"phoneNumber": number, "date": date})
    )
    assert response.status_code == 200
    return check("dncscrub", f"responses/{route}/200", response.json())


# -- Full Scrub ---------------------------------------------------------------------------------------


def test_an_unscripted_number_is_clean(c):
    [row] = scrub(c, N1)
    assert row["Phone"] == N1 and row["ResultCode"] == "C" and row["Reason"] == ";;;"
    assert row["CallingWindow"] and row["DoNotCallToday"] == "0" and row["LineType"] == "AllOther"


@pytest.mark.parametrize(
    ("facts", "version", "code", "reason"),
    [
        ({"national_dnc": "2003-06-01"}, "5", "D", "National (USA) 2003-06-01;;;"),
        ({"state_dnc": "2010-05-01", "region": "TX"}, "5", "D", ";State (TX) 2010-05-01;;"),
        ({"national_dnc": "2003-06-01", "state_dnc": "2010-05-01"}, "5", "D",
         "National (USA) 2003-06-01;State (CA) 2010-05-01;;"),
        ({"internal_dnc": True}, "5", "P", "Project DNC"),
        ({"litigator": True, "line_type": "Wireless"}, "5", "D", "Litigator"),
        ({"line_type": "Wireless"}, "5", "W", ";;;W"),
        ({"line_type": "Wireless", "region": "NJ"}, "5", "L", ";;;W"),
        ({"line_type": "VoIP"}, "5", "Y", ";;;W"),
        ({"line_type": "VoIP"}, "2", "W", ";;;W"),  # before version 3, VoIP answers W
        # precedence: the internal list first (no further checks), then litigators, then the registries
        ({"internal_dnc": True, "litigator": True, "national_dnc": "2003-06-01"}, "5", "P", "Project DNC"),
        ({"litigator": True, "national_dnc": "2003-06-01"}, "5", "D", "Litigator"),
    ],
)  # fmt: skip
def test_result_codes_follow_the_scripted_facts(c, sim, facts, version, code, reason):
    sim.script(N1, **facts)
    [row] = scrub(c, N1, version=version)
    assert (row["ResultCode"], row["Reason"]) == (code, reason)
    wireless = facts.get("line_type") in ("Wireless", "VoIP")
    assert row["IsWirelessOrVoIP"] == ("1" if wireless else "0")
    assert (row["CallingWindow"] == "") == (code in ("D", "P"))


def test_malformed_and_invalid_numbers_are_answered_per_number(c):
    rows = scrub(c, f"12345,0705276405,{N1}")
    assert [r["ResultCode"] for r in rows] == ["M", "I", "C"]


def test_a_batch_by_post_keeps_order_and_identifiers(c, sim):
    sim.script(N2, litigator=True)
    body = check(
        "dncscrub",
        "requests/ScrubBody",
        {"phoneList": f"{N1}|ACCT-1,{N2}|ACCT-2,{N3}", "version": "5", "output": "json"},
    )
    rows = check("dncscrub", "responses/Scrub/200", c.post("/app/main/rpc/scrub", json=body).json())
    assert [(r["Phone"], r["Reserved"], r["ResultCode"]) for r in rows] == [
        (N1, "ACCT-1", "C"),
        (N2, "ACCT-2", "D"),
        (N3, "", "C"),
    ]
    assert sim.counts() == {N1: 1, N2: 1, N3: 1}


def test_csv_output_has_the_documented_columns(c, sim):
    sim.script(N1, national_dnc="2003-06-01")
    response = c.get("/app/main/rpc/scrub", params={"phoneList": N1, "version": "5", "output": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    [row] = list(csv.reader(io.StringIO(response.text)))
    assert dict(zip(SCRUB_FIELDS, row, strict=True))["Reason"] == "National (USA) 2003-06-01;;;"


@pytest.mark.parametrize("headers", [{}, {"loginId": "not-the-key"}])
def test_scrub_without_a_valid_login_id_answers_the_login_page(sim, headers):
    with client(sim, headers=headers) as bare:
        response = bare.get("/app/main/rpc/scrub", params={"phoneList": N1, "version": "5", "output": "json"})
    assert response.status_code == 200 and "<title>Login</title>" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert sim.count(N1) == 1 and "not-the-key" not in json.dumps(sim.requests)


@pytest.mark.parametrize(
    "params",
    [{"version": "5"}, {"phoneList": N1, "version": "five"}, {"phoneList": N1, "version": "5", "output": "xml"}],
)
def test_bad_scrub_requests_are_400(c, params):
    assert c.get("/app/main/rpc/scrub", params=params).status_code == 400


def test_more_than_10000_numbers_is_400(c):
    body = {"phoneList": ",".join([N1] * 10_001), "version": "5", "output": "json"}
    assert c.post("/app/main/rpc/scrub", json=body).status_code == 400


# -- Litigator ----------------------------------------------------------------------------------------


def test_litigator_by_get_and_post(c, sim):
    sim.script(N2, litigator=True)
    query = check("dncscrub", "requests/LitigatorQuery", {"phoneList": f"{N2},{N1}"})
    got = check("dncscrub", "responses/Litigator/200", c.get("/v1.5/scrub/litigator", params=query).json())
    assert got == [{"Phone": int(N2), "IsLitigator": True}, {"Phone": int(N1), "IsLitigator": False}]
    body = check("dncscrub", "requests/LitigatorBody", {"PhoneList": f"{N1},{N2}"})
    posted = check("dncscrub", "responses/Litigator/200", c.post("/v1.5/Scrub/litigator", json=body).json())
    assert [r["IsLitigator"] for r in posted] == [False, True]


def test_litigator_takes_the_key_from_the_query_or_the_body_and_keeps_it_out_of_the_log(sim):
    with client(sim) as bare:
        assert bare.get("/v1.4/scrub/litigator", params={"phoneList": N1, "loginId": KEY}).status_code == 200
        assert bare.post("/v1.5/scrub/litigator", json={"PhoneList": N1, "loginId": KEY}).status_code == 200
        assert bare.get("/v1.5/scrub/litigator", params={"phoneList": N1}).status_code == 401
    assert KEY not in json.dumps(sim.requests)


@pytest.mark.parametrize("phone_list", ["", "12345", ",".join([N1] * 101)])
def test_bad_litigator_requests_are_400(c, phone_list):
    response = c.get("/v1.5/scrub/litigator", params={"phoneList": phone_list})
    assert response.status_code == 400


# -- Reassigned Authority: the answer depends on the consent date ------------------------------------


@pytest.mark.parametrize(
    ("consent", "reassigned", "safe_harbour"),
    [
        ("20220101", True, False),  # reassigned after consent was given
        ("2022-03-01", True, False),  # on the day: consent may be the previous subscriber's
        ("03/02/2022", False, True),  # reassigned before consent: the consenting person holds it
        ("12/31/20", None, False),  # before the FCC database's data (27 January 2021): no data
    ],
)
def test_rnd_basic_answers_from_the_consent_date(c, sim, consent, reassigned, safe_harbour):
    sim.script(N1, reassigned_on="2022-03-01")
    assert rnd(c, "RNDBasic", N1, consent) == {
        "PhoneNumber": N1,
        "IsReassigned": reassigned,
        "HasSafeHarbor": safe_harbour,
    }


def test_a_never_reassigned_number_is_not_reassigned_and_no_data_is_null(c, sim):
    assert rnd(c, "RNDBasic", N1, "20230101")["IsReassigned"] is False
    sim.script(N1, rnd_no_data=True)
    assert rnd(c, "RNDBasic", N1, "20230101")["IsReassigned"] is None


@pytest.mark.parametrize(
    ("consent", "fcc_or_combined", "ccc"),
    [("20220101", True, True), ("20190501", True, True), ("20180101", None, None), ("20230101", False, False)],
)
def test_enhanced_rnd_adds_carrier_data_from_july_2018(c, sim, consent, fcc_or_combined, ccc):
    sim.script(N1, reassigned_on="2022-03-01")
    answer = rnd(c, "EnhancedRND", N1, consent)
    assert (answer["IsReassigned"], answer["CCCIsReassigned"]) == (fcc_or_combined, ccc)
    assert answer["HasSafeHarbor"] is (fcc_or_combined is False)


def test_rnd_batches_by_post(c, sim):
    sim.script(N2, reassigned_on="2022-03-01")
    items = [{"phoneNumber": N1, "date": "20220101"}, {"phoneNumber": N2, "date": "20220101"}]
    body = check("dncscrub", "requests/RndBody", {"Data": items, "useSandbox": False})
    basic = check("dncscrub", "responses/RNDBasic/200-POST", c.post("/v1.5/Data/RNDBasic", json=body).json())
    assert [(r["IsReassigned"], r["IsSandBox"]) for r in basic] == [(False, False), (True, False)]
    enhanced = c.post("/v1.5/Data/EnhancedRND", json=items).json()  # the older, bare-array body
    assert [r["IsReassigned"] for r in check("dncscrub", "responses/EnhancedRND/200-POST", enhanced)] == [False, True]
    assert sim.counts() == {N1: 2, N2: 2}


@pytest.mark.parametrize(
    "params",
    [
        {"phoneNumber": N1, "date": "2022-13-45"},
        {"phoneNumber": N1, "date": "yesterday"},
        {"phoneNumber": "15039367187", "date": "20220101"},
        {"phoneNumber": N1},
    ],
)
def test_bad_rnd_requests_are_400(c, params):
    assert c.get("/v1.5/Data/RNDBasic", params=params).status_code == 400


def test_rnd_post_limits(c):
    too_many = [{"phoneNumber": N1, "date": "20220101"}] * 1001
    assert c.post("/v1.5/Data/EnhancedRND", json={"Data": too_many}).status_code == 400
    assert c.post("/v1.5/Data/EnhancedRND", json={"Data": []}).status_code == 400
    assert c.post("/v1.5/Data/EnhancedRND", content=b"{not json").status_code == 400


def test_rnd_without_a_valid_key_is_401(sim):
    with client(sim, headers={"loginId": "wrong"}) as bare:
        assert bare.get("/v1.5/Data/RNDBasic", params={"phoneNumber": N1, "date": "20220101"}).status_code == 401
    assert sim.count(N1, status=401) == 1


def test_paths_are_case_insensitive_and_v14_answers(c):
    assert c.get("/V1.4/data/rndbasic", params={"phoneNumber": N1, "date": "20220101"}).status_code == 200
