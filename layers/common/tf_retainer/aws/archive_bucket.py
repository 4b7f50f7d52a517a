"""The evidence archive's bucket (S3, Object Lock): where each part is written, once, and read back.

    evidence/vendor=<vendor>/date=<YYYY-MM-DD>/part-<sha256 of the content, 32 hex>.jsonl.gz

One gzipped JSON Lines object per vendor and day received (more parts when a day is large or a lead became
final late), one evidence record a line (each record writes its own: tf_retainer.evidence.record). The
name is the content's digest: a rerun that finds the same leads unarchived writes the same bytes to the
same key, which S3 refuses (If-None-Match), and the existing object, whose checksum is compared, serves;
a changed content gets a new key. Nothing is ever overwritten (nor could be: Object Lock in compliance
mode keeps every version for the retention period).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Iterable
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

PREFIX = "evidence"


def object_key(vendor: str, day: date, body: bytes) -> str:
    return f"{PREFIX}/vendor={vendor}/date={day.isoformat()}/part-{hashlib.sha256(body).hexdigest()[:32]}.jsonl.gz"


def day_prefix(vendor: str, day: date) -> str:
    return f"{PREFIX}/vendor={vendor}/date={day.isoformat()}/"


def encode(lines: Iterable[bytes]) -> bytes:
    """The part's body: one line each, gzipped with a fixed header, so equal lines give equal bytes."""
    return gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=9, mtime=0)


def decode(body: bytes) -> list[bytes]:
    return [line for line in gzip.decompress(body).splitlines() if line.strip()]


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def put_if_absent(s3: Any, bucket: str, key: str, body: bytes, **headers: str) -> str:
    """Write the object unless one is there already (If-None-Match: never a second version of a key, as S3
    refuses it); the body's SHA-256 checksum, as S3 keeps it, either way."""
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=checksum,
            IfNoneMatch="*",
            **headers,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise
    return checksum


class ArchiveMismatch(RuntimeError):
    """The object at a content-addressed key does not hold that content: nothing is marked."""


class S3ArchiveBucket:
    """The ArchiveBucket port on one S3 bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def put_part(self, vendor: str, day: date, lines: Iterable[bytes]) -> str:
        """Write one part holding these lines (once; an equal part found written serves); its s3:// URI."""
        body = encode(lines)
        key = object_key(vendor, day, body)
        self._put_once(key, body)
        return s3_uri(self.bucket, key)

    def read_part(self, uri: str) -> list[bytes]:
        """A part's lines, by its URI (whichever bucket it names)."""
        bucket, key = parse_s3_uri(uri)
        return decode(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def parts(self, vendor: str, day: date) -> list[str]:
        """The URIs of a vendor's day's parts, oldest first."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=day_prefix(vendor, day))
        objects = sorted((o for page in pages for o in page.get("Contents", [])), key=lambda o: o["LastModified"])
        return [s3_uri(self.bucket, listed["Key"]) for listed in objects]

    def legal_hold(self, uri: str) -> None:
        """What a legal hold does to an archived lead's object: an S3 Object Lock legal hold, so neither the
        lifecycle's expiry nor anyone else removes it after its retention (the lead's older entries may be
        only there). Not lifted when the hold is released: the object holds other leads, possibly held too;
        an operator lifts it (docs/operations.md)."""
        bucket, key = parse_s3_uri(uri)
        self.s3.put_object_legal_hold(Bucket=bucket, Key=key, LegalHold={"Status": "ON"})

    def _put_once(self, key: str, body: bytes) -> None:
        """Write the object unless it exists; either way, confirm S3 holds exactly these bytes."""
        checksum = put_if_absent(
            self.s3, self.bucket, key, body, ContentType="application/x-ndjson", ContentEncoding="gzip"
        )
        stored = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED").get("ChecksumSHA256")
        if stored != checksum:
            raise ArchiveMismatch(f"s3://{self.bucket}/{key}: stored checksum {stored}, expected {checksum}")
