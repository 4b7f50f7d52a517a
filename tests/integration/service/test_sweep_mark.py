"""The sweeper's mark on the table (moto): the watermark over the leads still as reserved and the list of those
it failed to requeue, saved once a sweep, conditioned on what the sweep read (two sweeps may run at once)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.stack import strand

START = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_the_mark_is_read_as_saved_and_a_save_from_a_stale_read_changes_nothing(stack):
    from tf_retainer.ports.leads import Revisit, SweepMark

    index = stack.index
    assert index.sweep_mark() == SweepMark()
    saved = SweepMark(until=START, revisit=(Revisit("L-1", START - timedelta(minutes=5)), Revisit("L-2", START)))
    assert index.save_sweep_mark(saved, read=SweepMark())
    read = index.sweep_mark()
    assert read == dataclasses.replace(saved, version=1)
    assert not index.save_sweep_mark(SweepMark(until=START + timedelta(hours=1)), read=SweepMark())  # stale
    assert index.sweep_mark() == read
    assert index.save_sweep_mark(SweepMark(until=START + timedelta(hours=1)), read=read)
    assert index.sweep_mark() == SweepMark(until=START + timedelta(hours=1), version=2)


def test_a_mark_saved_before_the_list_existed_is_read_and_saved_over(stack):
    """A deploy finds the item as the sweeper used to write it (its moment only)."""
    from tf_retainer.ports.leads import Revisit, SweepMark
    from tf_retainer.store import keys

    mark = {name: {"S": value} for name, value in keys.key(*keys.RECEIVED_MARK).items()}
    until = {"S": "2026-12-07T10:00:00.000000Z"}
    stack.dynamodb.put_item(TableName=stack.resources.table_name, Item={**mark, "until": until})
    read = stack.index.sweep_mark()
    assert read == SweepMark(until=START)
    assert not stack.index.save_sweep_mark(SweepMark(until=START), read=SweepMark(until=START - timedelta(seconds=1)))
    changed = SweepMark(until=START + timedelta(minutes=10), revisit=(Revisit("L-1", START),))
    assert stack.index.save_sweep_mark(changed, read=read)
    assert stack.index.sweep_mark() == dataclasses.replace(changed, version=1)


@pytest.mark.parametrize("first", ["ahead", "behind"])
def test_two_sweeps_saving_at_once_lose_neither_s_failed_leads_and_never_move_the_watermark_back(
    stack, monkeypatch, first
):
    """Both read the mark at their start; one saves, then the other: its put, conditioned on what it read,
    is refused, and it applies its changes to the mark as the first left it."""
    from tf_retainer.leads.sweep_mark import MarkChange, save
    from tf_retainer.ports.leads import Revisit, SweepMark

    index = stack.index
    assert index.save_sweep_mark(SweepMark(until=START, revisit=(Revisit("old", START),)), read=SweepMark())
    read = index.sweep_mark()  # both sweeps start from it
    ahead = MarkChange(  # read an hour of arrivals; requeued the listed lead; failed on one
        reached=START + timedelta(hours=1),
        held=(),
        failed=(Revisit("ahead-failed", START + timedelta(minutes=30)),),
        dropped=frozenset({"old"}),
    )
    behind = MarkChange(  # read 20 minutes (its limit, a lead past it); failed on another
        reached=START + timedelta(minutes=20),
        held=(START + timedelta(minutes=15),),
        failed=(Revisit("behind-failed", START + timedelta(minutes=5)),),
        dropped=frozenset(),
    )
    puts: list[str] = []
    real = index.save_sweep_mark

    def counted(mark: SweepMark, *, read: SweepMark) -> bool:
        saved = real(mark, read=read)
        puts.append("saved" if saved else "refused")
        return saved

    monkeypatch.setattr(index, "save_sweep_mark", counted)
    for change in (ahead, behind) if first == "ahead" else (behind, ahead):
        save(index, read, change)
    assert puts == ["saved", "refused", "saved"]
    mark = index.sweep_mark()
    assert mark.until == START + timedelta(hours=1)
    assert {entry.lead_id for entry in mark.revisit} == {"ahead-failed", "behind-failed"}
    assert mark.version == 3


def test_a_lead_the_sweeper_cannot_requeue_goes_on_the_list_and_is_requeued_from_it_once_it_can_be(stack):
    """The whole sweep on the table: the failing lead is listed and the watermark moves past it; the next sweep
    reads it by id and requeues it, and it leaves the list."""
    from tf_retainer import wiring
    from tf_retainer.leads import sweep

    deps = wiring.default_deps()
    now = datetime.now(UTC)
    received = now - timedelta(minutes=20)
    strand(stack, "stuck", received)
    broken = dataclasses.replace(deps, writer=Broken(deps.writer, {"stuck"}))

    report = sweep.sweep(broken)
    assert (report.failed, report.revisit) == (["stuck"], 1)
    mark = stack.index.sweep_mark()
    assert [entry.lead_id for entry in mark.revisit] == ["stuck"]
    assert mark.until is not None and mark.until > received  # past it

    report = sweep.sweep(deps)
    assert (report.recovered, report.failed, report.revisit) == (["stuck"], [], 0)
    assert stack.index.sweep_mark().revisit == ()
    assert stack.queued() == 1  # its retry message: its first attempt comes


class Broken:
    """The lead writer, its requeue of some leads failing (a malformed item, one too large to update)."""

    def __init__(self, writer: Any, lead_ids: set[str]) -> None:
        self._writer, self._lead_ids = writer, lead_ids

    def record_recovery(self, before: Any, after: Any, **kwargs: Any) -> Any:
        if before.lead_id in self._lead_ids:
            raise ValueError("the item is too large to update")
        return self._writer.record_recovery(before, after, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


def test_a_lead_state_that_cannot_be_decoded_is_listed_and_holds_back_no_lead_around_it(stack):
    """A malformed state item (a bad write, a layout the code no longer reads) once failed every read of its
    window, every sweep: the leads around it were never looked at. It is now named by the read, listed, counted
    by every sweep, and the leads around it are requeued."""
    from tf_retainer import wiring
    from tf_retainer.leads import sweep
    from tf_retainer.store import keys

    deps = wiring.default_deps()
    now = datetime.now(UTC)
    strand(stack, "before", now - timedelta(minutes=30))
    strand(stack, "garbled", now - timedelta(minutes=25))
    strand(stack, "after", now - timedelta(minutes=20))
    stack.dynamodb.update_item(  # its packed state overwritten with bytes that unpack to nothing
        TableName=stack.resources.table_name,
        Key={name: {"S": value} for name, value in keys.key(keys.lead_pk("garbled"), keys.STATE).items()},
        UpdateExpression="SET s = :junk",
        ExpressionAttributeValues={":junk": {"B": b"\x00not a packed state"}},
    )

    report = sweep.sweep(deps)
    assert sorted(report.recovered) == ["after", "before"] and report.failed == ["garbled"]
    mark = stack.index.sweep_mark()
    assert [entry.lead_id for entry in mark.revisit] == ["garbled"]
    assert mark.until is not None and mark.until > now - timedelta(minutes=20)

    report = sweep.sweep(deps)  # read again by id, failing again: still listed, counted again
    assert (report.recovered, report.failed, report.revisit) == ([], ["garbled"], 1)
