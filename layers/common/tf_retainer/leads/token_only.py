"""A lead without a TrustedForm certificate, kept on its Jornaya LeadiD token alone: only the vendor's
``consent_records`` rule enforced with ``jornaya`` or ``either`` lets one in (leads/intake.py).

TrustedForm is never called for it (nothing to retain, no API key sent). After the screens (leads/screening.py,
which always audit its token and refuse it on an enforced rule), Jornaya's audit decides it:

- vouched for (authentic) and not red: retained, kept on its token (``Lead.kept_on``); the rules that read
  TrustedForm's answers are recorded as not evaluated (no certificate);
- answered, not vouched for or red (a rule changed since intake let it through the screens): rejected,
  ``consent_record_missing``;
- not answered (Jornaya down, slow, throttling, no provider): pending, retried by the retry worker and found by
  the sweeper like any pending lead, within its window (schedule.retain_deadline).
"""

from __future__ import annotations

from typing import Any

from tf_retainer.decisions import screen_rules
from tf_retainer.decisions.answer import Decision, RetryKind
from tf_retainer.decisions.screen_rules import ConsentRecordsRule
from tf_retainer.decisions.verdicts import REASONS, Verdict
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import LeadAnswer, Reason, Status
from tf_retainer.domain.screens import Screen
from tf_retainer.leads.calls import Calls
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.outcome import Ruling, apply_decision

NO_CERTIFICATE = {"not_evaluated": "no certificate: the lead is kept on its LeadiD token"}


def keep_on_token(
    deps: Deps, lead: Lead, calls: Calls, verdicts: list[Verdict], *, attempt: int, actor: str
) -> LeadAnswer:
    """Decide a lead without a certificate on Jornaya's audit of its token (``calls.lead``: with the screens'
    results; ``verdicts``: the screen rules' on them, none of them an enforced refusal)."""
    screened = calls.lead
    audit = (screened.screens or {}).get(Screen.LEADID.value)
    ruling: Ruling | None = None
    if screened.token_vouched():
        in_force = deps.rules(lead.vendor)
        unjudged = [
            Verdict(name, rule.mode, None, reason, dict(NO_CERTIFICATE))
            for name, reason in REASONS.items()
            if name not in screen_rules.REASONS and (rule := in_force.rules.active(name)) is not None
        ]
        decision = Decision(Status.RETAINED)
        ruling = Ruling(in_force.version, [*verdicts, *unjudged])
    elif audit is not None and audit.answered:
        decision = Decision(Status.REJECTED, Reason.CONSENT_RECORD_MISSING)
        _, _, detail = screen_rules.judge(
            "consent_records", ConsentRecordsRule(required="jornaya"), dict(screened.screens or {}), leadid=True
        )
        calls.lead_update = {**calls.lead_update, "refusal_detail": {"rule": "consent_records", **detail}}
    else:  # no answer yet: the audit is this lead's only record, so it waits for one
        decision = Decision(Status.PENDING, Reason.SCREEN_UNAVAILABLE, RetryKind.TRANSIENT, alarm=audit is None)
    return apply_decision(deps, lead, decision, calls, attempt=attempt, actor=actor, ruling=ruling)


def audit_on_record(lead: Lead, exchanges: list[dict[str, Any]]) -> bool:
    """The exchange of the audit that keeps a lead without a certificate is stored (the call gate's evidence
    check): Jornaya's 200, by the call id of the lead's audit result."""
    audit = (lead.screens or {}).get(Screen.LEADID.value)
    call_id = audit.call_id if audit is not None else None
    jornaya = [x for x in exchanges if x.get("provider") == "jornaya" and x.get("call_id") == call_id]
    return call_id is not None and any((x.get("response") or {}).get("status") == 200 for x in jornaya)
