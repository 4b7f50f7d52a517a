"""The evidence archive: final leads older than ARCHIVE_AFTER_DAYS, exported to S3 under Object Lock.

One gzipped JSON Lines object per vendor and day received (more parts when a day is large or a lead
became final late), each line one lead's evidence record: exactly what the evidence bundle is built
from (``evidence_record``), so a bundle built from the archive equals the one built from the table.

    evidence/vendor=<vendor>/date=<YYYY-MM-DD>/part-<sha256 of the content, 32 hex>.jsonl.gz

The name is the content's digest: a rerun that finds the same leads unarchived writes the same bytes to
the same key, which S3 refuses (If-None-Match), and the existing object, whose checksum is compared,
serves; a changed content gets a new key. Nothing is ever overwritten (nor could be: Object Lock in
compliance mode keeps every version for the retention period).

Order per object: PutObject (SHA-256 checksummed, S3 verifies it) -> HeadObject confirms the stored
checksum -> each lead's state item gets ``archived_to`` -> its chain entries but the head get an earlier
TTL (archived + ARCHIVE_GRACE_DAYS) unless the lead is held (store/archive_marks.py). A crash anywhere
leaves a lead unmarked (the next run redoes it, idempotently) or marked with its items' TTL untouched
(more storage, no loss).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_start
from typing import Any

from botocore.exceptions import ClientError

from tf_retainer.domain.lead import Lead
from tf_retainer.evidence import chain
from tf_retainer.ports import LeadReader, Leads
from tf_retainer.runtime.clock import iso
from tf_retainer.store.archive_marks import ArchiveMark, ArchiveMarks

ARCHIVE_FORMAT = "tf-retainer-archive/1"
PREFIX = "evidence"
# Leads per object at most: about 7 KB of JSON each before gzip, so a part stays well inside the
# function's memory whatever a vendor's day holds.
PART_LEADS = 2000
# Stop starting new parts this long before the function's timeout.
TIME_MARGIN_SECONDS = 60.0


def lead_state(lead: Lead) -> dict[str, Any]:
    """The lead's state as evidence: the attempt lease is the retry worker's bookkeeping, not evidence."""
    return lead.model_dump(mode="json", exclude_none=True, exclude={"lease_until"})


def evidence_record(reader: LeadReader, lead_id: str) -> dict[str, Any] | None:
    """Everything the evidence bundle is built from, as JSON-ready data (None: no such lead)."""
    record = reader.read_lead(lead_id)
    if record is None:
        return None
    cert_id = record.lead.cert_id
    certificate = reader.read_certificate(cert_id) if cert_id else None
    return {
        "format": ARCHIVE_FORMAT,
        "lead_id": lead_id,
        "vendor": record.lead.vendor,
        "received_at": record.lead.received_at,
        "state": lead_state(record.lead),
        "history": [event.as_dict() for event in record.history],
        "exchanges": record.exchanges,
        # The stored chain the history and exchanges were read from, so an archived lead's evidence can
        # be verified link by link as the table's can (chain.verify): content as hashed, hash as stored.
        "chain": [chain_link(link) for link in record.chain],
        "certificate": {
            "cert_id": cert_id,
            "claim": certificate.claim.model_dump(mode="json", exclude_none=True)
            if certificate and certificate.claim
            else None,
            "history": [event.as_dict() for event in certificate.history] if certificate else [],
        },
    }


def chain_link(link: chain.Link) -> dict[str, Any]:
    return {"seq": link.seq, "hash": link.stored_hash, "content": link.content.decode()}


def object_key(vendor: str, day: date, body: bytes) -> str:
    return f"{PREFIX}/vendor={vendor}/date={day.isoformat()}/part-{hashlib.sha256(body).hexdigest()[:32]}.jsonl.gz"


def day_prefix(vendor: str, day: date) -> str:
    return f"{PREFIX}/vendor={vendor}/date={day.isoformat()}/"


def encode(records: Iterable[dict[str, Any]]) -> tuple[bytes, bytes]:
    """(JSON Lines, its gzip): canonical JSON and a fixed gzip header, so equal records give equal bytes."""
    lines = b"".join(json.dumps(r, sort_keys=True, separators=(",", ":")).encode() + b"\n" for r in records)
    return lines, gzip.compress(lines, compresslevel=9, mtime=0)


def decode(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(body).splitlines() if line.strip()]


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def legal_hold(s3: Any) -> Callable[[str], None]:
    """What a legal hold does to an archived lead's object: an S3 Object Lock legal hold, so neither the
    lifecycle's expiry nor anyone else removes it after its retention (the lead's older entries may be
    only there). Not lifted when the hold is released: the object holds other leads, possibly held too;
    an operator lifts it (docs/operations.md)."""

    def hold(uri: str) -> None:
        bucket, key = parse_s3_uri(uri)
        s3.put_object_legal_hold(Bucket=bucket, Key=key, LegalHold={"Status": "ON"})

    return hold


# --------------------------------------------------------------------------- reading back


def read_archived(s3: Any, uri: str, lead_id: str) -> dict[str, Any] | None:
    """The lead's record in the archived object ``uri`` (None if that object does not hold it)."""
    bucket, key = parse_s3_uri(uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return next((record for record in decode(body) if record.get("lead_id") == lead_id), None)


def find_archived(s3: Any, bucket: str, vendor: str, day: date, lead_id: str) -> tuple[str, dict[str, Any]] | None:
    """The lead's record among the vendor's objects of that day, newest part first: (uri, record)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=day_prefix(vendor, day))
    objects = sorted((o for page in pages for o in page.get("Contents", [])), key=lambda o: o["LastModified"])
    for listed in reversed(objects):
        uri = s3_uri(bucket, listed["Key"])
        if (record := read_archived(s3, uri, lead_id)) is not None:
            return uri, record
    return None


# --------------------------------------------------------------------------- the archiver


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
    marks: ArchiveMarks
    s3: Any
    bucket: str
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
        part: list[tuple[dict[str, Any], ArchiveMark]] = []
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
        part: list[tuple[dict[str, Any], ArchiveMark]],
        now: datetime,
        result: ArchiveRun,
    ) -> None:
        part = sorted(part, key=lambda pair: (pair[0]["received_at"], pair[0]["lead_id"]))
        _, body = encode(record for record, _ in part)
        key = object_key(vendor, day, body)
        self._put_once(key, body)
        uri = s3_uri(self.bucket, key)
        result.objects.append(uri)
        archived_at = iso(now)
        early_ttl = int((now + timedelta(days=self.grace_days)).timestamp())
        for record, mark in part:
            if not self.marks.mark(record["lead_id"], archived_to=uri, archived_at=archived_at):
                result.already_archived += 1
                continue
            result.archived += 1
            if mark.held:
                result.held += 1
                continue
            # A hold set after ``mark`` was read wins: it removes each item's ttl, which expire_early's
            # condition (the ttl read) then fails on.
            result.items_expiring_early += sum(self.marks.expire_early(item, early_ttl) for item in mark.items)

    def _put_once(self, key: str, body: bytes) -> None:
        """Write the object unless it exists; either way, confirm S3 holds exactly these bytes."""
        checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/x-ndjson",
                ContentEncoding="gzip",
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
                IfNoneMatch="*",  # never a second version of a key
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
        stored = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED").get("ChecksumSHA256")
        if stored != checksum:
            raise ArchiveMismatch(f"s3://{self.bucket}/{key}: stored checksum {stored}, expected {checksum}")


class ArchiveMismatch(RuntimeError):
    """The object at a content-addressed key does not hold that content: nothing is marked."""


def lambda_time_left(context: Any) -> Callable[[], float]:
    """Seconds left in the invocation (no context: unbounded, as the CLI and tests run it)."""
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return lambda: float("inf")
    return lambda: context.get_remaining_time_in_millis() / 1000
