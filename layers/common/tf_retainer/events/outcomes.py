"""Domain events: every final outcome of a lead, and every recovery, published on the stack's event bus.

The table is the outbox. A lead's outcome is written once, as an entry of its evidence chain that holds
the history event and the lead as it became; DynamoDB's stream hands that new entry to the publisher
whether or not the process that wrote it lived on (to apply it to the lead's state too). So an event
exists for every outcome written, and only for those: a retry that loses a race writes no entry, so
publishes nothing. The stream delivers at least once; the event's id is the entry's key, the same on
every delivery, for a subscriber to de-duplicate on. Nothing is read to publish: the entry says it all.

What an event says: the answer the vendor gets (``LeadAnswer``), the vendor, the certificate's facts
(null for a lead without a certificate, kept on its LeadiD token: the answer's ``leadid_token`` and
``kept_on`` name that record), the LeadiD token with Jornaya's last audit of it (null for a lead without
a token), and the history event itself. Never an email, a phone number, their fingerprints or a key.
"""

from __future__ import annotations

from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import Status
from tf_retainer.domain.outcome_event import OutcomeEvent
from tf_retainer.ports.services import EventBus, PublishedEntry

# History event type -> EventBridge detail-type. "requeued": the sweeper (or an operator) handed an
# overdue open lead back to the retry queue. "consent_revoked": the consumer withdrew consent (the revocation
# ledger applied it to the lead: dialers and CRMs stop).
DETAIL_TYPES = {
    Status.RETAINED.value: "Lead Retained",
    Status.REJECTED.value: "Lead Rejected",
    Status.EXPIRED.value: "Lead Expired",
    "requeued": "Lead Recovered",
    "consent_revoked": "Lead Consent Revoked",
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


def outcome_event(published: PublishedEntry) -> OutcomeEvent:
    """The event of one published entry: its event of that type, the lead as the entry left it (an event that
    stands alone, consent_revoked, names its lead itself)."""
    entry, event_type = published.entry, published.event_type
    event = next(event for event in reversed(entry.events) if event["type"] == event_type)
    history = event.get("detail") or {}
    if entry.state is not None:
        lead = Lead.model_validate(entry.state)
        vendor = lead.vendor
        answer = lead.answer().model_dump(mode="json", exclude_none=True)
        certificate = _certificate_facts(lead)
        consent: dict[str, object] = {"jornaya": _jornaya(lead)}
    else:
        vendor = history["vendor"]
        answer = {name: history[name] for name in ("lead_id", "vendor_lead_id") if history.get(name) is not None}
        certificate = _standalone_certificate(history)
        consent = {}  # the entry holds no lead: its token and audit are not known here
    event_id = f"{answer['lead_id']}/{published.entry_key}"
    at = event.get("at") or entry.at
    detail = {
        "event_id": event_id,
        "type": event_type,
        "at": at,
        "actor": event.get("actor"),
        "vendor": vendor,
        "answer": answer,
        "certificate": certificate,
        **consent,
        "history": history,
    }
    return OutcomeEvent(event_id=event_id, detail_type=DETAIL_TYPES[event_type], time=str(at), detail=detail)


def _certificate_facts(lead: Lead) -> dict[str, object] | None:
    """The lead's certificate's facts; None for a lead without one (not a certificate with no facts)."""
    if lead.cert_id is None:
        return None
    return lead.model_dump(mode="json", include=set(CERTIFICATE_FACTS), exclude_none=True)


def _jornaya(lead: Lead) -> dict[str, object] | None:
    """The lead's LeadiD token and Jornaya's last audit of it (None: not audited), as the call gate reports
    them: what a dialer reads to act on a lead kept on its token, or to weigh a certificate's. None for a
    lead without a token."""
    if lead.leadid_token is None:
        return None
    jornaya: dict[str, object] = lead.consent_records()["jornaya"]
    return jornaya


def _standalone_certificate(history: dict[str, object]) -> dict[str, object] | None:
    """The certificate an event that stands alone names (its lead's, which the entry does not hold); None for a
    lead without one; {} for an entry written before the event named it."""
    if "cert_id" not in history:
        return {}
    return {"cert_id": history["cert_id"]} if history["cert_id"] is not None else None


def is_published(published: PublishedEntry | None) -> bool:
    """A new entry marked with an event of a published type."""
    return published is not None and published.event_type in DETAIL_TYPES


def publish(bus: EventBus, published: PublishedEntry | None) -> OutcomeEvent | None:
    """Publish the event of a stream record's new entry, if it is one that is published."""
    if published is None or not is_published(published):
        return None
    event = outcome_event(published)
    bus.publish(event)
    return event
