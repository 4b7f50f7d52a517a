"""A lead's evidence record found where it is: the table, or the archive once the lead is archived there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tf_retainer.evidence.archive import find_archived, read_archived
from tf_retainer.evidence.record import EvidenceRecord, evidence_record
from tf_retainer.ports.evidence import ArchiveBucket, ArchiveMarkStore
from tf_retainer.ports.leads import Leads

from .bundle import evidence_document


class NotFound(LookupError):
    pass


@dataclass
class Archive:
    """Where archived evidence is read back from (tf_retainer.evidence.archive): a lead's archive mark names
    its part."""

    marks: ArchiveMarkStore
    bucket: ArchiveBucket
    searchable: bool = False  # the bucket is named: a lead whose state item is gone is found by vendor and day


@dataclass
class Located:
    record: EvidenceRecord
    source: str  # "dynamodb", or the archived object's s3:// URI


def locate(
    store: Leads,
    lead_id: str,
    *,
    archive: Archive | None = None,
    vendor: str | None = None,
    received: date | None = None,
) -> Located:
    """The lead's evidence record from the table, or from the archive once the lead is archived there
    (its state item's ``archived_to``; by ``vendor`` and ``received`` day when even that is gone).

    An archived lead's chain entries (but the head) expire early, so the archived record is the
    complete one; history recorded after archiving (an operator's action, a hold) is read from the
    table and appended, with the chain entries that hold it."""
    mark = archive.marks.read(lead_id) if archive else None
    if archive and mark and mark.archived_to:
        archived = read_archived(archive.bucket, mark.archived_to, lead_id)
        if archived is None:
            raise NotFound(f"lead {lead_id} is not in {mark.archived_to}, where its state says it was archived")
        current = evidence_record(store.reader, lead_id)
        if current is not None:
            archived = archived.followed_by(current, archived_at=mark.archived_at or "")
        return Located(archived, mark.archived_to)
    record = evidence_record(store.reader, lead_id)
    if record is not None:
        return Located(record, "dynamodb")
    if archive and archive.searchable and vendor and received:
        found = find_archived(archive.bucket, vendor, received, lead_id)
        if found is not None:
            return Located(found[1], found[0])
    hint = "" if archive is None else " (archived with its state gone? give --vendor and --received)"
    raise NotFound(f"no lead {lead_id}{hint}")


def build_evidence(
    store: Leads, lead_id: str, *, now: datetime | None = None, archive: Archive | None = None
) -> dict[str, Any]:
    """One self-contained document proving what happened to a lead and its certificate."""
    return evidence_document(locate(store, lead_id, archive=archive).record, now=now)
