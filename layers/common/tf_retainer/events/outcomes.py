"""Domain events: every final outcome of a lead, and every recovery, published on the stack's event bus.

The table is the outbox. A lead's outcome is written once, as an entry of its evidence chain that holds
the history event and the lead as it became; DynamoDB's stream hands that new entry to the publisher
whether or not the process that wrote it lived on (to apply it to the lead's state too). So an event
exists for every outcome written, and only for those: a retry that loses a race writes no entry, so
publishes nothing. The stream delivers at least once; the event's id is the entry's key, the same on
every delivery, for a subscriber to de-duplicate on. Nothing is read to publish: the entry says it all.

What an event says: the answer the vendor gets (``LeadAnswer``), the vendor, the certificate's facts,
and the history event itself. Never an email, a phone number, their fingerprints or a key.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3

from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import Status
from tf_retainer.runtime.settings import get_settings
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize
from tf_retainer.store.items import stored_entry

SOURCE = "tf-retainer"
# History event type -> EventBridge detail-type. "requeued": the sweeper (or an operator) handed an
# overdue open lead back to the retry queue.
DETAIL_TYPES = {
    Status.RETAINED.value: "Lead Retained",
    Status.REJECTED.value: "Lead Rejected",
    Status.EXPIRED.value: "Lead Expired",
    "requeued": "Lead Recovered",
}
CERTIFICATE_FACTS = (
    "cert_id",
    "cert_kind",
    "certificate_url",
    "masked",
    "masked_cert_url",
    "expires_at",
    "previously_retained",
    "lead_match",
    "created_at",
    "tf_outcome",
    "tf_reason",
)


def is_published(item: dict[str, Any]) -> bool:
    """An entry of a lead's chain that holds an event of a published type (its ``o``)."""
    return (
        str(item.get("pk", "")).startswith(keys.lead_pk("")) and keys.is_entry(item) and item.get("o") in DETAIL_TYPES
    )


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    event_id: str
    detail_type: str
    time: str
    detail: dict[str, Any]

    def entry(self, bus_name: str) -> dict[str, Any]:
        """The PutEvents entry."""
        return {
            "Source": SOURCE,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail, separators=(",", ":"), sort_keys=True),
            "EventBusName": bus_name,
        }


def outcome_event(item: dict[str, Any]) -> OutcomeEvent:
    """The event of one published entry (see :func:`is_published`): its event of that type, the lead as
    the entry left it."""
    entry = stored_entry(item)
    event_type = str(item["o"])
    event = next(event for event in reversed(entry.events) if event["type"] == event_type)
    lead = Lead.model_validate(entry.state or {})
    event_id = f"{lead.lead_id}/{item['sk']}"
    answer = lead.answer().model_dump(mode="json", exclude_none=True)
    certificate = lead.model_dump(mode="json", include=set(CERTIFICATE_FACTS), exclude_none=True)
    at = event.get("at") or entry.at
    detail = {
        "event_id": event_id,
        "type": event_type,
        "at": at,
        "actor": event.get("actor"),
        "vendor": lead.vendor,
        "answer": answer,
        "certificate": certificate,
        "history": event.get("detail") or {},
    }
    return OutcomeEvent(event_id=event_id, detail_type=DETAIL_TYPES[event_type], time=str(at), detail=detail)


def binary_decoded(image: dict[str, Any]) -> dict[str, Any]:
    """A stream image as Lambda delivers it (binary attributes base64 text, as JSON has no bytes) in the
    form boto3 reads (bytes). Only top-level binary attributes: the only kind a chain entry has."""
    return {
        name: {"B": base64.b64decode(value["B"])} if isinstance(value.get("B"), str) else value
        for name, value in image.items()
    }


class PublishFailed(Exception):
    """EventBridge refused the entry: the stream record is retried."""


@dataclass
class Publisher:
    """Publishes the event of one stream record's new item, if it is one that is published."""

    events: Any  # a boto3 EventBridge client
    bus_name: str

    def publish(self, new_image: dict[str, Any]) -> OutcomeEvent | None:
        item = deserialize(binary_decoded(new_image))
        if not is_published(item):
            return None
        event = outcome_event(item)
        out = self.events.put_events(Entries=[event.entry(self.bus_name)])
        if out.get("FailedEntryCount"):
            failure = out["Entries"][0]
            raise PublishFailed(f"{failure.get('ErrorCode')}: {failure.get('ErrorMessage')}")
        return event


@lru_cache(maxsize=1)
def default_publisher() -> Publisher:
    """Built once per Lambda container: one store client, one EventBridge client."""
    settings = get_settings()
    if not settings.event_bus_name:
        raise RuntimeError("EVENT_BUS_NAME is not set: the publisher has nowhere to publish")
    return Publisher(
        events=boto3.client("events"),
        bus_name=settings.event_bus_name,
    )
