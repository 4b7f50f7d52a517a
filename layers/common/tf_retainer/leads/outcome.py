"""An attempt's outcome recorded with its evidence (the lead's next chain entry, then its state), reported in
metrics and logs, and what comes next scheduled: the retry queue's next message, or the lead expired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tf_retainer.decisions import judgement
from tf_retainer.decisions.answer import Decision, RetryKind, decide
from tf_retainer.decisions.verdicts import Verdict
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.lead import Event, Lead
from tf_retainer.domain.models import LeadAnswer, Reason, Status
from tf_retainer.domain.revocation import lead_tokens
from tf_retainer.leads import schedule
from tf_retainer.leads.calls import Calls
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.queueing import enqueue_retry, queued_check_after
from tf_retainer.ports.leads import StaleAttempt, StoreUnavailable
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.runtime.observability import (
    Metric,
    count,
    count_for_vendor,
    count_rejection,
    count_with,
    logger,
)

OUTCOME_METRIC = {
    Status.RETAINED: Metric.LEADS_RETAINED,
    Status.REJECTED: Metric.LEADS_REJECTED,
    Status.PENDING: Metric.LEADS_PENDING,
    Status.EXPIRED: Metric.LEADS_EXPIRED,
}


@dataclass(frozen=True, slots=True)
class Ruling:
    """The rules' say on a lead: which stored versions decided, and each rule's verdict."""

    version: str
    verdicts: list[Verdict]


def apply_decision(
    deps: Deps,
    lead: Lead,
    decision: Decision,
    calls: Calls,
    *,
    attempt: int,
    actor: str,
    ruling: Ruling | None = None,
) -> LeadAnswer:
    """Record the attempt's step (its events, the answers the chain does not hold yet, the lead as it
    became), report it and schedule what comes next."""
    now = deps.clock()
    exchanges = calls.exchanges
    after = _next_state(deps, lead, decision, attempt, now).model_copy(update=calls.lead_update)
    after = after.model_copy(update=_ruled(deps, lead, after, exchanges, ruling))
    # Each call's own facts (the 401 before a re-read key's 200 says nothing of success).
    own = [decide(ex, deps.settings, retaining=_asked_retain(ex)) for ex in exchanges[:-1]] + [decision]
    events = [*calls.unwritten_notes()]
    events += [_attempt_event(exchange, mine, actor) for exchange, mine in zip(exchanges, own, strict=False)]
    if ruling is not None:
        events.append(_decided_event(ruling, exchanges, actor))
    events.append(
        Event(
            after.status.value,
            actor,
            {"reason": after.reason.value if after.reason else None, "next_attempt_at": after.next_attempt_at},
        )
    )
    items = calls.unwritten_items()
    try:
        deps.writer.record_outcome(lead, after, events=events, exchanges=items, now=now)
    except StaleAttempt:
        return _overtaken(deps, lead, events, items, now)
    except StoreUnavailable as exc:
        return _unrecorded(lead, exc)
    _emit_outcome(decision, after)
    _emit_ruling(after, ruling, operations=after.tf_operations - lead.tf_operations)
    if after.status.is_final:
        reach_revocations(deps, after)
    if after.next_attempt_at is not None:
        enqueue_retry(deps, after, attempt=attempt + 1, not_before=parse_iso(after.next_attempt_at), now=now)
    return after.answer()


def reach_revocations(deps: Deps, lead: Lead) -> None:
    """At a lead's final outcome, whichever path recorded it (an attempt's, an expiry, a refusal or a share at
    reservation): the ledger under the lead's consumer tokens (one eventually consistent Query each: a final outcome
    sends no retry message, so these take its calls' place in the budget); a revocation honoured before
    the lead came gets its entry in the lead's chain now (``revocations.reach_taken_after``). One missed
    here (acknowledged a moment ago, or the table unavailable) is the scheduled run's if the revocation is
    less than an hour old (``apply_late``); an older one stays out of the chain (counted, logged), though
    the gate, reading the ledger, is closed all the same."""
    tokens = lead_tokens(deps.keyring, lead.match_lead)
    if not tokens:
        return
    try:
        notices = deps.ledger.notices(tokens, consistent=False)
        if notices:
            from tf_retainer.leads import revocations  # only a revoked consumer's lead needs the fan-out

            revocations.reach_taken_after(deps, lead, notices)
    except StoreUnavailable as exc:
        count(Metric.STORE_UNAVAILABLE)
        logger.error("revocations not looked up for the lead", extra={"lead_id": lead.lead_id, "error": str(exc)})


def _unrecorded(lead: Lead, exc: StoreUnavailable) -> LeadAnswer:
    """The table stayed unavailable past the store's retries: the step is not recorded (the calls' requests
    are), the lead stays as it was, and the sweeper finds it again at its ``check_after``. The vendor is
    told pending: the lead is kept, not lost, and its outcome follows."""
    count(Metric.STORE_UNAVAILABLE)
    logger.error("outcome not recorded: evidence store unavailable", extra={"lead_id": lead.lead_id, "error": str(exc)})
    return lead.model_copy(update={"status": Status.PENDING, "reason": Reason.STORE_UNAVAILABLE}).answer()


def _ruled(deps: Deps, lead: Lead, after: Lead, exchanges: list[Exchange], ruling: Ruling | None) -> dict[str, Any]:
    """What the rules and TrustedForm's answers change on the lead: verdicts, cost, a better deadline."""
    update: dict[str, Any] = {"tf_operations": lead.tf_operations + sum(map(judgement.billed_operations, exchanges))}
    if ruling is not None:
        refused = next((v for v in ruling.verdicts if v.refuses), None)
        update.update(
            rule_version=ruling.version,
            verdicts=[verdict.as_dict() for verdict in ruling.verdicts],
            rules_passed=refused is None,
            refusal_detail={"rule": refused.rule, **refused.detail}
            if refused and after.reason == refused.reason
            else None,
        )
    if after.status is Status.PENDING and exchanges:
        deadline = judgement.deadline_from(exchanges[0], lead, deps.settings)
        if deadline is not None:
            update["deadline"] = deadline
    return update


def _asked_retain(exchange: Exchange) -> bool:
    return '"retain"' in str(exchange.request.get("body") or "")


def _decided_event(ruling: Ruling, exchanges: list[Exchange], actor: str) -> Event:
    """The evidence of the decision: the rules' versions and verdicts, and what they judged, as received."""
    probe = exchanges[0].json() if exchanges and isinstance(exchanges[0].json(), dict) else {}
    return Event(
        "decided",
        actor,
        {
            "rule_version": ruling.version,
            "verdicts": [verdict.as_dict() for verdict in ruling.verdicts],
            "insights": probe.get("insights"),
            "verify": probe.get("verify"),
        },
    )


def _emit_ruling(lead: Lead, ruling: Ruling | None, *, operations: int) -> None:
    if operations:
        count_with(Metric.TRUSTEDFORM_OPERATIONS, value=operations, Vendor=lead.vendor)
    for verdict in ruling.verdicts if ruling else []:
        if verdict.passed is False and verdict.mode == "shadow":
            count_with(Metric.RULE_WOULD_REFUSE, Rule=verdict.rule)


def _overtaken(
    deps: Deps, lead: Lead, events: list[Event], exchanges: list[dict[str, Any]], now: datetime
) -> LeadAnswer:
    """Another attempt recorded this one's step first (a lease outlived, a duplicate delivery): keep this
    call's evidence all the same, and answer with the lead as it now is."""
    deps.writer.add_history(lead, events, now=now, exchanges=exchanges)
    logger.warning("attempt overtaken by another", extra={"lead_id": lead.lead_id, "attempt": lead.attempts + 1})
    current = deps.reader.get_lead(lead.lead_id)
    return (current or lead).answer()


def _next_state(deps: Deps, lead: Lead, decision: Decision, attempt: int, now: datetime) -> Lead:
    """The lead after this decision: final, or pending with its next attempt planned (or expired)."""
    burned = lead.burned_attempts + (0 if decision.retry is RetryKind.ACCOUNT else 1)
    status, reason = decision.status, decision.reason
    update: dict[str, Any] = {"attempts": attempt, "burned_attempts": burned, "updated_at": iso(now)}
    update.update(decision.facts.facts())
    next_at: datetime | None = None
    if decision.is_pending:
        next_at = schedule.plan_next_attempt(
            decision, attempts_so_far=burned, now=now, deadline=lead.deadline_at, settings=deps.settings
        )
        if next_at is None:
            spent = decision.retry is not RetryKind.ACCOUNT and burned >= deps.settings.retry_max_attempts
            status = Status.EXPIRED
            reason = Reason.RETRY_LIMIT_REACHED if spent else Reason.RETAIN_WINDOW_CLOSED
            update["last_pending_reason"] = decision.reason.value if decision.reason else None
    update.update(
        status=status,
        reason=reason,
        next_attempt_at=iso(next_at) if next_at else None,
        final_at=iso(now) if status.is_final else None,
        # Overdue once its retry message, sent next, should have been handled (enqueue_retry makes it due
        # sooner if the send fails).
        check_after=queued_check_after(deps.settings, next_at) if next_at else None,
    )
    return lead.model_copy(update=update)


def _attempt_event(exchange: Exchange, decision: Decision, actor: str) -> Event:
    return Event(
        "attempt",
        actor,
        {
            "attempt": exchange.attempt,
            "http_status": exchange.status,
            "error": exchange.error,
            "duration_ms": round(exchange.duration_ms, 1),
            "tf_outcome": decision.facts.tf_outcome,
            "tf_reason": decision.facts.tf_reason,
        },
    )


def _emit_outcome(decision: Decision, lead: Lead) -> None:
    if decision.retry is RetryKind.ACCOUNT:
        count(Metric.ACCOUNT_ERRORS)
    if decision.facts.masked:
        count(Metric.MASKED_CERTIFICATES)
    match = decision.facts.lead_match
    if match is not None and match.success is False and not decision.facts.masked:
        count(Metric.LEAD_MATCH_FAILURES)
    report_outcome(lead, alarm=decision.alarm, attempt=lead.attempts, masked=decision.facts.masked)


def report_outcome(lead: Lead, *, alarm: bool = False, **extra: Any) -> None:
    """A lead's outcome in the metrics (by status, by vendor, rejections by reason) and its log line."""
    count(OUTCOME_METRIC[lead.status])
    count_for_vendor(lead.vendor, lead.status.value)
    if lead.status is Status.REJECTED and lead.reason:
        count_rejection(lead.reason)
    (logger.warning if alarm else logger.info)(
        "lead outcome",
        extra={
            # explicit, not append_keys: the retry worker runs several leads at once in threads
            "lead_id": lead.lead_id,
            "cert_id": lead.cert_id,
            "leadid_token": lead.leadid_token,  # the record a lead without a certificate is kept on
            "status": lead.status.value,
            "reason": lead.reason.value if lead.reason else None,
            **extra,
        },
    )


def expire(deps: Deps, lead: Lead, *, attempt: int, reason: Reason, actor: str) -> LeadAnswer:
    """Close a lead whose window passed, without calling TrustedForm."""
    now = deps.clock()
    after = lead.model_copy(
        update={
            "status": Status.EXPIRED,
            "reason": reason,
            "attempts": attempt,
            "final_at": iso(now),
            "updated_at": iso(now),
            "check_after": None,
        }
    )
    event = Event(Status.EXPIRED.value, actor, {"reason": reason.value, "deadline": lead.deadline})
    deps.writer.record_outcome(lead, after, events=[event], exchanges=[], now=now)
    reach_revocations(deps, after)
    count(Metric.LEADS_EXPIRED)
    logger.warning("lead expired", extra={"lead_id": lead.lead_id, "cert_id": lead.cert_id, "reason": reason.value})
    return after.answer()
