"""GET /leads/{lead_id}/contactable: the call gate a dialer or CRM asks before contacting a lead, on a channel
(call, text or email) and, if it says, for a brand.

Yes only when every check passes; otherwise no, with the first check that failed. The checks are a list
(``CHECKS``), each independent of the others: given the question and the lead (its record, read once; the
revocation ledger and the calling rules, read when a check needs them) it passes, or refuses with a reason, the
answer in words and, where waiting helps, ``next_allowed_at``. A new check (a screening provider) is one more.

1. the consumer has not withdrawn consent (the revocation ledger under the lead's consumer tokens, read strongly
   consistent: a revocation acknowledged before the question is in the answer);
2. the certificate is retained; 3. TrustedForm matched the lead (or it is masked and the buyer accepts masked
   certificates); 4. the buyer's rules passed; 5. the raw exchange that retained it is stored (a lead kept on
   its LeadiD token alone: Jornaya's audit stands in for 3., its exchange for 5.);
6. the lead gave a contact for the channel (a phone for a call or a text, an email for an email);
7. the law of the hour: the calling window at the consumer's location and the state's frequency cap
   (``decisions.contact``, with the contacts reported for the lead);
8.-10. for a call or a text, the number's enforced screens are current and clean: Do-Not-Call, litigator,
   reassigned since consent (``call_screens``: a stale answer asked again, which may cost a provider call,
   so they come last and share one deadline and one unsealing of the number).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from tf_retainer.decisions.consent import consent_time, first_covering
from tf_retainer.decisions.contact import ContactVerdict, PastContact, check_contact
from tf_retainer.decisions.location import locate_place
from tf_retainer.domain.consent import CONTACT_EVENT
from tf_retainer.domain.contacts import Channel
from tf_retainer.domain.lead import Lead, LeadRecord
from tf_retainer.domain.models import ContactableAnswer, GateReason, Status
from tf_retainer.leads.call_screens import screen_check
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.lookup import lead_record
from tf_retainer.leads.screening import unsealed
from tf_retainer.leads.token_only import audit_on_record
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.runtime.observability import Metric, count_with

CONTACTABLE = (
    "consent stands, the certificate is retained, matched, the buyer's rules passed, the evidence is stored, "
    "and the law of the hour allows it now"
)


@dataclass(frozen=True, slots=True)
class Question:
    """What the caller asks: may I contact this lead on ``channel`` (for ``brand``) now?"""

    channel: Channel = "call"
    brand: str | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: GateReason
    detail: str
    next_allowed_at: datetime | None = None
    facts: dict[str, Any] | None = None


@dataclass
class Subject:
    """What the checks look at: the question, the lead's record, and what is read only when a check needs it."""

    deps: Deps
    record: LeadRecord
    question: Question
    now: datetime
    facts: dict[str, Any] = field(default_factory=dict)  # what passing checks found (the answer shows it)

    @property
    def lead(self) -> Lead:
        return self.record.lead

    @cached_property
    def contacts(self) -> list[PastContact]:
        """The contacts reported for the lead (every one counts against a cap, answered or not)."""
        return [
            PastContact(parse_iso(event.detail["at"]), event.detail["channel"])
            for event in self.record.history
            if event.type == CONTACT_EVENT
        ]

    @cached_property
    def screens_deadline(self) -> float:
        """The number's screens' one bound (time.monotonic), from the first that may ask a provider."""
        return time.monotonic() + self.deps.settings.sync_timeout_seconds

    @cached_property
    def number(self) -> str | None:
        """The lead's number, unsealed once for the screens that ask a provider (None: it cannot be)."""
        return unsealed(self.deps, self.lead)


Check = Callable[[Subject], Refusal | None]


def contactable(
    deps: Deps,
    *,
    vendor: str | None,
    lead_id: str,
    question: Question | None = None,
    checks: tuple[Check, ...] | None = None,
) -> ContactableAnswer:
    """By our lead id or the vendor's own lead_id; ``vendor`` None (a buyer-system key): any lead, by our id.
    Another vendor's lead is not found (InputRejected)."""
    question = question or Question()
    subject = Subject(deps, lead_record(deps, vendor, lead_id), question, deps.clock())
    refusal = next((refused for check in checks or CHECKS if (refused := check(subject)) is not None), None)
    lead = subject.lead
    facts = {**subject.facts, **(refusal.facts or {})} if refusal else subject.facts
    if lead.leadid_token:  # the lead has two consent records: the answer names both
        facts = {**facts, "consent_records": lead.consent_records()}
    return ContactableAnswer(
        lead_id=lead.lead_id,
        vendor_lead_id=lead.vendor_lead_id,
        contactable=refusal is None,
        reason=refusal.reason if refusal else None,
        detail=refusal.detail if refusal else CONTACTABLE,
        next_allowed_at=iso(refusal.next_allowed_at) if refusal and refusal.next_allowed_at else None,
        channel=question.channel,
        brand=question.brand,
        facts=facts or None,
        status=Status.PENDING if lead.status is Status.RECEIVED else lead.status,
        lead_reason=lead.reason,
        checked_at=iso(subject.now),
    )


# --- the checks, in order -------------------------------------------------------------------------------


def consent_not_revoked(subject: Subject) -> Refusal | None:
    lead, question = subject.lead, subject.question
    notices = subject.deps.ledger.notices(subject.record.consumer)
    consent_at = consent_time(lead)
    notice = first_covering(
        notices, channel=question.channel, brand=question.brand, consent_at=consent_at, now=subject.now
    )
    if notice is None:
        if notices:  # revocations of this consumer that do not cover this question: said, for the record
            subject.facts["revocations_not_covering"] = [n.revocation_id for n in notices]
        return None
    since = "" if consent_at else "; the certificate's creation time is unknown, so its consent counts as given before"
    detail = f"the consumer withdrew consent at {notice.expressed_at} (revocation {notice.revocation_id}){since}"
    facts = {"revocation": notice.model_dump(mode="json")}
    return Refusal(GateReason.CONSENT_REVOKED, detail, facts=facts)


def retained(subject: Subject) -> Refusal | None:
    lead = subject.lead
    if lead.status is Status.RETAINED:
        return None
    because = f" ({lead.reason.value})" if lead.reason else ""
    record = "the certificate is" if lead.cert_id is not None else "the LeadiD token is"
    if not lead.status.is_final:
        when = f"; next attempt at {lead.next_attempt_at}" if lead.next_attempt_at else ""
        detail = f"{record} not retained yet{because}{when}: ask again later"
        return Refusal(GateReason.PENDING, detail)
    detail = f"the lead was {lead.status.value}{because}: {record} not retained"
    return Refusal(GateReason.NOT_RETAINED, detail)


def matched(subject: Subject) -> Refusal | None:
    lead = subject.lead
    if lead.cert_id is None:  # kept on its LeadiD token: Jornaya's audit (its data-integrity check) stands in
        return None
    if lead.shared_with_lead_id:  # never on another lead's match, nor on another lead's masked certificate
        why = "the certificate was shared from another lead: this lead's email and phone were never matched"
        return Refusal(GateReason.LEAD_NOT_MATCHED, why)
    if lead.masked:  # TrustedForm never matches a masked certificate: the buyer's policy decides
        if subject.deps.settings.masked_certificate_policy == "accept":
            return None
        return Refusal(
            GateReason.MASKED_NOT_ACCEPTED, "the certificate is masked and masked certificates are not accepted"
        )
    if lead.lead_match is not None and lead.lead_match.success:
        return None
    if lead.lead_match is None:
        why = "TrustedForm reported no lead match for this lead"
    else:
        why = "TrustedForm did not match the lead's email or phone to the certificate"
    return Refusal(GateReason.LEAD_NOT_MATCHED, why)


def rules_passed(subject: Subject) -> Refusal | None:
    # Only an enforced rule refuses: a shadow rule's "would refuse" is recorded, not acted on.
    lead = subject.lead
    refusing = [str(v["rule"]) for v in lead.verdicts or [] if v.get("mode") == "enforce" and v.get("passed") is False]
    if lead.rules_passed is False or refusing:
        return Refusal(
            GateReason.RULES_NOT_PASSED, f"the buyer's rules refused the lead ({', '.join(refusing) or 'verdicts'})"
        )
    return None


def evidence_stored(subject: Subject) -> Refusal | None:
    if subject.lead.cert_id is None:
        if audit_on_record(subject.lead, subject.record.exchanges):
            return None
        return Refusal(GateReason.EVIDENCE_MISSING, "no stored Jornaya exchange shows the LeadiD token audited")
    if any(_retained_in(exchange) for exchange in subject.record.exchanges):
        return None
    return Refusal(GateReason.EVIDENCE_MISSING, "no stored TrustedForm exchange shows the certificate retained")


def contact_given(subject: Subject) -> Refusal | None:
    kind = "email" if subject.question.channel == "email" else "phone"
    if subject.record.consumer.get(kind):
        return None
    how = "emailed" if kind == "email" else f"{'called' if subject.question.channel == 'call' else 'texted'}"
    return Refusal(GateReason.CONTACT_NOT_GIVEN, f"the lead gave no {kind}: it cannot be {how} on this consent")


def law_of_the_hour(subject: Subject) -> Refusal | None:
    rules = subject.deps.calling()
    location = locate_place(subject.lead.place)
    verdict = check_contact(rules, location, subject.now, subject.question.channel, subject.contacts)
    subject.facts["calling"] = _calling_facts(verdict)
    for shadow in (v for v in verdict.verdicts if not v.passed and v.mode == "shadow"):
        count_with(Metric.CALLING_RULE_WOULD_REFUSE, Rule=shadow.rule)
    if verdict.allowed or verdict.reason is None:
        return None
    failed = next(v for v in verdict.verdicts if v.refuses and v.reason is verdict.reason)
    words = {
        "location_unknown": "the lead has no valid state, ZIP or US area code: the calling hours at its location "
        "cannot be known",
        "outside_calling_hours": f"{failed.rule} does not allow a {verdict.channel} now at the consumer's location",
        "contact_limit_reached": f"{failed.rule}: {failed.detail.get('counted')} contacts in the last "
        f"{failed.detail.get('per_hours')} hours, at most {failed.detail.get('max_contacts')}",
    }[verdict.reason.value]
    return Refusal(GateReason(verdict.reason.value), words, next_allowed_at=verdict.next_allowed_at)


def _screened(subject: Subject, name: str) -> Refusal | None:
    if subject.question.channel == "email":  # Do-Not-Call, litigators, reassigned numbers: calls and texts
        return None
    checked = screen_check(
        subject.deps, subject.lead, name, number=lambda: subject.number, deadline=subject.screens_deadline
    )
    if checked.check is not None:
        subject.facts.setdefault("screens", []).append(checked.check.model_dump(mode="json", exclude_none=True))
    return Refusal(*checked.failure) if checked.failure else None


def not_on_dnc_list(subject: Subject) -> Refusal | None:
    return _screened(subject, "dnc")


def not_a_litigator(subject: Subject) -> Refusal | None:
    return _screened(subject, "litigator")


def number_not_reassigned(subject: Subject) -> Refusal | None:
    return _screened(subject, "reassigned_number")


CHECKS: tuple[Check, ...] = (
    consent_not_revoked,
    retained,
    matched,
    rules_passed,
    evidence_stored,
    contact_given,
    law_of_the_hour,
    not_on_dnc_list,
    not_a_litigator,
    number_not_reassigned,
)


def _calling_facts(verdict: ContactVerdict) -> dict[str, Any]:
    location = verdict.location
    return {
        "rules_version": verdict.version,
        "location": location.model_dump(mode="json") if location else None,
        "failed": [v.model_dump(mode="json", exclude_none=True) for v in verdict.verdicts if not v.passed],
    }


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
