"""Shared fixtures: moto resources built from template.yaml, the TrustedForm simulator on 127.0.0.1,
and the local API Gateway that runs the real authorizer and handlers."""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from local.backend import set_fake_credentials

# Never reach a real AWS account from a test, whatever the developer's shell holds.
set_fake_credentials()
os.environ.update(POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_DEV="false")
os.environ.pop("AWS_ENDPOINT_URL", None)

import botocore.loaders  # noqa: E402
import botocore.session  # noqa: E402

from local.provision import load_template  # noqa: E402

# Powertools reads POWERTOOLS_SERVICE_NAME / _METRICS_NAMESPACE once, when tf_retainer.runtime.observability is
# first imported - by a unit test's import, perhaps, before any stack fixture sets the environment.
# Give the process the template's own values from the start.
for _name, _value in load_template()["Globals"]["Function"]["Environment"]["Variables"].items():
    if _name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
        os.environ[_name] = _value
from local.backend import patch_moto  # noqa: E402
from local.simulator import TrustedFormSimulator  # noqa: E402
from tests.support.stack import FAST_RETRIES, TF_API_KEY, VENDOR, Stack  # noqa: E402

patch_moto()

# Every botocore Session builds its own loader, which re-reads and re-parses the service model JSON
# (~50 ms a session). Tests create many sessions (provision(), Powertools' secrets provider, moto's
# fresh default session in each mock_aws(), the functions' clients): share one loader per data path
# in this process. The models are read-only; what each session and client sees is unchanged.
botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)


def pytest_configure(config: pytest.Config) -> None:
    """``pytest -n N`` alone spreads tests by xdist's ``load``, which ignores ``xdist_group``: the concurrency
    tests' moto server would share a worker with in-process ``mock_aws`` tests that reset it. Groups are kept
    together whatever the command line says (``make test`` asks for ``loadgroup`` itself; ``-p no:xdist``
    has no ``dist`` at all). A worker re-reads the command line, so it is told (pytest_configure_node)."""
    if getattr(config.option, "dist", None) == "load":
        config.option.dist = "loadgroup"
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get("dist") == "loadgroup":
        config.option.loadgroup = True  # what xdist's worker reads to name each test with its group


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent under -p no:xdist
def pytest_configure_node(node: Any) -> None:
    """xdist, on the controller: what each worker must know of this run's distribution."""
    node.workerinput["dist"] = node.config.option.dist


@pytest.fixture(scope="session")
def simulator() -> Iterator[TrustedFormSimulator]:
    sim = TrustedFormSimulator(api_keys=(TF_API_KEY,))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Settings a test overrides (parametrize this fixture), on top of FAST_RETRIES."""
    return {}


@pytest.fixture
def stack(simulator, monkeypatch, stack_env) -> Iterator[Stack]:
    """A fresh moto backend for every test (in this process), the session's simulator, a vendor key."""
    from tf_retainer import wiring

    from local.apigw import LocalApiGateway

    simulator.reset()
    simulator.api_keys = (TF_API_KEY,)
    simulator.latency = 0.0
    stack = Stack(simulator).start()
    try:
        stack.env = stack.function_environment({**FAST_RETRIES, **stack_env})
        for name, value in stack.env.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        stack.gateway = LocalApiGateway(authorizer_ttl=0)
        stack.vendor_key = stack.add_vendor(VENDOR)
        yield stack
    finally:
        wiring.reset()
        stack.stop()


@pytest.fixture(scope="session")
def screen_sims() -> Iterator[Any]:
    """The screening providers' simulators (DNC.com, Twilio Lookup, Blacklist Alliance) on 127.0.0.1."""
    from tests.support.screening import start_sims

    sims = start_sims()
    yield sims
    sims.stop()


@pytest.fixture
def screens() -> dict[str, str]:
    """Which provider answers each screen in ``screened`` (parametrize this fixture)."""
    from tests.support.screening import ALL_SCREENS

    return dict(ALL_SCREENS)


@pytest.fixture
def screened(stack, screen_sims, screens, stack_env, monkeypatch) -> Stack:
    """The stack with the screens on, provisioned as a deployment choosing ``screens`` (the providers'
    simulators, their keys' secrets, the contact key): the buyer's screen rules decide which run for a lead.
    The calling hours are in shadow: the call gate asked at any hour answers on the screens (the law of the
    hour is test_consent.py's)."""
    from datetime import UTC, datetime

    from tf_retainer import wiring
    from tf_retainer.decisions.calling import CallingOverride
    from tf_retainer.store.calling_rules import CallingRuleStore

    from tests.support.screening import screening_env

    shadow_hours = CallingOverride(modes={"federal_hours": "shadow", "state_hours": "shadow"})
    CallingRuleStore(stack.leads.table).publish(shadow_hours, actor="test", now=datetime.now(UTC))
    screen_sims.reset()
    stack.env = screening_env(stack, screen_sims, screens, {**FAST_RETRIES, **stack_env})
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    stack.screen_sims = screen_sims
    return stack


@pytest.fixture
def service_logs() -> Iterator[io.StringIO]:
    """Everything the service logs, formatted exactly as Lambda would ship it (JSON)."""
    from tf_retainer.runtime.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    target = logging.getLogger(logger.name)
    target.addHandler(handler)
    yield stream
    target.removeHandler(handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that wait longest (``slow``: real queue time) start first, so that with xdist's ``load``
    scheduling they spread over the workers and overlap the rest, instead of one of them starting last
    and setting the suite's wall time on its own."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    # There the service runs in subprocesses, which coverage does not measure: tracing the test process
    # (its in-process moto server) would only slow the suite down.
    for item in items:
        if item.path.parent.name in SUBPROCESS_SUITES:
            item.add_marker(pytest.mark.no_cover)


SUBPROCESS_SUITES = frozenset({"crash", "concurrency", "e2e"})
