"""Sweeps saving the sweeper's mark at the same moment, in OS processes against one moto server: none loses
another's failed lead, the watermark ends at the furthest any of them reached (never moved back), and each
save is one version (a put that lost the race is read again and merged, not written over). As many sweeps as
the save has tries: each refusal is another sweep's save, so all of them get through. See
tests/support/mark_race.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import mark_race
from tests.support.concurrency import Backend

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("concurrency")]

ROUNDS = 3


@pytest.fixture
def mark_kept(backend: Backend) -> Iterator[None]:
    """The mark item as the session's other tests left it, put back after (the sweeper race sweeps from it)."""
    from tf_retainer.store import keys
    from tf_retainer.store.codec import serialize

    key = serialize(keys.key(*keys.RECEIVED_MARK))
    table = backend.resources.table_name
    found = backend.dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    yield
    if found:
        backend.dynamodb.put_item(TableName=table, Item=found)
    else:
        backend.dynamodb.delete_item(TableName=table, Key=key)


def test_sweeps_saving_the_mark_at_once_lose_no_failed_lead_and_never_move_it_back(backend, mark_kept):
    from tf_retainer.leads.sweep_mark import SAVE_TRIES

    index = backend.index
    start = datetime.now(UTC) - timedelta(hours=6)
    for round_ in range(ROUNDS):
        before = index.sweep_mark()
        base = max(before.until or start, start)
        # Each sweep read a different length of arrivals; the furthest is not always the first released.
        reached = {
            f"r{round_}-s{n}": base + timedelta(minutes=10 * ((n + round_) % SAVE_TRIES + 1)) for n in range(SAVE_TRIES)
        }
        saved = mark_race.save_together(backend.container_env(), reached)
        after = index.sweep_mark()
        assert {entry.lead_id for entry in after.revisit} >= set(reached), after.revisit
        assert after.until == max(reached.values())
        assert after.version == before.version + SAVE_TRIES  # every sweep saved once
        # All read the same list: each save after the first merged the ones before it (none written over).
        assert sorted(saved) == [len(before.revisit) + n for n in range(1, SAVE_TRIES + 1)]
