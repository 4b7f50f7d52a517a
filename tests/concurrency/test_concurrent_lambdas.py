"""Lambda runs many copies of a function at once: the real handlers in 20 OS processes, released
together by a barrier, against one moto server and the TrustedForm simulator over loopback.

Whatever the race, TrustedForm is asked to retain a certificate once (the simulator's request log),
one consistent lead stands, and no caller sees a 5xx (a 503 store_unavailable, which the table's read
timeouts on a busy machine give, is sent again as the API asks a vendor to: the answer then is the one judged).
"""

from __future__ import annotations

import pytest

from tests.support import concurrency as harness

# One worker runs the module: its 20 containers and moto server are module/session fixtures (their start,
# ~20 s beside the suite on 2 cores, counts toward the first test's limit).
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("concurrency")]


def check(report: harness.ScenarioReport) -> None:
    print(report.summary())  # shown with -s or on failure
    assert report.problems == [], report.summary()
    assert report.five_xx == 0 and report.retains == 1


def test_the_same_lead_posted_by_every_container_is_one_lead_retained_once(backend, lambdas):
    report = harness.same_lead(backend, lambdas)
    check(report)
    assert report.final_states == {"retained": 1}


def test_different_leads_with_one_certificate_retain_it_once_and_refuse_the_rest(backend, lambdas):
    report = harness.same_certificate(backend, lambdas)
    check(report)
    assert report.final_states == {"retained": 1, "rejected": lambdas.size - 1}
    assert report.answers["post: 422 rejected certificate_reused"] == lambdas.size - 1


@pytest.mark.slow  # waits for the pending lead's retry message (about a second of queue delay)
def test_one_retry_message_delivered_to_every_container_makes_one_attempt(backend, lambdas):
    report = harness.same_retry_message(backend, lambdas)
    check(report)
    assert report.posts == 2  # the intake's 503 and one retry
    assert report.final_states == {"retained": 1}


@pytest.mark.slow  # waits for the pending lead's retry message
def test_a_lead_reposted_while_its_retry_runs_stays_one_lead_retained_once(backend, lambdas):
    report = harness.post_racing_retry(backend, lambdas)
    check(report)
    assert report.posts == 2
    assert report.final_states == {"retained": 1}


def test_two_containers_refusing_at_the_same_microsecond_keep_both_refusals_in_the_evidence(backend, lambdas, tmp_path):
    """History events are keyed EVENT#<time>#<seq>, seq counted per container from 0: two fresh containers
    writing for one certificate at the same microsecond write the same keys, and one Put replaces the other."""
    from datetime import UTC, datetime

    from local.simulator import make_web_cert_id

    cert_id, prefix = make_web_cert_id(), f"tick-{datetime.now(UTC).timestamp():.0f}"
    [owner] = lambdas.run(
        [harness.Task("post", {"key": backend.vendor_key, "body": harness.lead(cert_id, lead_id=prefix)})],
        together=False,
    )
    assert owner.status == 201, owner.body
    containers = harness.LambdaPool(2, backend.container_env(), tmp_path / "fresh")  # two fresh containers
    try:
        same_instant = datetime.now(UTC).isoformat()
        refused = containers.run(
            [
                harness.Task(
                    "post",
                    {
                        "key": backend.vendor_key,
                        "body": harness.lead(cert_id, lead_id=f"{prefix}-{index}"),
                        "clock": same_instant,
                    },
                )
                for index in range(2)
            ]
        )
    finally:
        containers.close()
    assert [(outcome.status, outcome.reason) for outcome in refused] == [(422, "certificate_reused")] * 2
    cert_history = [event.type for event in backend.reader.read_certificate(cert_id).history]
    # Two refusals: each wrote certificate_reused and rejected under the certificate (to the same keys).
    assert cert_history.count("certificate_reused") == 2, cert_history
    assert cert_history.count("rejected") == 2, cert_history
