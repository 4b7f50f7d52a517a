"""The fault soak's leads kept on their LeadiD token alone (bench/soak.py ``--token-only SHARE``, issue 25): the
buyer's ``consent_records`` rule is ``either`` (enforced, the ``jornaya`` rule enforced as with ``--jornaya``:
``soak_jornaya.EITHER_RULES``),
and that share of the leads is posted without ``trustedform_cert_url``: a token of its own only, scripted at
Jornaya's simulator like every token (faults call by call, a few audited red). The other leads carry both
records and are judged as under ``either`` (their certificate decides; the enforced ``jornaya`` rule still
has their token audited and refuses it red: bench/soak_jornaya.py).

What is checked of the leads without a certificate, beyond what the soak checks of every lead (none lost,
exactly one outcome event per final lead, their Jornaya audits: a request on record before each audit arrived,
its answer stored after, every audit's exchange stored, none billed twice: bench/soak_jornaya.py, which
tallies their audits apart from the others'):

* no TrustedForm call for any of them: no request at TrustedForm's simulator names their lead (its id, the
  retain's ``reference``, or its email), none is for a certificate no lead was posted with, and their chains
  record no TrustedForm request or exchange;
* the outcome matches the token's script: a token not red leaves its lead ``retained``, kept on its token
  (no certificate, Jornaya's audit authentic and not red, that audit's 200 stored in its chain under the
  call id the lead keeps); a red one leaves it ``rejected`` by Jornaya's reason (``consent_record_missing``,
  or ``jornaya_audit_failed``); with ``--screens``, a screen of a listed number may refuse either first.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from bench.soak_jornaya import JORNAYA_REASONS, JornayaAudit


def pick(rng: random.Random, leads: int, share: float) -> set[int]:
    """The indices of the leads posted without a certificate: ``share`` of them (rounded), at random."""
    return set(rng.sample(range(leads), round(leads * share)))


@dataclass
class TokenOnlyAudit:
    leads: int = 0
    final_by_status: dict[str, int] = field(default_factory=dict)
    red_tokens: int = 0
    kept_on_token: int = 0  # retained on the token alone, its audit's 200 on record
    trustedform_calls: int = 0  # requests at TrustedForm's simulator naming one of these leads
    trustedform_call_leads: list[str] = field(default_factory=list)
    stray_certificate_calls: int = 0  # requests at TrustedForm for a certificate no lead was posted with
    trustedform_records: int = 0  # TrustedForm requests or exchanges in their chains
    trustedform_record_leads: list[str] = field(default_factory=list)
    wrong_outcomes: int = 0
    wrong_outcome_leads: list[str] = field(default_factory=list)
    final_leads_with_one_event: int = 0
    final_leads: int = 0
    jornaya: JornayaAudit = field(default_factory=JornayaAudit)

    @property
    def ok(self) -> bool:
        return self.jornaya.ok and not (
            self.trustedform_calls or self.stray_certificate_calls or self.trustedform_records or self.wrong_outcomes
        )

    def line(self) -> str:
        return (
            f"  token only       {self.leads} leads without a certificate ({self.red_tokens} tokens red): final "
            f"{self.final_by_status}; kept on their token {self.kept_on_token}; outcome events: "
            f"{self.final_leads_with_one_event} of {self.final_leads} final have exactly one\n"
            f"                   TrustedForm calls naming them {self.trustedform_calls} "
            f"{self.trustedform_call_leads[:5]}, for a certificate never posted {self.stray_certificate_calls}, "
            f"in their chains {self.trustedform_records} {self.trustedform_record_leads[:5]}; wrong outcomes "
            f"{self.wrong_outcomes} {self.wrong_outcome_leads[:5]}\n" + self.jornaya.line("their Jornaya")
        )


def audit_trustedform(
    audit: TokenOnlyAudit, requests: list[dict[str, Any]], certs: set[str], leads: dict[str, str]
) -> None:
    """TrustedForm's simulator log (``requests``) against the certificates posted (``certs``) and the leads
    without one (``leads``: lead id -> its email)."""
    emails = {email: lead_id for lead_id, email in leads.items()}
    for request in requests:
        if request.get("cert_id") not in certs:
            audit.stray_certificate_calls += 1
        text = request.get("body_text") or ""
        named = {lead_id for lead_id in leads if lead_id in text} | {emails[email] for email in emails if email in text}
        reference = _reference(text)
        if reference in leads:
            named.add(reference)
        for lead_id in sorted(named):
            audit.trustedform_calls += 1
            audit.trustedform_call_leads.append(f"{lead_id}: {request.get('cert_id')} at {request.get('time')}")


def audit_lead(
    audit: TokenOnlyAudit,
    lead_id: str,
    state: dict[str, Any],
    entries: list[Any],
    *,
    red: bool,
    other_reasons: frozenset[str] = frozenset(),
) -> None:
    """One lead without a certificate: its chain holds nothing of TrustedForm's, its outcome is its token's."""
    audit.leads += 1
    audit.red_tokens += red
    status, reason = state.get("status"), state.get("reason")
    audit.final_by_status[str(status)] = audit.final_by_status.get(str(status), 0) + 1
    trustedform = sum(call.get("provider") is None for entry in entries for call in entry.calls) + sum(
        x.get("provider") is None for entry in entries for x in entry.exchanges
    )
    if trustedform or state.get("cert_id"):
        audit.trustedform_records += 1
        audit.trustedform_record_leads.append(f"{lead_id}: {trustedform} record(s), cert {state.get('cert_id')}")
    if status not in ("retained", "rejected", "expired"):
        return  # the soak counts it lost
    if status == "retained" and not red:
        if kept_on_token(state, entries):
            audit.kept_on_token += 1
            return
        wrong = "retained without its audit on record"
    elif status == "rejected" and reason in (JORNAYA_REASONS if red else frozenset()) | other_reasons:
        return
    else:
        wrong = f"{status} {reason}, its token {'red' if red else 'not red'}"
    audit.wrong_outcomes += 1
    audit.wrong_outcome_leads.append(f"{lead_id}: {wrong}")


def kept_on_token(state: dict[str, Any], entries: list[Any]) -> bool:
    """Retained with no certificate, Jornaya's audit the lead keeps authentic and not red, and that audit's 200
    stored in the lead's chain (read from the stored state and chain, not from the service's own answer)."""
    audit = (state.get("screens") or {}).get("leadid") or {}
    findings = audit.get("findings") or {}
    vouched = audit.get("answered", True) and findings.get("authentic") is True
    vouched = vouched and findings.get("result") in ("green", "yellow")
    stored = any(
        x.get("provider") == "jornaya"
        and x.get("call_id") == audit.get("call_id")
        and (x.get("response") or {}).get("status") == 200
        for entry in entries
        for x in entry.exchanges
    )
    return state.get("status") == "retained" and not state.get("cert_id") and bool(vouched) and stored


def count_events(audit: TokenOnlyAudit, final: dict[str, str], by_lead: dict[str, dict[str, str]]) -> None:
    """Of these leads' final ones (``final``: lead id -> status), how many have exactly one outcome event
    (``by_lead``: the event tally's lead id -> event id -> detail type; the soak's event audit judges them)."""
    audit.final_leads = len(final)
    audit.final_leads_with_one_event = sum(len(by_lead.get(lead_id, {})) == 1 for lead_id in final)


def _reference(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return ""
    retain = body.get("retain") if isinstance(body, dict) else None
    return str(retain.get("reference") or "") if isinstance(retain, dict) else ""
