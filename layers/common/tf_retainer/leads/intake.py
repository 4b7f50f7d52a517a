"""POST /leads: reserve the lead and its certificate (or, for a lead kept on its LeadiD token alone, its
token), then make the first attempt within the budget."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timedelta
from typing import Any

from tf_retainer.decisions.location import place_from
from tf_retainer.domain import extras
from tf_retainer.domain.contacts import lead_fingerprints, sha1_hex
from tf_retainer.domain.errors import InputRejected, missing_certificate_url
from tf_retainer.domain.lead import Claim, Event, Lead
from tf_retainer.domain.models import LeadAnswer, LeadSubmission, Reason, Status
from tf_retainer.domain.screens import Screen
from tf_retainer.leads import schedule
from tf_retainer.leads.attempt import WRITES_AFTER_CALLS, attempt_budget
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.outcome import reach_revocations, report_outcome
from tf_retainer.leads.screening import screen_then_retain, seal_number
from tf_retainer.ports.leads import CertificateTaken, DuplicateLead, Reserved, StaleAttempt, StoreUnavailable
from tf_retainer.providers.trustedform.certificates import CertificateRef, InvalidCertificateUrl, parse_certificate_url
from tf_retainer.runtime.clock import iso
from tf_retainer.runtime.observability import Metric, count, count_for_vendor, logger
from tf_retainer.runtime.settings import Settings


def submit_lead(deps: Deps, *, vendor: str, submission: LeadSubmission, deadline: float | None = None) -> LeadAnswer:
    """Reserve, retain and answer, every remote call done before the invocation's ``deadline`` (on
    time.monotonic's clock). Raises InputRejected."""
    cert = _certificate(deps, vendor, submission)
    now = deps.clock()
    count(Metric.LEADS_RECEIVED)
    count_for_vendor(vendor, "received")
    settings = deps.settings
    # Leased to this invocation for its first attempt (at most the sync timeout, then its writes): neither
    # the sweeper nor a retry takes it meanwhile.
    held = settings.sync_timeout_seconds + _store_seconds(settings)
    lease = iso(now + timedelta(seconds=held))
    lead = _new_lead(deps, submission, cert, vendor, now).model_copy(update={"lease_until": lease})
    lead = seal_number(deps, lead, submission.phone)  # when the vendor's screen rules will read it
    logger.append_keys(lead_id=lead.lead_id, cert_id=lead.cert_id, leadid_token=lead.leadid_token, vendor=vendor)

    reservation = _reserve(deps, lead, now=now, deadline=deadline)
    if isinstance(reservation, DuplicateLead):
        return _repeat_answer(deps, reservation)
    if isinstance(reservation, CertificateTaken):
        repeat = _repeat_answer_of(lead, reservation.holder)
        return repeat or _certificate_taken(deps, lead, reservation.claim, now, leadid=reservation.leadid)

    budget = attempt_budget(deps, settings.sync_timeout_seconds, deadline)
    try:
        return screen_then_retain(
            deps, lead, attempt=1, budget=budget, actor="intake", phone=submission.phone, email=submission.email
        )
    except StaleAttempt:  # a step was recorded for it meanwhile (nothing was sent): that step's answer
        current = deps.reader.get_lead(lead.lead_id)
        return current.answer() if current else LeadAnswer(lead_id=lead.lead_id, status=Status.PENDING)


def _reserve(
    deps: Deps, lead: Lead, *, now: datetime, deadline: float | None
) -> Reserved | DuplicateLead | CertificateTaken:
    """The reservation, sent once more when the store did not answer and the invocation still has time for it
    and for a pending answer's writes after: a reservation is idempotent (one applied whose answer was lost
    is found by its repeat), and the vendor gets its lead's answer rather than a 503 to send it again."""
    try:
        return deps.writer.reserve(lead, actor="intake", now=now)
    except StoreUnavailable as exc:
        if deadline is None or deadline - time.monotonic() < _store_seconds(deps.settings):
            raise
        logger.info("reservation sent again", extra={"detail": str(exc)})
        return deps.writer.reserve(lead, actor="intake", now=now)


def _store_seconds(settings: Settings) -> float:
    """The time an intake keeps for the store: one more call (the reservation, or its second try) and the writes
    after its remote calls."""
    return (1 + WRITES_AFTER_CALLS) * settings.remote_call_seconds


def _certificate(deps: Deps, vendor: str, submission: LeadSubmission) -> CertificateRef | None:
    """The lead's certificate; None for a lead kept on its LeadiD token alone: only when the vendor's
    consent_records rule is enforced with ``jornaya`` or ``either``, a token is given and Jornaya's audit is
    configured. Otherwise a missing certificate URL is refused as it always was, naming the field."""
    if submission.trustedform_cert_url is None:
        if submission.universal_leadid is None or not takes_token_alone(deps, vendor):
            raise missing_certificate_url()
        return None
    try:
        return parse_certificate_url(submission.trustedform_cert_url)
    except InvalidCertificateUrl as exc:
        raise InputRejected(Reason.INVALID_CERTIFICATE_URL, exc.detail) from exc


def takes_token_alone(deps: Deps, vendor: str) -> bool:
    """Whether the vendor's leads may come without a certificate, kept on their LeadiD token alone: its
    consent_records rule enforced with ``jornaya`` or ``either``, and Jornaya's audit configured."""
    audited = deps.screening is not None and deps.screening.consent_record is not None
    return audited and Screen.LEADID.value in deps.settings.screens and deps.rules(vendor).rules.takes_token_alone()


def _payload_hash(submission: LeadSubmission) -> str:
    # Without a LeadiD token, the content hashes as it did before the field existed (a repeat still matches).
    absent = {"universal_leadid"} if submission.universal_leadid is None else None
    content = submission.model_dump(mode="json", exclude=absent)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _new_lead(deps: Deps, submission: LeadSubmission, cert: CertificateRef | None, vendor: str, now: datetime) -> Lead:
    return Lead(
        # A vendor's own lead id names the lead: every post of it lands on the same one.
        lead_id=deps.keyring.vendor_lead(vendor, submission.lead_id) if submission.lead_id else deps.new_id(),
        vendor=vendor,
        vendor_lead_id=submission.lead_id,
        payload_hash=_payload_hash(submission) if submission.lead_id else None,
        status=Status.RECEIVED,
        cert_id=cert.cert_id if cert else None,
        cert_kind=cert.kind.value if cert else None,
        certificate_url=cert.url if cert else None,
        leadid_token=submission.universal_leadid,
        # one lead per token where the buyer relies on tokens (a lead without a certificate: always)
        leadid_claim=_claims_token(deps, vendor, submission, cert),
        received_at=iso(now),
        deadline=iso(schedule.retain_deadline(cert.kind if cert else None, now, deps.settings)),
        check_after=iso(now + timedelta(seconds=deps.settings.received_grace_seconds)),
        # Contact details only as the SHA-1 fingerprints TrustedForm matches against (sealed when stored).
        match_lead=lead_fingerprints(submission.email, submission.phone),
        # Where the consumer is, for the call gate's law of the hour: state, ZIP, area code (never the number).
        place=place_from(submission.extra_fields, submission.phone),
        **_screened(deps, submission),
    )


def _claims_token(deps: Deps, vendor: str, submission: LeadSubmission, cert: CertificateRef | None) -> bool | None:
    if submission.universal_leadid is None:
        return None
    return True if cert is None or deps.rules(vendor).rules.claims_tokens() else None


def _screened(deps: Deps, submission: LeadSubmission) -> dict[str, Any]:
    """The extra fields as kept: a contact-like one as the consumer index's token of it."""

    def conceal(kind: str, value: str) -> str:
        return extras.CONCEALED_PREFIX + deps.keyring.consumer(kind, sha1_hex(value))

    screened = extras.screen(submission.extra_fields, deps.settings.extra_fields_allowed, conceal)
    return {"lead": screened.kept, "dropped_fields": screened.dropped or None}


def _repeat_answer(deps: Deps, duplicate: DuplicateLead) -> LeadAnswer:
    count(Metric.DUPLICATE_LEADS)
    if not duplicate.same_payload:
        raise InputRejected(Reason.LEAD_ID_CONFLICT, "this lead_id was already sent with different content")
    first = deps.reader.get_lead(duplicate.lead_id)
    if first is None:  # the first post is between its two writes: answer as pending
        return LeadAnswer(lead_id=duplicate.lead_id, status=Status.PENDING)
    return first.answer()


def _repeat_answer_of(lead: Lead, holder: Lead | None) -> LeadAnswer | None:
    """The holder's answer when the certificate's holder is this very lead sent before: the same vendor,
    the same contact details (fingerprints) and no other lead_id. A vendor that lost our answer (a timeout,
    a 502) and posts again, with its lead_id or without, gets that lead's answer, not certificate_reused."""
    if holder is None or holder.vendor != lead.vendor or holder.match_lead != lead.match_lead:
        return None
    if lead.vendor_lead_id not in (None, holder.vendor_lead_id):
        return None
    count(Metric.DUPLICATE_LEADS)
    logger.info("a repeat of a lead already held", extra={"holder_lead_id": holder.lead_id})
    return holder.answer()


def _certificate_taken(deps: Deps, lead: Lead, claim: Claim, now: datetime, *, leadid: bool) -> LeadAnswer:
    """Another lead holds the lead's certificate (``leadid``: its LeadiD token)."""
    owner = claim.lead_id
    policy = deps.rules(lead.vendor).rules.certificate_reuse or deps.settings.certificate_reuse_policy
    if leadid:  # a token is never shared: one lead per token
        policy = "reject"
    final, events = _reuse_outcome(policy, lead, claim, now, leadid=leadid)
    first = deps.writer.record_refusal(final, events=events, now=now)
    if first is not None:  # another delivery of this vendor lead was refused first: its answer stands
        return _repeat_answer(deps, first)
    reach_revocations(deps, final)
    count(Metric.LEADID_TOKENS_REUSED if leadid else Metric.CERTIFICATES_REUSED)
    if claim.vendor != lead.vendor:  # one vendor sending another's certificate or token: worth a look
        count(Metric.CROSS_VENDOR_REUSE)
    report_outcome(final, owner_lead_id=owner)
    return final.answer()


def _reuse_outcome(policy: str, lead: Lead, claim: Claim, now: datetime, *, leadid: bool) -> tuple[Lead, list[Event]]:
    """A lead whose certificate (``leadid``: LeadiD token) another lead holds: shared (the holder's facts) or
    refused."""
    detail = {"owner_lead_id": claim.lead_id, "policy": policy}
    stamps = {"final_at": iso(now), "updated_at": iso(now), "check_after": None}
    if policy == "share":
        shared = lead.model_copy(
            update={
                "status": Status.RETAINED,
                "shared_with_lead_id": claim.lead_id,
                "previously_retained": True,
                # Nothing of the holder's: its match, its masked copy and when TrustedForm stops serving it
                # are facts of another lead (another vendor's, perhaps), not of this one.
                "lead_match": None,
                **stamps,
            }
        )
        return shared, [Event("certificate_shared", "intake", detail), Event("retained", "intake", {"shared": True})]
    reason = Reason.LEADID_REUSED if leadid else Reason.CERTIFICATE_REUSED
    refused = lead.model_copy(
        update={"status": Status.REJECTED, "reason": reason, "owner_lead_id": claim.lead_id, **stamps}
    )
    events = [Event(reason.value, "intake", detail), Event("rejected", "intake", {"reason": reason.value})]
    return refused, events
