"""A consumer withdraws consent: recorded in the ledger, honoured at once, applied to every lead of theirs.

1. **Recorded.** The revocation and a notice of it under every token of the consumer (the consumer index's
   keyed token of each spelling of the phone, ``contacts.consumer_fingerprints``, and of the email), in one
   transaction. From that moment the call gate, which reads the ledger on every check (strongly
   consistent), answers ``consent_revoked`` for every lead of that consumer, any vendor, already stored or
   yet to come: the gate is closed before the answer is sent.
2. **Applied.** Every lead of the consumer (the consumer index, queried by those tokens) whose consent was
   not given after the revocation gets a ``consent_revoked`` entry in its evidence chain, published as
   ``Lead Consent Revoked`` so dialers and CRMs stop. Done in the same invocation while its time allows;
   what is left (a batch too large, a crash), the scheduled run finishes (``honour_unhonoured``). A lead
   of the consumer the index did not hold when the revocation asked it (taken while the revocation was
   being recorded, or not yet in the index: on AWS it lags) gets its entry from the scheduled runs of the
   next LATE_WINDOW (``apply_late``). A lead taken after the revocation was honoured, however much later,
   gets it when its final outcome is recorded (``reach_taken_after``, from ``outcome.reach_revocations``). The
   gate, reading the ledger, was closed for each of them all along.
3. **Honoured.** The revocation records when every such lead had it (``honored_at``), beside the legal
   deadline (``honor_by``: ten business days). A revocation not honoured within REVOCATION_HONOUR_SECONDS
   counts RevocationsNotHonoured (alarmed).

A vendor may record a revocation only for a consumer of one of its own leads (it is then applied to every
lead of that consumer: consent is the consumer's, whoever relayed its withdrawal); the buyer's systems and
operators for any consumer. Idempotent on the recorder's own id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tf_retainer.decisions.consent import applies_to_lead, consent_time, honour_deadline, is_opt_out_word
from tf_retainer.domain.consent import CONSENT_REVOKED_EVENT, RevocationAnswer, RevocationRequest
from tf_retainer.domain.contacts import consumer_fingerprints
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.lead import Event, Lead
from tf_retainer.domain.models import FieldError, Reason
from tf_retainer.domain.revocation import (
    MAX_LISTED_LEADS,
    Notice,
    Recorder,
    Revocation,
    Scope,
    consumer_tokens,
    content_hash,
    message_digest,
    revocation_id,
)
from tf_retainer.leads.deps import Deps
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.runtime.observability import Metric, count, logger, milliseconds

SKEW = timedelta(minutes=5)  # how far in the future a client's clock may put a time
# Remote calls one lead's entry takes (the chain's end, the put), and the mark: kept back from the deadline.
CALLS_PER_LEAD = 2
# The scheduled run leaves alone what was recorded this recently: its own invocation may still be applying it.
SETTLE = timedelta(seconds=60)
# How long after a revocation the scheduled runs look for leads of its consumer it did not reach.
LATE_WINDOW = timedelta(hours=1)


def record(
    deps: Deps, request: RevocationRequest, recorder: Recorder, *, deadline: float | None = None
) -> RevocationAnswer:
    """Record a revocation (InputRejected for a bad one) and apply it while ``deadline`` (time.monotonic)
    allows."""
    now = deps.clock()
    expressed = request.expressed_at or now
    if expressed > now + SKEW:
        error = FieldError(field="expressed_at", message="in the future")
        raise InputRejected(Reason.INVALID_REQUEST, "expressed_at is in the future", [error], lead_status=None)
    # The fingerprints only as the index's keyed tokens: they are neither stored nor kept past this line.
    consumer = consumer_tokens(deps.keyring, consumer_fingerprints(request.email, request.phone))
    leads = consumer_leads(deps, consumer)
    if recorder.role == "vendor" and not any(lead.vendor == recorder.name for lead in leads):
        raise InputRejected(Reason.CONSUMER_NOT_FOUND, "no lead of yours carries this phone or email", lead_status=None)
    scope = Scope(brand=request.brand, channels=tuple(request.channels))
    given_at = iso(request.expressed_at) if request.expressed_at else None
    ours = revocation_id(recorder, request.id)
    revocation = Revocation(
        revocation_id=ours,
        client_id=request.id,
        consumer=consumer,
        expressed_at=iso(expressed),
        via=request.via,
        scope=scope,
        recorded_by=recorder,
        recorded_at=iso(now),
        message=request.message,
        keyword=is_opt_out_word(request.message) if request.message is not None else None,
        message_digest=message_digest(deps.keyring, ours, request.message) if request.message is not None else None,
        honor_by=iso(honour_deadline(expressed)),
        content_hash=content_hash(consumer, given_at or "", request.via, scope, request.message),
    )
    stored, new = deps.ledger.record(revocation)
    if not new:
        if stored.content_hash != revocation.content_hash:
            raise InputRejected(
                Reason.REVOCATION_ID_CONFLICT, "this id was already recorded with other content", lead_status=None
            )
        return answer(stored, "repeated")
    count(Metric.REVOCATIONS_RECORDED)
    logger.info("revocation recorded", extra={"revocation_id": stored.revocation_id, "via": stored.via})
    return answer(apply(deps, stored, leads=leads, deadline=deadline) or stored, "recorded")


def consumer_leads(deps: Deps, consumer: dict[str, list[str]]) -> list[Lead]:
    """Every lead indexed under any of the consumer's tokens, once each, oldest first."""
    found: dict[str, Lead] = {}
    for kind, tokens in sorted(consumer.items()):
        for token in tokens:
            for lead in deps.index.consumer_leads_by_token(kind, token):
                found.setdefault(lead.lead_id, lead)
    return sorted(found.values(), key=lambda lead: (lead.received_at, lead.lead_id))


def apply(
    deps: Deps,
    revocation: Revocation,
    *,
    leads: list[Lead] | None = None,
    deadline: float | None = None,
    recovering: bool = False,
) -> Revocation | None:
    """A ``consent_revoked`` entry for every lead of the consumer whose consent came before the revocation,
    then the revocation marked honoured. None when ``deadline`` came first (the scheduled run goes on from
    there). ``recovering``: a lead whose chain already shows this revocation is not written again."""
    leads = consumer_leads(deps, revocation.consumer) if leads is None else leads
    notice = revocation.notice
    affected = [lead for lead in leads if applies_to_lead(notice, consent_at=consent_time(lead))]
    reserve = deps.settings.remote_call_seconds * (CALLS_PER_LEAD + 1)
    for lead in affected:
        if deadline is not None and time.monotonic() + reserve > deadline:
            logger.info("revocation left for the scheduled run", extra={"revocation_id": revocation.revocation_id})
            return None
        if recovering and _already_applied(deps, lead, revocation):
            continue
        event = Event(CONSENT_REVOKED_EVENT, revocation.recorded_by.label, _event_detail(revocation, lead))
        deps.writer.add_history(lead, [event], now=deps.clock(), publish=True)
        count(Metric.LEADS_REVOKED)
    honored = deps.clock()
    lead_ids = [lead.lead_id for lead in affected]
    if deps.ledger.mark_honoured(
        revocation.revocation_id, honored_at=iso(honored), leads=lead_ids[:MAX_LISTED_LEADS], lead_count=len(lead_ids)
    ):
        count(Metric.REVOCATIONS_HONOURED)
        milliseconds(
            Metric.REVOCATION_HONOUR_TIME, (honored - parse_iso(revocation.recorded_at)).total_seconds() * 1000
        )
    return revocation.model_copy(
        update={"honored_at": iso(honored), "leads": lead_ids[:MAX_LISTED_LEADS], "lead_count": len(lead_ids)}
    )


@dataclass
class HonourReport:
    pending: list[str] = field(default_factory=list)  # unhonoured revocations found
    overdue: list[str] = field(default_factory=list)  # of those, recorded longer ago than allowed
    honoured: list[str] = field(default_factory=list)  # applied by this run
    late: list[str] = field(default_factory=list)  # leads a recent revocation reached only in this run


def honour_unhonoured(deps: Deps, *, honour_seconds: float, deadline: float | None = None) -> HonourReport:
    """The scheduled run: every revocation recorded a while ago and not yet applied to all its leads (its
    invocation ran out of time, or died) is applied now; those older than ``honour_seconds`` are counted
    (RevocationsNotHonoured, alarmed)."""
    now = deps.clock()
    report = HonourReport()
    for listed in deps.ledger.unhonoured(recorded_before=now - SETTLE):
        report.pending.append(listed.revocation_id)
        if parse_iso(listed.recorded_at) < now - timedelta(seconds=honour_seconds):
            report.overdue.append(listed.revocation_id)
    count(Metric.REVOCATIONS_NOT_HONOURED, len(report.overdue))
    for pending in report.pending:
        current = deps.ledger.get(pending)
        if current is None or current.honored_at is not None:
            continue
        if apply(deps, current, deadline=deadline, recovering=True) is None:
            return report
        report.honoured.append(pending)
    report.late = apply_late(deps, since=now - LATE_WINDOW, until=now - SETTLE, deadline=deadline)
    return report


def apply_late(deps: Deps, *, since: datetime, until: datetime, deadline: float | None = None) -> list[str]:
    """Each revocation honoured between ``since`` and ``until``, applied to the leads of its consumer it did not
    reach (their entry and event now); the lead ids it wrote. A lead whose chain shows it already is skipped,
    so two runs never write it twice."""
    written: list[str] = []
    reserve = deps.settings.remote_call_seconds * (CALLS_PER_LEAD + 1)
    for revocation in deps.ledger.listed(since=since, until=until):
        if revocation.honored_at is None:  # the unhonoured ones are applied whole (above)
            continue
        reached = set(revocation.leads)
        late = [
            lead
            for lead in consumer_leads(deps, revocation.consumer)
            if lead.lead_id not in reached and applies_to_lead(revocation.notice, consent_at=consent_time(lead))
        ]
        added: list[str] = []
        for lead in late:
            if deadline is not None and time.monotonic() + reserve > deadline:
                break
            if _already_applied(deps, lead, revocation):
                continue
            event = Event(CONSENT_REVOKED_EVENT, revocation.recorded_by.label, _event_detail(revocation, lead))
            deps.writer.add_history(lead, [event], now=deps.clock(), publish=True)
            count(Metric.LEADS_REVOKED)
            added.append(lead.lead_id)
        if added:
            logger.info(
                "revocation applied to leads it had not reached",
                extra={"revocation_id": revocation.revocation_id, "leads": len(added)},
            )
            deps.ledger.add_leads(revocation.revocation_id, added)
            written += added
    return written


def reach_taken_after(deps: Deps, lead: Lead, notices: list[Notice]) -> list[str]:
    """A lead that reached its outcome after revocations of its consumer (``notices``, read by its tokens) were
    honoured: each revocation's entry in its chain, as ``apply`` writes it; the revocation ids written.

    Only a lead received after the revocation was honoured: ``apply`` asked the consumer index before that,
    so it cannot have found this lead, and a lead received before is ``apply``'s or ``apply_late``'s. Within
    the hour after, ``apply_late`` may look for it too: a chain that shows the revocation is not written
    again."""
    written: list[str] = []
    received = parse_iso(lead.received_at)
    for notice in notices:
        if not applies_to_lead(notice, consent_at=consent_time(lead)):
            continue
        revocation = deps.ledger.get(notice.revocation_id)
        if revocation is None or revocation.honored_at is None or received <= parse_iso(revocation.honored_at):
            continue
        if _already_applied(deps, lead, revocation):
            continue
        event = Event(CONSENT_REVOKED_EVENT, revocation.recorded_by.label, _event_detail(revocation, lead))
        deps.writer.add_history(lead, [event], now=deps.clock(), publish=True)
        deps.ledger.add_leads(revocation.revocation_id, [lead.lead_id])
        count(Metric.LEADS_REVOKED)
        written.append(revocation.revocation_id)
    if written:
        logger.info("revocations applied to a lead taken after them", extra={"revocation_ids": written})
    return written


def answer(revocation: Revocation, status: str) -> RevocationAnswer:
    return RevocationAnswer(
        id=revocation.client_id,
        revocation_id=revocation.revocation_id,
        status="recorded" if status == "recorded" else "repeated",
        expressed_at=revocation.expressed_at,
        recorded_at=revocation.recorded_at,
        honor_by=revocation.honor_by,
        honored_at=revocation.honored_at,
        leads=revocation.lead_count if revocation.honored_at else None,
    )


def _event_detail(revocation: Revocation, lead: Lead) -> dict[str, object]:
    """What the lead's chain (and the published event) says of the revocation: never its consumer's tokens or
    words (their keyed digest anchors the ledger's sealed copy), nor which vendor relayed it."""
    return {
        "revocation_id": revocation.revocation_id,
        "expressed_at": revocation.expressed_at,
        "via": revocation.via,
        "brand": revocation.scope.brand,
        "channels": list(revocation.scope.channels),
        "recorded_by": revocation.recorded_by.role,
        "honor_by": revocation.honor_by,
        "message_digest": revocation.message_digest,
        "lead_id": lead.lead_id,
        "vendor": lead.vendor,
        "vendor_lead_id": lead.vendor_lead_id,
        "cert_id": lead.cert_id,  # the event names the consent record it withdraws (None: a LeadiD token's)
    }


def _already_applied(deps: Deps, lead: Lead, revocation: Revocation) -> bool:
    record = deps.reader.read_lead(lead.lead_id)
    return record is not None and any(
        event.type == CONSENT_REVOKED_EVENT and event.detail.get("revocation_id") == revocation.revocation_id
        for event in record.history
    )
