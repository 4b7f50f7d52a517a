"""The evidence archive: final leads older than ARCHIVE_AFTER_DAYS, exported to the archive bucket (S3,
Object Lock: aws/archive_bucket.py), one evidence record (evidence/record.py) a line; and read back from
there (``read_archived``, ``find_archived``).

Order per part: the part written (and its stored checksum confirmed) -> each lead's state item gets
``archived_to`` -> its chain entries but the head get an earlier TTL (archived + ARCHIVE_GRACE_DAYS)
unless the lead is held (store/archive_marks.py). A crash anywhere leaves a lead unmarked (the next run
redoes it, idempotently) or marked with its items' TTL untouched (more storage, no loss).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_start
from typing import Any

from tf_retainer.evidence.record import EvidenceRecord, evidence_record
from tf_retainer.ports.evidence import ArchiveBucket, ArchiveMark, ArchiveMarkStore, Marked
from tf_retainer.ports.leads import Leads
from tf_retainer.runtime.clock import iso

# Leads per object at most: about 7 KB of JSON each before gzip, so a part stays well inside the
# function's memory whatever a vendor's day holds.
PART_LEADS = 2000
# Stop starting new parts this long before the function's timeout.
TIME_MARGIN_SECONDS = 60.0


@dataclass
class ArchiveRun:
    objects: list[str] = field(default_factory=list)  # s3 URIs written (or found written) this run
    archived: int = 0  # leads marked archived this run
    already_archived: int = 0
    not_final: int = 0  # older than the cutoff and still open: a later run takes them
    held: int = 0  # archived, their items' expiry left alone (legal hold)
    items_expiring_early: int = 0
    complete: bool = True  # False: the time budget ran out, the next run goes on


@dataclass
class Archiver:
    leads: Leads
    marks: ArchiveMarkStore
    bucket: ArchiveBucket
    after_days: int
    grace_days: int
    lookback_days: int = 7
    part_leads: int = PART_LEADS
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def days(self, now: datetime) -> list[date]:
        """The days whose every lead is older than ``after_days``: the newest ``lookback_days`` of them
        (a run after an outage of up to that long still covers every day)."""
        last = (now - timedelta(days=self.after_days)).date() - timedelta(days=1)
        return [last - timedelta(days=n) for n in reversed(range(self.lookback_days))]

    def run(
        self, vendors: Iterable[str], *, days: list[date] | None = None, time_left: Callable[[], float]
    ) -> ArchiveRun:
        now = self.clock()
        result = ArchiveRun()
        for vendor in sorted(set(vendors)):
            for day in days if days is not None else self.days(now):
                if not self._archive_day(vendor, day, now, result, time_left):
                    result.complete = False
                    return result
        return result

    def _archive_day(
        self, vendor: str, day: date, now: datetime, result: ArchiveRun, time_left: Callable[[], float]
    ) -> bool:
        start = datetime.combine(day, day_start(), tzinfo=UTC)
        if day >= (now - timedelta(days=self.after_days)).date():
            return True  # not old enough whole: never archive a lead younger than after_days
        leads = [
            lead
            for lead in self.leads.index.vendor_leads(vendor, since=start, until=start + timedelta(days=1))
            if lead.received_at.startswith(day.isoformat())
        ]
        # Parts are cut as the leads come (oldest first), so memory holds one part at most; the cut is
        # the same on a rerun, which finds the same unarchived leads in the same order.
        part: list[tuple[EvidenceRecord, ArchiveMark]] = []
        for lead in leads:
            if not lead.status.is_final:
                result.not_final += 1
                continue
            mark = self.marks.read(lead.lead_id)
            if mark is None:
                continue
            if mark.archived_to:
                result.already_archived += 1
                continue
            record = evidence_record(self.leads.reader, lead.lead_id)
            if record is None:
                continue
            part.append((record, mark))
            if len(part) == self.part_leads:
                if time_left() < TIME_MARGIN_SECONDS:
                    return False
                self._write_part(vendor, day, part, now, result)
                part = []
        if part:
            if time_left() < TIME_MARGIN_SECONDS:
                return False
            self._write_part(vendor, day, part, now, result)
        return True

    def _write_part(
        self,
        vendor: str,
        day: date,
        part: list[tuple[EvidenceRecord, ArchiveMark]],
        now: datetime,
        result: ArchiveRun,
    ) -> None:
        part = sorted(part, key=lambda pair: (pair[0].received_at, pair[0].lead_id))
        uri = self.bucket.put_part(vendor, day, (record.archive_line() for record, _ in part))
        result.objects.append(uri)
        archived_at = iso(now)
        early_ttl = int((now + timedelta(days=self.grace_days)).timestamp())
        for record, mark in part:
            marked = self.marks.mark(record.lead_id, archived_to=uri, archived_at=archived_at)
            if marked is Marked.NOT_MARKED:
                result.already_archived += 1
                continue
            result.archived += 1
            if mark.held or marked is Marked.HELD:  # held before the read, or since: the object is held too
                self.bucket.legal_hold(uri)
                result.held += 1
                continue
            # A hold set after ``mark`` was read wins: it removes each item's ttl, which expire_early's
            # condition (the ttl read) then fails on.
            result.items_expiring_early += sum(self.marks.expire_early(item, early_ttl) for item in mark.items)


def read_archived(bucket: ArchiveBucket, uri: str, lead_id: str) -> EvidenceRecord | None:
    """The lead's record in the archived part ``uri`` (None if that part does not hold it)."""
    return EvidenceRecord.in_archive_lines(bucket.read_part(uri), lead_id)


def find_archived(bucket: ArchiveBucket, vendor: str, day: date, lead_id: str) -> tuple[str, EvidenceRecord] | None:
    """The lead's record among the vendor's parts of that day, newest part first: (uri, record)."""
    for uri in reversed(bucket.parts(vendor, day)):
        if (record := read_archived(bucket, uri, lead_id)) is not None:
            return uri, record
    return None


def lambda_time_left(context: Any) -> Callable[[], float]:
    """Seconds left in the invocation (no context: unbounded, as the CLI and tests run it)."""
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return lambda: float("inf")
    return lambda: context.get_remaining_time_in_millis() / 1000
