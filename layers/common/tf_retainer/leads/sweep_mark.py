"""The sweeper's mark over the leads still as reserved: the watermark (every lead received before it looked at)
and the revisit list (the leads it failed to requeue, which the watermark passed all the same).

A lead whose requeue fails every time (a malformed item, an item too large to update) would otherwise hold
the watermark for good: every sweep would read the same hour from it, and a lead stranded later than that
would never be read. Listed, it is tried again by every sweep (counted in ``SweepFailures`` each time it
fails) and the watermark moves on. The list is bounded (``REVISIT_CAP``): past it, a failed lead holds the
watermark as before. Skipped leads (an attempt holds them) and leads past the sweep's limit hold it too:
they are transient, the next sweep reads them again.

Two sweeps may run at once (the local stack): each saves the mark once, conditioned on the version it read,
its changes applied again to the mark as stored when another sweep saved first. Neither's failed leads are
lost and the watermark never moves back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tf_retainer.ports.leads import LeadIndex, Revisit, SweepMark
from tf_retainer.runtime.observability import Metric, count, logger

REVISIT_CAP = 100  # leads on the list at most (each tried again every sweep: one read, one requeue)
SAVE_TRIES = 4  # saves of the mark, each after the mark another sweep saved first is read again


@dataclass(frozen=True)
class MarkChange:
    """What one sweep learnt about the leads still as reserved."""

    reached: datetime | None  # the end of the last window of arrivals it read (None: none read)
    held: tuple[datetime, ...]  # arrivals the next sweep must read again: skipped, or past the sweep's limit
    failed: tuple[Revisit, ...]  # leads of its windows it failed to requeue
    dropped: frozenset[str]  # listed leads requeued, or no longer as reserved

    def applied_to(self, mark: SweepMark) -> SweepMark:
        """``mark`` with this sweep's changes: the watermark moved up to the first lead held (never back), past
        the failed ones the list has room for (the first with none holds it)."""
        revisit = [entry for entry in mark.revisit if entry.lead_id not in self.dropped]
        listed = {entry.lead_id for entry in revisit}
        until = min([self.reached, *self.held]) if self.reached is not None else None
        for entry in sorted(self.failed, key=lambda entry: (entry.received, entry.lead_id)):
            if until is None or entry.received >= until:  # the next sweep reads it again anyway
                break
            if entry.lead_id in listed:
                continue
            if len(revisit) >= REVISIT_CAP:
                until = entry.received
                break
            revisit.append(entry)
            listed.add(entry.lead_id)
        if mark.until is not None and (until is None or until < mark.until):
            until = mark.until
        return SweepMark(until=until, revisit=tuple(revisit), version=mark.version)


def save(index: LeadIndex, read: SweepMark, change: MarkChange) -> SweepMark:
    """Save the sweep's changes to the mark it read at its start (nothing when there are none); when another
    sweep saved the mark since, read it again and apply them to it, up to ``SAVE_TRIES`` times. The mark
    saved (or the last one tried)."""
    for _ in range(SAVE_TRIES):
        mark = change.applied_to(read)
        if (mark.until, mark.revisit) == (read.until, read.revisit) or index.save_sweep_mark(mark, read=read):
            return mark
        read = index.sweep_mark()
    # Nothing lost: the watermark did not pass this sweep's failed leads, the next sweep reads them again.
    count(Metric.SWEEP_FAILURES)
    logger.warning("could not save the sweep's mark: other sweeps saved it first", extra={"tries": SAVE_TRIES})
    return mark
