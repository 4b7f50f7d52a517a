"""Fifty leads carrying one phone number, posted by Lambda containers racing in OS processes (released
together by a barrier) against one moto server and the screening providers' simulators over loopback:
each screen asks its provider once for the number in its window, however many leads and containers."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from local.simulator import make_web_cert_id
from tests.support import concurrency as harness
from tests.support.screening import ScreenSims, publish_rules, screening_env, start_sims
from tests.support.stack import lead

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("concurrency")]
LEADS = 50
VENDOR = "acme-screened"  # its own rule set: the other scenarios' vendor runs no screen
NUMBER = "4155550199"
# Containers racing: half the other scenarios' count. Each waits on the others' screen leases with reads
# (0.1 s doubling to 1 s), so twenty of them kept one moto server on 2 busy cores past the functions' 2 s
# bound on a call (ReadTimeouts); ten still race every round, five rounds for fifty leads.
SCREENING_PROCESSES = max(10, harness.PROCESSES // 2)


@pytest.fixture(scope="module")
def sims() -> Iterator[ScreenSims]:
    started = start_sims()
    yield started
    started.stop()


def pool_of(backend, sims, screens: dict[str, str], logs) -> Iterator[harness.LambdaPool]:
    """Containers of a deployment choosing ``screens``, answered by ``sims``."""
    env = screening_env(backend, sims, screens, harness.FAST_RETRIES)
    pool = harness.LambdaPool(SCREENING_PROCESSES, env, logs)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def screening_pool(backend, sims, tmp_path_factory) -> Iterator[harness.LambdaPool]:
    screens = {"litigator": "blacklist_alliance", "dnc": "dncscrub", "phone": "twilio_lookup"}
    yield from pool_of(backend, sims, screens, tmp_path_factory.mktemp("screening-logs"))


def test_fifty_leads_with_one_number_make_one_call_per_screen(backend, sims, screening_pool):
    key = backend.add_vendor(VENDOR, "screened-vendor-key-0123456789abcdef")
    publish_rules(backend.provisioned.table_name, VENDOR, litigator={}, dnc={}, phone_valid={}, client=backend.dynamodb)
    body = {"phone": f"({NUMBER[:3]}) {NUMBER[3:6]}-{NUMBER[6:]}"}
    tasks = [harness.Task("post", {"key": key, "body": lead(make_web_cert_id(), **body)}) for _ in range(LEADS)]
    outcomes: list[harness.Outcome] = []
    for start in range(0, LEADS, screening_pool.size):  # the first round all at once, then the rest
        chunk = tasks[start : start + screening_pool.size]
        outcomes += screening_pool.run(chunk, together=len(chunk) == screening_pool.size)
    assert math.ceil(LEADS / screening_pool.size) >= 2
    errors = [o.error for o in outcomes if o.error]
    assert not errors, f"{len(errors)} invocation(s) raised; the first:\n{errors[0][-3000:] if errors else ''}"
    assert {(o.status, o.body["status"]) for o in outcomes} == {(201, "retained")}, {str(o.body) for o in outcomes}
    # one call per number per screen, whichever container made it; the rest shared its answer
    assert sims.calls(NUMBER) == {"blacklist-alliance": 1, "dncscrub": 1, "twilio-lookup": 1}
    sources = set()
    for outcome in outcomes:
        screens = backend.reader.get_lead(outcome.lead_id).screens
        assert set(screens) == {"litigator", "dnc", "phone"} and all(r.answered for r in screens.values())
        sources.add(tuple(sorted((name, r.source_lead_id or outcome.lead_id) for name, r in screens.items())))
    [(litigator, dnc, phone)] = [tuple(lead for _, lead in source) for source in sources]
    paid = [o.lead_id for o in outcomes if o.lead_id in (litigator, dnc, phone)]
    assert paid, "the leads that made the calls are among the fifty"


@pytest.fixture(scope="module")
def jornaya_pool(backend, sims, tmp_path_factory) -> Iterator[harness.LambdaPool]:
    yield from pool_of(backend, sims, {"leadid": "jornaya"}, tmp_path_factory.mktemp("jornaya-logs"))


def test_leads_racing_with_one_leadid_token_and_no_certificate_keep_one_lead_on_it(backend, sims, jornaya_pool):
    """Issue 25: one lead per token. Containers racing to post different leads (no certificate, one LeadiD
    token): one is kept on the token, Jornaya audited once; every other is refused leadid_reused."""
    vendor = "acme-token-only"
    key = backend.add_vendor(vendor, "token-only-vendor-key-0123456789abcdef")
    publish_rules(
        backend.provisioned.table_name, vendor, consent_records={"required": "jornaya"}, client=backend.dynamodb
    )
    token = "6F1D2C3B-4A59-4E8D-9C7B-0A1B2C3D4E5F"
    bodies = [{"email": f"racer{n}@example.com", "universal_leadid": token} for n in range(jornaya_pool.size)]
    outcomes = jornaya_pool.run([harness.Task("post", {"key": key, "body": body}) for body in bodies], together=True)
    errors = [o.error for o in outcomes if o.error]
    assert not errors, f"{len(errors)} invocation(s) raised; the first:\n{errors[0][-3000:] if errors else ''}"
    answers = sorted((o.status, o.body["status"], o.body["reason"]) for o in outcomes)
    assert answers == [(201, "retained", None)] + [(422, "rejected", "leadid_reused")] * (len(bodies) - 1), answers
    [kept] = [o.body["lead_id"] for o in outcomes if o.status == 201]
    assert backend.reader.read_leadid(token).claim.lead_id == kept
    assert sims.jornaya.count(token) == 1
