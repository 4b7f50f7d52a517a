"""Sweeps saving the sweeper's mark at once, in OS processes against one moto server: each read the mark,
then all are released together, each saving its own failed lead and watermark (leads/sweep_mark.save: a put
conditioned on the version read; refused, read again and merged). See tests/concurrency/test_sweep_mark_race.py."""

from __future__ import annotations

import multiprocessing
import os
from datetime import datetime, timedelta
from typing import Any


def _sweep_saving(env: dict[str, str], lead_id: str, reached: datetime, barrier: Any, done: Any) -> None:
    """One sweep's save: it failed on ``lead_id`` (received just before ``reached``) and read up to ``reached``."""
    os.environ.update(env)
    from tf_retainer import wiring
    from tf_retainer.leads.sweep_mark import MarkChange, save
    from tf_retainer.ports.leads import Revisit

    index = wiring.default_deps().index
    read = index.sweep_mark()
    change = MarkChange(
        reached=reached,
        held=(),
        failed=(Revisit(lead_id, reached - timedelta(minutes=1)),),
        dropped=frozenset(),
    )
    barrier.wait(timeout=60)
    done.put(len(save(index, read, change).revisit))


def save_together(env: dict[str, str], reached: dict[str, datetime]) -> list[int]:
    """One process per failed lead (``reached``: each one's end of its windows), released together; the
    length of the list each saved."""
    context = multiprocessing.get_context("spawn")
    barrier, done = context.Barrier(len(reached)), context.Queue()
    processes = [
        context.Process(target=_sweep_saving, args=(env, lead_id, until, barrier, done))
        for lead_id, until in reached.items()
    ]
    for process in processes:
        process.start()
    saved = [done.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert all(process.exitcode == 0 for process in processes), [process.exitcode for process in processes]
    return saved
