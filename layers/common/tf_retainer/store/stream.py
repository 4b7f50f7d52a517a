"""A DynamoDB stream record's new image, read back as the store wrote it: the publisher's only input, and
what the anchoring function anchors of a chain entry's write."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import Binary

from tf_retainer.domain import anchors, chain
from tf_retainer.domain.anchors import Written
from tf_retainer.ports.services import PublishedEntry
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize
from tf_retainer.store.items import stored_entry


def binary_decoded(image: dict[str, Any]) -> dict[str, Any]:
    """A stream image as Lambda delivers it (binary attributes base64 text, as JSON has no bytes) in the
    form boto3 reads (bytes). Only top-level binary attributes: the only kind a chain entry has."""
    return {
        name: {"B": base64.b64decode(value["B"])} if isinstance(value.get("B"), str) else value
        for name, value in image.items()
    }


def published(item: dict[str, Any]) -> PublishedEntry | None:
    """An entry of a lead's chain that holds an event marked for publishing (its ``o``), or None."""
    is_lead = str(item.get("pk", "")).startswith(keys.lead_pk(""))
    if not (is_lead and keys.is_entry(item) and item.get("o")):
        return None
    return PublishedEntry(entry_key=str(item["sk"]), event_type=str(item["o"]), entry=stored_entry(item))


def published_in(new_image: dict[str, Any]) -> PublishedEntry | None:
    """The published entry a stream record's NewImage holds, if any."""
    return published(deserialize(binary_decoded(new_image)))


def written_in(record: dict[str, Any]) -> Written | None:
    """What a stream record (as Lambda delivers it) says was written to a lead's chain, to anchor: the
    entry's number and stored hash, whether it was its first write, and the hour its content names (the
    hour the record was written when the content names none: whatever an entry item holds is anchored)."""
    kind = {"INSERT": anchors.NEW, "MODIFY": anchors.OVERWRITE}.get(str(record.get("eventName")))
    stream = record.get("dynamodb") or {}
    item = deserialize(binary_decoded(stream.get("NewImage") or stream.get("Keys") or {}))
    pk, sk = str(item.get("pk", "")), str(item.get("sk", ""))
    if kind is None or not pk.startswith(keys.lead_pk("")) or not keys.is_entry(item):
        return None
    try:
        seq = keys.entry_seq(sk)
    except ValueError:
        seq = -1
    digest = bytes(item["h"]).hex() if isinstance(item.get("h"), bytes | Binary) else ""
    return Written(anchors.Anchored(keys.lead_id_of(pk), seq, digest, kind), hour=_hour(item, stream))


# What an item that is no entry (written by someone else than the service) can make reading it raise.
_UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError, zlib.error)


def _hour(item: dict[str, Any], stream: dict[str, Any]) -> str:
    """The hour the entry's content names; else the one the stream says it was written in; else 1970's first
    (never an error: a record that cannot be anchored would hold back its whole batch)."""
    try:
        return anchors.hour_of(str(chain.parse(chain.unpack(bytes(item["b"]))).at))
    except _UNREADABLE:
        pass
    try:
        return anchors.hour_of(datetime.fromtimestamp(float(stream.get("ApproximateCreationDateTime") or 0), UTC))
    except _UNREADABLE:
        return anchors.hour_of(datetime.fromtimestamp(0, UTC))
