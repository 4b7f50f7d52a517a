"""The lead's second consent record: its Jornaya LeadiD token audited by TCPA Guardian, among the screens
before TrustedForm is asked (leads/screening.py), when a rule of its vendor reads the audit (``jornaya``,
``consent_records: both``). One call per lead and attempt until answered: an audit is of this lead's token
under this buyer's audit profile, never shared with another lead.

Jornaya's data-integrity check compares the lead data we send with what its script saw on the form: at
intake the email and phone as posted; at a retry only the phone, read back from its sealed copy when a
number screen sealed it (the store keeps no email in clear). The exchange goes on record like a screen's.
"""

from __future__ import annotations

from collections.abc import Mapping

from tf_retainer.domain.lead import Lead
from tf_retainer.domain.screens import Provider, Screen
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.screen_asks import Asked, BeforeSend, Recorder, call_provider
from tf_retainer.ports.screening import ScreenAnswer, ScreenFault


def audit_leadid(
    deps: Deps, lead: Lead, *, lead_data: Mapping[str, str], deadline: float, attempt: int, record: Recorder
) -> Asked:
    """Jornaya's audit of the lead's token, asked now (within ``deadline``, monotonic)."""
    provider = deps.screening.consent_record if deps.screening is not None else None
    token = lead.leadid_token
    if provider is None or token is None:
        return Asked(fault=ScreenFault.UNAVAILABLE, detail="no LeadiD provider, or no token")
    brand_names = deps.rules(lead.vendor).rules.brand_names()

    def send(credentials: Mapping[str, str], before_send: BeforeSend, call_deadline: float) -> ScreenAnswer:
        return provider.audit(
            token,
            source=lead.vendor,
            lead_data=lead_data,
            brand_names=brand_names,
            credentials=credentials,
            deadline=call_deadline,
            attempt=attempt,
            before_send=before_send,
        )

    return call_provider(
        deps,
        lead,
        Screen.LEADID,
        Provider.JORNAYA,
        send,
        consent_date=None,
        deadline=deadline,
        attempt=attempt,
        record=record,
    )
