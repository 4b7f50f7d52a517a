"""POST /leads/{lead_id}/contacts: a contact the buyer's dialer or CRM made (or tried), kept in the lead's
evidence chain: what the frequency caps count at the gate, and what shows, beside a revocation, that nothing
followed it. Idempotent on the reporter's ``contact_id`` (a report sent again is not counted twice)."""

from __future__ import annotations

from datetime import timedelta

from tf_retainer.domain.consent import CONTACT_EVENT, ContactAnswer, ContactReport
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.lead import Event
from tf_retainer.domain.models import FieldError, Reason
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.lookup import lead_record
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.runtime.observability import Metric, count

SKEW = timedelta(minutes=5)
DAY = timedelta(hours=24)


def report_contact(deps: Deps, *, vendor: str | None, lead_id: str, report: ContactReport, actor: str) -> ContactAnswer:
    """Record one contact of a lead (the vendor's own, or any for the buyer's systems: ``vendor`` None)."""
    record = lead_record(deps, vendor, lead_id)
    now = deps.clock()
    at = report.at or now
    if at > now + SKEW:
        error = FieldError(field="at", message="in the future")
        raise InputRejected(Reason.INVALID_REQUEST, "the contact's time is in the future", [error], lead_status=None)
    reported = [event.detail for event in record.history if event.type == CONTACT_EVENT]
    repeated = report.contact_id is not None and any(d.get("contact_id") == report.contact_id for d in reported)
    if repeated:
        at = next(parse_iso(d["at"]) for d in reported if d.get("contact_id") == report.contact_id)
    else:
        detail = {
            "channel": report.channel,
            "at": iso(at),
            "outcome": report.outcome,
            "brand": report.brand,
            "contact_id": report.contact_id,
        }
        deps.writer.add_history(record.lead, [Event(CONTACT_EVENT, actor, detail)], now=now)
        reported.append(detail)
        count(Metric.CONTACTS_REPORTED)
    recent = [d for d in reported if d["channel"] == report.channel and at - DAY < parse_iso(d["at"]) <= at]
    return ContactAnswer(
        lead_id=record.lead.lead_id,
        contact_id=report.contact_id,
        recorded=not repeated,
        channel=report.channel,
        at=iso(at),
        contacts_24h=len(recent),
    )
