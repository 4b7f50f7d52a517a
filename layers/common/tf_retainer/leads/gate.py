"""GET /leads/{lead_id}/contactable: the call gate a dialer or CRM asks before contacting a lead.

Yes only when the consent evidence is safe: the certificate is retained, TrustedForm matched the lead
(or the certificate is masked, where matching always fails, and the buyer accepts masked ones), the
buyer's rules passed, and the raw exchange that retained the certificate is in the store. Otherwise no,
with the first check that failed, in that order.
"""

from __future__ import annotations

import json
from typing import Any

from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import ContactableAnswer, GateReason, ScreenCheck, Status
from tf_retainer.leads.call_screens import screen_checks
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.lookup import own_lead
from tf_retainer.runtime.clock import iso

CONTACTABLE = "retained, matched, the buyer's rules passed and the evidence is stored"


def contactable(deps: Deps, *, vendor: str, lead_id: str) -> ContactableAnswer:
    """By our lead id or the vendor's own lead_id; another vendor's lead is not found (InputRejected)."""
    lead = own_lead(deps, vendor, lead_id)
    failed, screens = _first_failure(deps, lead), list[ScreenCheck]()
    if failed is None:  # the number's screens last: they may cost a provider call
        failed, screens = screen_checks(deps, lead)
    return ContactableAnswer(
        lead_id=lead.lead_id,
        vendor_lead_id=lead.vendor_lead_id,
        contactable=failed is None,
        reason=failed[0] if failed else None,
        detail=failed[1] if failed else CONTACTABLE,
        status=Status.PENDING if lead.status is Status.RECEIVED else lead.status,
        lead_reason=lead.reason,
        checked_at=iso(deps.clock()),
        screens=screens or None,
    )


def _first_failure(deps: Deps, lead: Lead) -> tuple[GateReason, str] | None:
    # The store is read last: most leads that fail, fail on their state alone.
    return (
        _retained(lead)
        or _matched(lead, accept_masked=deps.settings.masked_certificate_policy == "accept")
        or _rules_passed(lead)
        or _evidence_stored(deps, lead)
    )


def _retained(lead: Lead) -> tuple[GateReason, str] | None:
    if lead.status is Status.RETAINED:
        return None
    because = f" ({lead.reason.value})" if lead.reason else ""
    if not lead.status.is_final:
        when = f"; next attempt at {lead.next_attempt_at}" if lead.next_attempt_at else ""
        return GateReason.PENDING, f"the certificate is not retained yet{because}{when}: ask again later"
    return GateReason.NOT_RETAINED, f"the lead was {lead.status.value}{because}: its certificate was not retained"


def _matched(lead: Lead, *, accept_masked: bool) -> tuple[GateReason, str] | None:
    if lead.shared_with_lead_id:  # never on another lead's match, nor on another lead's masked certificate
        why = "the certificate was shared from another lead: this lead's email and phone were never matched"
        return GateReason.LEAD_NOT_MATCHED, why
    if lead.masked:  # TrustedForm never matches a masked certificate: the buyer's policy decides
        if accept_masked:
            return None
        return GateReason.MASKED_NOT_ACCEPTED, "the certificate is masked and masked certificates are not accepted"
    if lead.lead_match is not None and lead.lead_match.success:
        return None
    if lead.lead_match is None:
        why = "TrustedForm reported no lead match for this lead"
    else:
        why = "TrustedForm did not match the lead's email or phone to the certificate"
    return GateReason.LEAD_NOT_MATCHED, why


def _rules_passed(lead: Lead) -> tuple[GateReason, str] | None:
    # Only an enforced rule refuses: a shadow rule's "would refuse" is recorded, not acted on.
    refusing = [str(v["rule"]) for v in lead.verdicts or [] if v.get("mode") == "enforce" and v.get("passed") is False]
    if lead.rules_passed is False or refusing:
        return GateReason.RULES_NOT_PASSED, f"the buyer's rules refused the lead ({', '.join(refusing) or 'verdicts'})"
    return None


def _evidence_stored(deps: Deps, lead: Lead) -> tuple[GateReason, str] | None:
    if any(_retained_in(exchange) for exchange in deps.reader.exchanges(lead.lead_id)):
        return None
    return GateReason.EVIDENCE_MISSING, "no stored TrustedForm exchange shows the certificate retained"


def _retained_in(exchange: dict[str, Any]) -> bool:
    """A 200 whose body carries retain results: TrustedForm's word that it retained the certificate."""
    response = exchange.get("response") or {}
    if response.get("status") != 200:
        return False
    try:
        body = json.loads(response.get("body") or "")
    except ValueError:
        return False
    retain = body.get("retain") if isinstance(body, dict) else None
    return isinstance(retain, dict) and isinstance(retain.get("results"), dict)
