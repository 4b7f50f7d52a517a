"""A consumer's revocation racing a contact report and the call gate on the same lead, in OS processes (issue
23): once the revocation is acknowledged, no gate answer started after it opens the gate, and the lead's chain
holds the revocation once and every contact reported. And a revocation in a batch, posted with a buyer-system
key, racing the intake of that consumer's leads by two vendors: every one of those leads ends with the
revocation in its chain and the gate closed. See tests/support/revocation_race.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import revocation_race
from tests.support.concurrency import Backend, LambdaPool

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("concurrency")]

PROCESSES = 10  # 2 posts of the revocation, 2 contact reports, 6 dialers polling the gate
ROUNDS = 3
BATCH_ROUNDS = 3


@pytest.fixture(scope="module")
def containers(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaPool]:
    with LambdaPool(PROCESSES, backend.container_env(), tmp_path_factory.mktemp("race-logs")) as pool:
        yield pool


def test_no_gate_answer_after_a_revocation_is_acknowledged_says_contactable(backend, containers):
    results = revocation_race.run_rounds(backend, containers, ROUNDS)
    summary = "\n".join(result.summary() for result in results)
    print(summary)  # shown with -s or on failure
    assert [result.problems for result in results] == [[]] * ROUNDS, summary
    # Every dialer asked after the acknowledgement in every round: the property was put to the test.
    assert all(len(result.after) >= PROCESSES - 4 for result in results)


@pytest.fixture(scope="module")
def batch_rounds(backend: Backend, containers: LambdaPool) -> list[revocation_race.BatchRoundResult]:
    """The batch racing the intake, BATCH_ROUNDS rounds, run once for the two tests below."""
    from tests.support.concurrency import VENDOR

    keys = {
        "vendor": backend.vendor_key,
        "other": backend.add_vendor(f"{VENDOR}-other"),
        "buyer": backend.add_vendor("buyer-systems", role="buyer"),
    }
    results = revocation_race.run_batch_rounds(backend, containers, keys, BATCH_ROUNDS)
    print("\n".join(result.summary() for result in results))  # shown with -s
    return results


def test_a_batched_revocation_racing_the_intake_closes_the_gate_for_every_lead_of_the_consumer(batch_rounds):
    summary = "\n".join(result.summary() for result in batch_rounds)
    assert [result.problems for result in batch_rounds] == [[]] * BATCH_ROUNDS, summary
    # Both vendors' leads: one stored before the race, those taken in it, one taken after it.
    assert all(len(result.consumer_leads) == PROCESSES - revocation_race.BATCH_POSTS + 2 for result in batch_rounds)


def test_a_batched_revocation_racing_the_intake_is_in_the_chain_of_every_lead_of_the_consumer(batch_rounds):
    """Those the revocation reached itself, and those it did not (taken while it was recorded, or after it),
    from the scheduled run a minute later: once each."""
    summary = "\n".join(result.summary() for result in batch_rounds)
    assert [result.unrevoked for result in batch_rounds] == [[]] * BATCH_ROUNDS, summary
