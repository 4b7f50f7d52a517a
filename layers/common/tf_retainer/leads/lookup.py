"""GET /leads/{lead_id}: a vendor's own lead with its history, a page at a time; another vendor's lead
does not exist for them."""

from __future__ import annotations

from typing import Any

from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.lead import Lead, LeadRecord
from tf_retainer.domain.models import HistoryEvent, LeadView, Reason
from tf_retainer.leads.deps import Deps
from tf_retainer.ports.leads import InvalidCursor

# Other vendors' lead ids stay private.
PRIVATE_DETAIL = frozenset({"by_lead_id", "owner_lead_id", "vendor"})
# A legal hold is ours (its reason names a case the vendor may be party to), and so is the record of a call's
# request before it was sent (its answer shows as the attempt): not in the vendor's history.
INTERNAL_EVENTS = frozenset({"hold_set", "hold_released", "calling"})
HISTORY_PAGE = 100


def get_lead(
    deps: Deps, *, vendor: str, lead_id: str, history_after: str | None = None, history_limit: int = HISTORY_PAGE
) -> LeadView:
    """By our lead id, or by the vendor's own lead_id."""
    lead = own_lead(deps, vendor, lead_id)
    try:
        page = deps.reader.history_page(
            lead.lead_id, cursor=history_after or None, limit=history_limit, hidden=INTERNAL_EVENTS
        )
    except InvalidCursor as exc:
        raise InputRejected(Reason.INVALID_REQUEST, "history_after is not a cursor this API gave") from exc
    history = [
        HistoryEvent.model_validate({"at": event.at, "event": event.type, **_public(event.detail)})
        for event in page.events
    ]
    return LeadView(**dict(lead.answer()), history=history, history_next=page.next_cursor)


def own_lead(deps: Deps, vendor: str, lead_id: str) -> Lead:
    """The vendor's lead by our id or its own lead_id; another vendor's lead or none: 404 lead_not_found."""
    lead = deps.reader.get_lead(lead_id)
    if lead is None or lead.vendor != vendor:
        ours = deps.reader.find_vendor_lead(vendor, lead_id)
        lead = deps.reader.get_lead(ours) if ours else None
    if lead is None or lead.vendor != vendor:
        raise InputRejected(Reason.LEAD_NOT_FOUND, "no such lead for this vendor", lead_status=None)
    return lead


def lead_of(deps: Deps, vendor: str | None, lead_id: str) -> Lead:
    """``own_lead`` for a vendor; for the buyer's systems (``vendor`` None), any lead by our id."""
    if vendor is not None:
        return own_lead(deps, vendor, lead_id)
    lead = deps.reader.get_lead(lead_id)
    if lead is None:
        raise InputRejected(Reason.LEAD_NOT_FOUND, "no such lead", lead_status=None)
    return lead


def lead_record(deps: Deps, vendor: str | None, lead_id: str) -> LeadRecord:
    """The whole record (state, history, exchanges: one read) of the lead ``lead_of`` finds."""
    record = deps.reader.read_lead(lead_id)
    if vendor is not None and (record is None or record.lead.vendor != vendor):
        ours = deps.reader.find_vendor_lead(vendor, lead_id)
        record = deps.reader.read_lead(ours) if ours else None
    if record is None or (vendor is not None and record.lead.vendor != vendor):
        detail = "no such lead for this vendor" if vendor is not None else "no such lead"
        raise InputRejected(Reason.LEAD_NOT_FOUND, detail, lead_status=None)
    return record


def _public(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k not in PRIVATE_DETAIL and v is not None}
