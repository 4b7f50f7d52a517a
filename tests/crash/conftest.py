"""Crash tests: the real handlers in OS processes that are SIGKILLed between two steps, then recovered by
the sweeper and the retry worker with no operator. See tests/support/crash.py.

A test module sets ``BACKEND_SETTINGS`` (the functions' environment on top of the template's),
``VISIBILITY_TIMEOUT`` (the retry queue's, seconds) and ``CONTAINERS`` (how many processes to start
at once: they are warm, one Lambda container each, and any of them may be killed).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.crash import Container, CrashBackend, start_containers


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> Iterator[CrashBackend]:
    settings = getattr(request.module, "BACKEND_SETTINGS", {})
    visibility = getattr(request.module, "VISIBILITY_TIMEOUT", None)
    started = CrashBackend(settings, visibility_timeout=visibility)
    try:
        yield started.start()
    finally:
        started.stop()


@pytest.fixture(scope="module")
def containers(
    request: pytest.FixtureRequest, backend: CrashBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Container]]:
    count = getattr(request.module, "CONTAINERS", 2)
    started = start_containers(count, backend.container_env(), tmp_path_factory.mktemp("containers"))
    try:
        yield started
    finally:
        for container in started:
            container.close()


@pytest.fixture(autouse=True)
def _gate_released(backend: CrashBackend) -> Iterator[None]:
    """Whatever a test did, the moto gate lets everything through afterwards."""
    yield
    if backend.gate is not None:
        backend.gate.release()
