"""Domain events: every final outcome of a lead, and every recovery, published on the stack's event bus.

The table is the outbox. A lead's outcome is written once (a conditional transaction) together with its
history event; DynamoDB's stream hands that new event item to the publisher whether or not the process
that wrote it lived on. So an event exists for every outcome written, and only for those: a retry that
loses a race writes nothing, so publishes nothing. The stream delivers at least once; the event's id is
the history item's key, the same on every delivery, for a subscriber to de-duplicate on.

What an event says: the answer the vendor gets (``LeadAnswer``), the vendor, the certificate's facts,
and the history event itself. Never an email, a phone number, their fingerprints or a key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3

from .lead import Lead
from .models import Status
from .settings import get_settings
from .store import keys
from .store.codec import deserialize
from .store.leads import LeadStore

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
    """A lead's own copy of a history event of a published type (the certificate's copy is not)."""
    return (
        str(item.get("pk", "")).startswith(keys.lead_pk(""))
        and keys.is_event(item)
        and item.get("type") in DETAIL_TYPES
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


def outcome_event(item: dict[str, Any], lead: Lead) -> OutcomeEvent:
    """The event of one published history item (see :func:`is_published`) of ``lead``."""
    event_type = str(item["type"])
    event_id = f"{lead.lead_id}/{item['sk']}"
    answer = lead.answer().model_dump(mode="json", exclude_none=True)
    certificate = lead.model_dump(mode="json", include=set(CERTIFICATE_FACTS), exclude_none=True)
    detail = {
        "event_id": event_id,
        "type": event_type,
        "at": item.get("at"),
        "actor": item.get("actor"),
        "vendor": lead.vendor,
        "answer": answer,
        "certificate": certificate,
        "history": item.get("detail") or {},
    }
    return OutcomeEvent(
        event_id=event_id, detail_type=DETAIL_TYPES[event_type], time=str(item.get("at")), detail=detail
    )


class PublishFailed(Exception):
    """EventBridge refused the entry, or the lead is missing: the stream record is retried."""


@dataclass
class Publisher:
    """Publishes the event of one stream record's new item, if it is one that is published."""

    store: LeadStore
    events: Any  # a boto3 EventBridge client
    bus_name: str

    def publish(self, new_image: dict[str, Any]) -> OutcomeEvent | None:
        item = deserialize(new_image)
        if not is_published(item):
            return None
        lead_id = str(item.get("lead_id") or str(item["pk"]).removeprefix(keys.lead_pk("")))
        lead = self.store.get_lead(lead_id)
        if lead is None:  # written in one transaction with the event: a later read must see it
            raise PublishFailed(f"lead {lead_id} of event {item['sk']} not found")
        event = outcome_event(item, lead)
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
        store=LeadStore(settings.table_name, retention_days=settings.evidence_retention_days),
        events=boto3.client("events"),
        bus_name=settings.event_bus_name,
    )
