"""GET /leads/{lead_id}: a vendor's own lead with its history; another vendor's lead does not exist for them."""

from __future__ import annotations

from typing import Any

from .deps import Deps
from .errors import InputRejected
from .models import HistoryEvent, LeadView, Reason

# Other vendors' lead ids stay private.
PRIVATE_DETAIL = frozenset({"by_lead_id", "owner_lead_id", "vendor"})


def get_lead(deps: Deps, *, vendor: str, lead_id: str) -> LeadView:
    """By our lead id, or by the vendor's own lead_id."""
    record = deps.store.read_lead(lead_id)
    if record is None or record.lead.vendor != vendor:
        ours = deps.store.find_vendor_lead(vendor, lead_id)
        record = deps.store.read_lead(ours) if ours else None
    if record is None or record.lead.vendor != vendor:
        raise InputRejected(Reason.LEAD_NOT_FOUND, "no such lead for this vendor", lead_status=None)
    history = [
        HistoryEvent.model_validate({"at": event.at, "event": event.type, **_public(event.detail)})
        for event in record.history
    ]
    return LeadView(**dict(record.lead.answer()), history=history)


def _public(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k not in PRIVATE_DETAIL and v is not None}
