"""Hostile-input properties: hypothesis profiles, the outbound guard and the counts bench/hostile.py prints.

Profiles (tests/support/hostile.py): ``hostile`` (default, `make test`) and ``bench`` (HYPOTHESIS_PROFILE=bench,
ten times the examples). Both derandomized, no example database (nothing is written into the tree).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Hypothesis keeps a small cache (unicode tables) in its home directory: not in the shared tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "tf-retainer-hypothesis"))

from tests.support import hostile as support  # registers the profiles


@pytest.fixture
def outbound(stack, request: pytest.FixtureRequest) -> Iterator[support.Outbound]:
    """Every connection, lookup and HTTP request made while the test runs; anything but the simulator is refused
    (and fails the test)."""
    with support.outbound_guard(stack.sim.base_url) as seen:
        yield seen
    off_host = seen.off_host()
    support.record(support.OUTBOUND, f"{request.node.name}: off-host sends", len(off_host))
    support.record(support.OUTBOUND, f"{request.node.name}: requests to the simulator", len(seen.requests))
    assert off_host == [], f"sent somewhere other than the simulator: {off_host[:5]}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("HOSTILE_STATS")
    if target and support.STATS:
        Path(target).write_text(json.dumps({name: dict(c) for name, c in support.STATS.items()}, indent=1))
