"""A DynamoDB stream record's new image, read back as the store wrote it: the publisher's only input."""

from __future__ import annotations

import base64
from typing import Any

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
