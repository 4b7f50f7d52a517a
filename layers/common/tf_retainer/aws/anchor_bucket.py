"""The evidence anchors in the archive bucket (S3, Object Lock), beside the archive's parts:

    anchors/started.json                                         when anchoring began (written once)
    anchors/hour=<YYYY-MM-DDTHH>/batch-<sha256 of the document, 32 hex>.json

An object is the anchor document (domain/anchors.py), a newline, and its MAC in base64. Named by its
content's digest and written with If-None-Match: a retried batch writes the same bytes to the same name
and the object found serves; nothing is overwritten (Object Lock in compliance mode keeps every version for
the retention period). Only AnchorFunction's role may put objects under anchors/ (template.yaml).

Read back, a document whose name is not its content's digest (another version put under an existing name)
comes without its MAC, so it fails authentication; the record of when anchoring began is read in its
first version, whatever was put over it since.
"""

from __future__ import annotations

import base64
import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tf_retainer.aws.archive_bucket import put_if_absent
from tf_retainer.ports.anchors import StoredAnchor

PREFIX = "anchors/"
READERS = 10  # documents read at once: boto3 clients are thread-safe and keep 10 connections by default
STARTED = f"{PREFIX}started.json"


def hour_prefix(hour: str) -> str:
    return f"{PREFIX}hour={hour}/"


def object_name(hour: str, content: bytes) -> str:
    return f"{hour_prefix(hour)}batch-{hashlib.sha256(content).hexdigest()[:32]}.json"


def encode(content: bytes, mac: bytes) -> bytes:
    return content + b"\n" + base64.b64encode(mac) + b"\n"


def decode(name: str, body: bytes) -> StoredAnchor:
    content, _, mac = body.rstrip(b"\n").rpartition(b"\n")
    try:
        return StoredAnchor(name=name, content=content, mac=base64.b64decode(mac, validate=True))
    except ValueError:
        return StoredAnchor(name=name, content=content, mac=b"")


class S3AnchorBucket:
    """The AnchorStore port on the archive bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def put(self, hour: str, content: bytes, mac: bytes) -> str:
        name = object_name(hour, content)
        self._put_once(name, encode(content, mac))
        return f"s3://{self.bucket}/{name}"

    def read_hour(self, hour: str) -> list[StoredAnchor]:
        """An hour's documents, read in parallel: an hour holds one per batch (a batching window's worth of
        writes, or AnchorBatchSize of them) and per stream shard, a few hundred on a busy stack."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=hour_prefix(hour))
        names = sorted(listed["Key"] for page in pages for listed in page.get("Contents", []))
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            stored = list(pool.map(self._read, names))
        return [s if object_name(hour, s.content) == s.name else StoredAnchor(s.name, s.content, b"") for s in stored]

    def mark_started(self, content: bytes, mac: bytes) -> None:
        self._put_once(STARTED, encode(content, mac))

    def started(self) -> StoredAnchor | None:
        # S3 lists a key's versions newest first: its first version is the last listed.
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=STARTED)
        versions = [v for page in pages for v in page.get("Versions", []) if v["Key"] == STARTED]
        return self._read(STARTED, versions[-1]["VersionId"]) if versions else None

    def _read(self, name: str, version: str | None = None) -> StoredAnchor:
        which = {"VersionId": version} if version else {}
        return decode(name, self.s3.get_object(Bucket=self.bucket, Key=name, **which)["Body"].read())

    def _put_once(self, name: str, body: bytes) -> None:
        """Write the object unless one is there already (a retried batch: the same bytes)."""
        put_if_absent(self.s3, self.bucket, name, body, ContentType="text/plain")
