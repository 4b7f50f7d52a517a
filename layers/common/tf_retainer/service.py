"""The use cases: a vendor submits a lead, the retry worker tries again, a vendor looks a lead up.

Handlers parse events and map results; everything that decides or stores happens here, through
the dependencies in :class:`Deps` (real AWS/TrustedForm clients in Lambda, moto and the simulator
in tests).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import boto3
from pydantic import ValidationError

from . import schedule
from .certificates import CertificateRef, InvalidCertificateUrl, parse_certificate_url
from .errors import InputRejected
from .models import FieldError, LeadAnswer, LeadMatch, LeadSubmission, Reason, Status
from .observability import MetricUnit, logger, metrics, single_metric
from .policy import Decision, RetryKind, decide
from .secrets import ApiKeyUnavailable, get_api_key
from .settings import Settings, get_settings
from .store import (
    CertificateTaken,
    DuplicateLead,
    Event,
    LeadStore,
    StaleAttempt,
    iso,
    parse_iso,
)
from .trustedform import Exchange, TrustedFormClient, lead_fingerprints

HTTP_STATUS = {
    Status.RETAINED: 201,
    Status.PENDING: 202,
    Status.RECEIVED: 202,
    Status.REJECTED: 422,
    Status.EXPIRED: 422,
}


@dataclass
class Deps:
    settings: Settings
    store: LeadStore
    trustedform: TrustedFormClient
    sqs: Any
    api_key: Callable[[bool], str]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)


@lru_cache(maxsize=1)
def default_deps() -> Deps:
    """Built once per Lambda container (or process): clients and connection pools are reused."""
    settings = get_settings()
    return Deps(
        settings=settings,
        store=LeadStore(settings.table_name, retention_days=settings.evidence_retention_days),
        trustedform=TrustedFormClient(settings.trustedform_base_url, connect_timeout=settings.connect_timeout_seconds),
        sqs=boto3.client("sqs"),
        api_key=lambda force: get_api_key(settings.trustedform_secret_id, force_fetch=force),
    )


# --- POST /leads -------------------------------------------------------------------------------


def submit_lead(
    deps: Deps, *, vendor: str, body: bytes, content_type: str | None, time_budget: float | None = None
) -> tuple[int, LeadAnswer]:
    """Validate, reserve, retain (within the time budget) and answer. Raises InputRejected."""
    submission = parse_submission(body, content_type, deps.settings.max_body_bytes)
    cert = _certificate(submission)
    now = deps.clock()
    metrics.add_metric(name="LeadsReceived", unit=MetricUnit.Count, value=1)
    _count_for_vendor(vendor, "received")
    state = _new_state(deps, submission, cert, vendor, now)
    vendor_lead = (vendor, submission.lead_id, _payload_hash(submission)) if submission.lead_id else None
    logger.append_keys(lead_id=state["lead_id"], cert_id=cert.cert_id, vendor=vendor)

    reservation = deps.store.reserve(state, cert_id=cert.cert_id, vendor_lead=vendor_lead, actor="intake", now=now)
    if isinstance(reservation, DuplicateLead):
        return _repeat_answer(deps, reservation, vendor)
    if isinstance(reservation, CertificateTaken):
        return _certificate_taken(deps, state, reservation.claim, vendor_lead, now)

    budget = deps.settings.sync_timeout_seconds
    if time_budget is not None:
        budget = max(0.5, min(budget, time_budget))
    answer = attempt_retain(deps, state, attempt=1, timeout=budget, actor="intake")
    return HTTP_STATUS[answer.status], answer


def parse_submission(body: bytes, content_type: str | None, max_bytes: int) -> LeadSubmission:
    if len(body) > max_bytes:
        raise InputRejected(413, Reason.PAYLOAD_TOO_LARGE, f"body is larger than {max_bytes} bytes")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputRejected(400, Reason.INVALID_REQUEST, "body is not UTF-8") from exc
    if media_type == "application/json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputRejected(400, Reason.INVALID_REQUEST, "body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise InputRejected(422, Reason.INVALID_REQUEST, "body must be a JSON object")
    elif media_type == "application/x-www-form-urlencoded":
        data = {}
        for name, value in parse_qsl(text, keep_blank_values=True):
            data.setdefault(name, value)  # a repeated field: the first value wins
    else:
        raise InputRejected(
            415,
            Reason.UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json or application/x-www-form-urlencoded",
        )
    try:
        submission = LeadSubmission.model_validate(data)
    except ValidationError as exc:
        raise _validation_rejection(exc) from exc
    if not submission.has_contact:
        raise InputRejected(422, Reason.MISSING_CONTACT, "email or phone is required: TrustedForm matches every retain")
    return submission


def _validation_rejection(exc: ValidationError) -> InputRejected:
    errors = [
        FieldError(field=".".join(str(p) for p in err["loc"]) or "body", message=err["msg"]) for err in exc.errors()
    ]
    cert_problem = any(e.field in ("trustedform_cert_url", "xxTrustedFormCertUrl") for e in errors)
    reason = Reason.INVALID_CERTIFICATE_URL if cert_problem else Reason.INVALID_REQUEST
    return InputRejected(422, reason, "the lead is not valid", errors)


def _certificate(submission: LeadSubmission) -> CertificateRef:
    try:
        return parse_certificate_url(submission.trustedform_cert_url)
    except InvalidCertificateUrl as exc:
        raise InputRejected(422, Reason.INVALID_CERTIFICATE_URL, exc.detail) from exc


def _payload_hash(submission: LeadSubmission) -> str:
    canonical = json.dumps(submission.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _new_state(deps: Deps, submission: LeadSubmission, cert: CertificateRef, vendor: str, now: datetime) -> dict:
    lead_id = deps.new_id()
    received_at = iso(now)
    deadline = schedule.retain_deadline(cert.kind, now, deps.settings)
    # Contact details are kept only as the SHA-1 fingerprints TrustedForm matched against.
    lead = submission.extra_fields
    fingerprints = lead_fingerprints(submission.email, submission.phone)
    return {
        "lead_id": lead_id,
        "vendor": vendor,
        "vendor_lead_id": submission.lead_id,
        "status": Status.RECEIVED.value,
        "cert_id": cert.cert_id,
        "cert_kind": cert.kind.value,
        "certificate_url": cert.url,
        "received_at": received_at,
        "deadline": iso(deadline),
        "attempts": 0,
        "burned_attempts": 0,
        "match_lead": fingerprints,
        "lead": lead,
        "gsi1pk": f"VENDOR#{vendor}",
        "gsi1sk": f"{received_at}#{lead_id}",
    }


def _repeat_answer(deps: Deps, duplicate: DuplicateLead, vendor: str) -> tuple[int, LeadAnswer]:
    metrics.add_metric(name="DuplicateLeads", unit=MetricUnit.Count, value=1)
    if not duplicate.same_payload:
        raise InputRejected(409, Reason.LEAD_ID_CONFLICT, "this lead_id was already sent with different content")
    state = deps.store.get_state(duplicate.lead_id)
    if state is None:  # the first post is between its two writes: answer as pending
        return 202, LeadAnswer(lead_id=duplicate.lead_id, status=Status.PENDING)
    answer = answer_from_state(state)
    return HTTP_STATUS[answer.status], answer


def _certificate_taken(
    deps: Deps, state: dict, claim: dict, vendor_lead: tuple[str, str, str] | None, now: datetime
) -> tuple[int, LeadAnswer]:
    owner = claim.get("lead_id")
    metrics.add_metric(name="CertificatesReused", unit=MetricUnit.Count, value=1)
    detail = {"owner_lead_id": owner, "policy": deps.settings.certificate_reuse_policy}
    if deps.settings.certificate_reuse_policy == "share":
        facts = {k: claim[k] for k in ("masked", "masked_cert_url", "expires_at", "lead_match") if k in claim}
        changes = {"status": Status.RETAINED.value, "shared_with_lead_id": owner, "previously_retained": True, **facts}
        events = [Event("certificate_shared", "intake", detail), Event("retained", "intake", {"shared": True})]
    else:
        changes = {"status": Status.REJECTED.value, "reason": Reason.CERTIFICATE_REUSED.value, "owner_lead_id": owner}
        events = [
            Event("certificate_reused", "intake", detail),
            Event("rejected", "intake", {"reason": "certificate_reused"}),
        ]
        _count_rejection(Reason.CERTIFICATE_REUSED)
    final = {**state, **changes, "final_at": iso(now), "updated_at": iso(now)}
    shared = deps.settings.certificate_reuse_policy == "share"
    metrics.add_metric(name="LeadsRetained" if shared else "LeadsRejected", unit=MetricUnit.Count, value=1)
    _count_for_vendor(state["vendor"], final["status"])
    logger.info(
        "lead outcome",
        extra={
            "lead_id": state["lead_id"],
            "cert_id": state["cert_id"],
            "status": final["status"],
            "reason": final.get("reason"),
            "owner_lead_id": owner,
        },
    )
    owner_event = Event(
        "certificate_reuse_attempt", "intake", {"by_lead_id": state["lead_id"], "vendor": state["vendor"]}
    )
    deps.store.record_refusal(
        final,
        cert_id=state["cert_id"],
        owner_lead_id=owner,
        vendor_lead=vendor_lead,
        events=events,
        owner_event=owner_event,
        now=now,
    )
    answer = answer_from_state(final)
    return HTTP_STATUS[answer.status], answer


# --- one attempt (intake and retry) -------------------------------------------------------------


def attempt_retain(deps: Deps, state: dict, *, attempt: int, timeout: float, actor: str) -> LeadAnswer:
    """Call TrustedForm once (twice after a 401 with a rotated key), decide, record, schedule."""
    exchanges: list[Exchange] = []
    try:
        exchange = _call(deps, state, attempt, timeout, force_key=False)
        exchanges.append(exchange)
        if exchange.status == 401:
            # The key may have been rotated since we cached it: one forced re-read, one more try.
            exchanges.append(_call(deps, state, attempt, timeout, force_key=True))
        decision = decide(exchanges[-1], deps.settings)
    except ApiKeyUnavailable as exc:
        logger.error("TrustedForm API key unavailable", extra={"error": str(exc)})
        decision = Decision(Status.PENDING, Reason.ACCOUNT_ERROR, RetryKind.ACCOUNT, alarm=True)
    for exchange in exchanges:
        metrics.add_metric(name="TrustedFormLatency", unit=MetricUnit.Milliseconds, value=exchange.duration_ms)
    return apply_decision(deps, state, decision, exchanges, attempt=attempt, actor=actor)


def _call(deps: Deps, state: dict, attempt: int, timeout: float, *, force_key: bool) -> Exchange:
    return deps.trustedform.retain(
        state["cert_id"],
        api_key=deps.api_key(force_key),
        reference=state["lead_id"],
        vendor=state["vendor"],
        match_lead=state["match_lead"],
        insights=deps.settings.insights_properties,
        timeout=timeout,
        attempt=attempt,
    )


def apply_decision(
    deps: Deps, state: dict, decision: Decision, exchanges: list[Exchange], *, attempt: int, actor: str
) -> LeadAnswer:
    now = deps.clock()
    burned = state.get("burned_attempts", 0) + (0 if decision.retry is RetryKind.ACCOUNT else 1)
    changes: dict[str, Any] = {"attempts": attempt, "burned_attempts": burned, "updated_at": iso(now)}
    facts = decision.facts.as_item()
    changes.update(facts)
    events = [_attempt_event(exchange, decision, actor) for exchange in exchanges]
    next_at: datetime | None = None
    status, reason = decision.status, decision.reason
    if decision.is_pending:
        next_at = schedule.plan_next_attempt(
            decision, attempts_so_far=burned, now=now, deadline=parse_iso(state["deadline"]), settings=deps.settings
        )
        if next_at is None:
            spent = decision.retry is not RetryKind.ACCOUNT and burned >= deps.settings.retry_max_attempts
            status = Status.EXPIRED
            reason = Reason.RETRY_LIMIT_REACHED if spent else Reason.RETAIN_WINDOW_CLOSED
            changes["last_pending_reason"] = decision.reason.value if decision.reason else None
    changes.update(
        {
            "status": status.value,
            "reason": reason.value if reason else None,
            "next_attempt_at": iso(next_at) if next_at else None,
            "final_at": iso(now) if status.is_final else None,
        }
    )
    events.append(
        Event(
            status.value,
            actor,
            {"reason": reason.value if reason else None, "next_attempt_at": changes.get("next_attempt_at")},
        )
    )
    claim_changes = {"status": status.value, **facts} if status.is_final else None
    deps.store.record_outcome(
        state["lead_id"],
        cert_id=state["cert_id"],
        expected_attempts=attempt - 1,
        changes=changes,
        events=events,
        exchanges=[exchange.to_item() for exchange in exchanges],
        claim_changes=claim_changes,
        now=now,
    )
    final_state = {k: v for k, v in {**state, **changes}.items() if v is not None}
    _emit_outcome(decision, status, reason, final_state)
    if next_at is not None:
        enqueue_retry(deps, final_state["lead_id"], attempt=attempt + 1, not_before=next_at, now=now)
    return answer_from_state(final_state)


def _attempt_event(exchange: Exchange, decision: Decision, actor: str) -> Event:
    return Event(
        "attempt",
        actor,
        {
            "attempt": exchange.attempt,
            "http_status": exchange.status,
            "error": exchange.error,
            "duration_ms": round(exchange.duration_ms, 1),
            "tf_outcome": decision.facts.outcome,
            "tf_reason": decision.facts.tf_reason,
        },
    )


def _emit_outcome(decision: Decision, status: Status, reason: Reason | None, state: dict) -> None:
    name = {
        Status.RETAINED: "LeadsRetained",
        Status.REJECTED: "LeadsRejected",
        Status.PENDING: "LeadsPending",
        Status.EXPIRED: "LeadsExpired",
    }[status]
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    _count_for_vendor(state["vendor"], status.value)
    if status is Status.REJECTED and reason:
        _count_rejection(reason)
    if decision.retry is RetryKind.ACCOUNT:
        metrics.add_metric(name="AccountErrors", unit=MetricUnit.Count, value=1)
    if decision.facts.masked:
        metrics.add_metric(name="MaskedCertificates", unit=MetricUnit.Count, value=1)
    match = decision.facts.lead_match
    if match is not None and match.success is False and not decision.facts.masked:
        metrics.add_metric(name="LeadMatchFailures", unit=MetricUnit.Count, value=1)
    log = logger.warning if decision.alarm else logger.info
    log(
        "lead outcome",
        extra={
            # explicit, not append_keys: the retry worker runs several leads at once in threads
            "lead_id": state["lead_id"],
            "cert_id": state["cert_id"],
            "status": status.value,
            "reason": reason.value if reason else None,
            "attempt": state.get("attempts"),
            "masked": decision.facts.masked,
        },
    )


def _count_for_vendor(vendor: str, outcome: str) -> None:
    # A metric per vendor and outcome: ~5 series a vendor, fine up to a few hundred vendors.
    with single_metric(
        name="VendorLeads", unit=MetricUnit.Count, value=1, default_dimensions=metrics.default_dimensions
    ) as metric:
        metric.add_dimension(name="Vendor", value=vendor)
        metric.add_dimension(name="Outcome", value=outcome)


def _count_rejection(reason: Reason) -> None:
    with single_metric(
        name="RejectionsByReason", unit=MetricUnit.Count, value=1, default_dimensions=metrics.default_dimensions
    ) as metric:
        metric.add_dimension(name="Reason", value=reason.value)


def _send_retry(deps: Deps, lead_id: str, *, attempt: int, not_before: datetime, now: datetime) -> None:
    deps.sqs.send_message(
        QueueUrl=deps.settings.retry_queue_url,
        MessageBody=json.dumps({"lead_id": lead_id, "attempt": attempt, "not_before": iso(not_before)}),
        DelaySeconds=schedule.sqs_delay(not_before, now),
    )


def enqueue_retry(deps: Deps, lead_id: str, *, attempt: int, not_before: datetime, now: datetime) -> None:
    try:
        _send_retry(deps, lead_id, attempt=attempt, not_before=not_before, now=now)
    except Exception:
        # The lead is recorded pending with next_attempt_at: the operator CLI finds and requeues it.
        metrics.add_metric(name="EnqueueFailures", unit=MetricUnit.Count, value=1)
        logger.exception("could not enqueue retry", extra={"lead_id": lead_id})


# --- answers ------------------------------------------------------------------------------------


def answer_from_state(state: dict) -> LeadAnswer:
    status = Status(state["status"])
    match = state.get("lead_match")
    return LeadAnswer(
        lead_id=state["lead_id"],
        vendor_lead_id=state.get("vendor_lead_id"),
        status=Status.PENDING if status is Status.RECEIVED else status,
        reason=state.get("reason"),
        cert_id=state.get("cert_id"),
        certificate_url=state.get("certificate_url"),
        masked=state.get("masked"),
        masked_cert_url=state.get("masked_cert_url"),
        expires_at=state.get("expires_at"),
        previously_retained=state.get("previously_retained"),
        lead_match=LeadMatch.model_validate(match) if match else None,
        received_at=state.get("received_at"),
    )


# --- GET /leads/{lead_id} ----------------------------------------------------------------------


def get_lead(deps: Deps, *, vendor: str, lead_id: str) -> dict[str, Any]:
    """A vendor's own lead with its history; another vendor's lead does not exist for them."""
    items = deps.store.lead_items(lead_id)
    state = next((item for item in items if item["sk"] == "STATE"), None)
    if state is None or state.get("vendor") != vendor:
        raise InputRejected(404, Reason.LEAD_NOT_FOUND, "no such lead for this vendor")
    history = [
        {"at": item["at"], "event": item["type"], **_public_detail(item.get("detail") or {})}
        for item in items
        if item["sk"].startswith("EVENT#")
    ]
    return {**answer_from_state(state).to_body(), "history": history}


def _public_detail(detail: dict[str, Any]) -> dict[str, Any]:
    # Other vendors' lead ids stay private.
    return {k: v for k, v in detail.items() if k not in ("by_lead_id", "owner_lead_id", "vendor") and v is not None}


# --- the retry worker ----------------------------------------------------------------------------

# An attempt may start a little after its planned time (queue lag); the deadline's safety margin
# (DEADLINE_SAFETY_MINUTES) is what keeps it inside TrustedForm's window.
LATE_GRACE = timedelta(minutes=2)


class UnknownLead(Exception):
    """A retry message names a lead we do not have: a poison message (it goes to the DLQ)."""


class LeaseHeld(Exception):
    """Another delivery of this message is working on the lead: try again after the visibility timeout."""


@dataclass(frozen=True, slots=True)
class RetryMessage:
    lead_id: str
    attempt: int
    not_before: datetime

    @classmethod
    def parse(cls, body: str) -> RetryMessage:
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("lead_id"), str):
            raise ValueError("retry message without a lead_id")
        return cls(lead_id=data["lead_id"], attempt=int(data["attempt"]), not_before=parse_iso(data["not_before"]))


def retry_lead(deps: Deps, message: RetryMessage) -> str:
    """One retry message: wait longer (another hop), skip a duplicate delivery, expire, or attempt.

    Returns what happened (for the batch log). Raises for a message that must be delivered again.
    """
    now = deps.clock()
    if message.not_before - now > timedelta(seconds=1):
        # SQS delays stop at 15 minutes: this was one hop of a longer wait. Raises if it cannot requeue,
        # so the message is not deleted.
        _send_retry(deps, message.lead_id, attempt=message.attempt, not_before=message.not_before, now=now)
        return "deferred"
    lease = deps.settings.retry_timeout_seconds * 2 + 30
    try:
        state = deps.store.begin_attempt(message.lead_id, attempt=message.attempt, now=now, lease_seconds=lease)
    except StaleAttempt:
        return _stale(deps, message)
    if now > parse_iso(state["deadline"]) + LATE_GRACE:
        return expire(deps, state, attempt=message.attempt, reason=Reason.RETAIN_WINDOW_CLOSED, actor="retry").status
    metrics.add_metric(name="RetryAttempts", unit=MetricUnit.Count, value=1)
    answer = attempt_retain(
        deps, state, attempt=message.attempt, timeout=deps.settings.retry_timeout_seconds, actor="retry"
    )
    return answer.status


def _stale(deps: Deps, message: RetryMessage) -> str:
    state = deps.store.get_state(message.lead_id)
    if state is None:
        raise UnknownLead(message.lead_id)
    if Status(state["status"]).is_final or int(state["attempts"]) >= message.attempt:
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        logger.info("duplicate delivery skipped", extra={"lead_id": message.lead_id, "attempt": message.attempt})
        return "duplicate"
    raise LeaseHeld(message.lead_id)


def expire(deps: Deps, state: dict, *, attempt: int, reason: Reason, actor: str) -> LeadAnswer:
    """Close a lead whose window passed, without calling TrustedForm."""
    now = deps.clock()
    changes = {
        "status": Status.EXPIRED.value,
        "reason": reason.value,
        "attempts": attempt,
        "final_at": iso(now),
        "updated_at": iso(now),
    }
    deps.store.record_outcome(
        state["lead_id"],
        cert_id=state["cert_id"],
        expected_attempts=attempt - 1,
        changes=changes,
        events=[Event(Status.EXPIRED.value, actor, {"reason": reason.value, "deadline": state["deadline"]})],
        exchanges=[],
        claim_changes={"status": Status.EXPIRED.value},
        now=now,
    )
    metrics.add_metric(name="LeadsExpired", unit=MetricUnit.Count, value=1)
    logger.warning(
        "lead expired", extra={"lead_id": state["lead_id"], "cert_id": state["cert_id"], "reason": reason.value}
    )
    return answer_from_state({**state, **changes})
