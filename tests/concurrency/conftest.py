"""One moto server and one simulator on 127.0.0.1 for the session, and a pool of Lambda containers
(spawned processes running the real handlers) racing against them. See tests/support/concurrency.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.concurrency import PROCESSES, Backend, LambdaPool


@pytest.fixture(scope="session")
def backend() -> Iterator[Backend]:
    """moto's backends are process-global: a test using in-process ``mock_aws()`` resets them, so tests
    using this server run as a block (pytest runs a directory's modules together)."""
    started = Backend()
    try:
        yield started.start()
    finally:
        started.stop()


@pytest.fixture(scope="module")
def lambdas(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaPool]:
    """The containers end with the module: 20 idle interpreters need not outlive the tests that race them."""
    with LambdaPool(PROCESSES, backend.container_env(), tmp_path_factory.mktemp("lambda-logs")) as pool:
        yield pool
