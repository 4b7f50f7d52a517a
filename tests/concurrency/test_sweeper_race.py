"""The sweeper racing a delivery of the same lead's retry message, in OS processes (issue 21): never a second
TrustedForm call for one attempt, never an attempt recorded as overtaken. See tests/support/sweeper_race.py.

Bounded here (1+1 containers, then 5+5); ``TF_SWEEPER_RACE_ROUNDS`` and ``TF_SWEEPER_RACE_PAIRS`` run the
issue's 100 rounds at 1+1 and 25+25 (minutes, not for every run)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support import sweeper_race
from tests.support.concurrency import Backend, LambdaPool

pytestmark = [pytest.mark.timeout(600), pytest.mark.xdist_group("concurrency"), pytest.mark.slow]

ROUNDS = int(os.environ.get("TF_SWEEPER_RACE_ROUNDS", "0"))  # 0: the bounded defaults below
PAIRS = [int(n) for n in os.environ.get("TF_SWEEPER_RACE_PAIRS", "1,5").split(",")]


@pytest.fixture(scope="module", params=PAIRS, ids=lambda n: f"{n}+{n}")
def racers(
    request: pytest.FixtureRequest, backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LambdaPool]:
    pairs = request.param
    with LambdaPool(2 * pairs, backend.container_env(), tmp_path_factory.mktemp(f"sweep-race-{pairs}")) as pool:
        yield pool


def test_a_sweeper_racing_a_delivery_never_makes_an_attempt_twice(backend, racers):
    rounds = ROUNDS or (10 if racers.size == 2 else 3)
    results = sweeper_race.run_rounds(backend, racers, rounds)
    summary = "\n".join(result.summary() for result in results)
    print(summary)  # shown with -s or on failure
    assert [result.problems for result in results] == [[]] * rounds, summary
    assert sum(result.calls for result in results) == 2 * rounds
