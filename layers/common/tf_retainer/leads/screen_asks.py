"""One screen of one lead's number: from the answer every lead with that number shares, or from one call to
the provider, made by one caller at a time, however many leads carry the number (the per-number results'
lease). Used by the screens before TrustedForm (screening.py) and by the call gate (call_screens.py).

A caller that finds the lease taken waits for the holder's answer (polling, inside its own deadline): fifty
leads with one number make one call per screen per window. The call's request is put on record (the lead's
chain, ``record``) before it is sent; a call whose request cannot be recorded is not made. Its answer goes
on record before it is shared (an entry more): no lead relies on an answer a crash could leave unrecorded.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.lead import Event, Lead
from tf_retainer.domain.screens import Provider, Screen, ScreenResult
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.screen_recovery import holders_answer
from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.ports.screening import ResultKey, ScreenAnswer, ScreenFault, Screening, StoredResult
from tf_retainer.ports.services import ApiKeyUnavailable
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.runtime.observability import Metric, MetricUnit, count_with, logger

# A caller waiting on another's call reads the shared result after 0.1 s, 0.2 s, 0.4 s ... at most 1 s apart.
WAIT_FIRST_SECONDS = 0.1
WAIT_MAX_SECONDS = 1.0
MIN_CALL_SECONDS = 0.5
# How long a shared answer is kept: the oldest any rule may act on (max_age_days, at most 31) and a day.
KEEP_DAYS = 32


BeforeSend = Callable[[dict[str, Any]], None]


class Recorder(Protocol):
    """Where a lead's screen calls go on record: each request before it is sent, then its exchange."""

    def request(self, call_id: str, provider: Provider, screen: Screen) -> BeforeSend: ...

    def answer(self, exchange: Exchange) -> None: ...

    def write_answers(self, found: ScreenResult) -> None: ...  # the answers so far and what was found, now


@dataclass(frozen=True, slots=True)
class Asked:
    """A screen's outcome: a result (answered, or shared from another lead's call), or the fault."""

    result: ScreenResult | None = None
    fault: ScreenFault | None = None
    retry_after: float | None = None
    exchange: Exchange | None = None  # the call this lead made (None: no call)
    detail: str | None = None

    def unanswered(self, provider: Provider, screen: Screen, now: datetime) -> ScreenResult:
        """What a lead keeps of a screen its provider did not answer (fail_open)."""
        return ScreenResult(
            screen=screen,
            provider=provider,
            checked_at=iso(now),
            answered=False,
            error=self.detail or (self.fault.value if self.fault else None),
            call_id=self.exchange.call_id if self.exchange else None,
        )


# A call to a provider, given its key, what records the request before it goes, and the call's deadline.
Send = Callable[[Mapping[str, str], BeforeSend, float], ScreenAnswer]


def provider_of(deps: Deps, screen: Screen) -> Provider:
    return Provider(deps.settings.screens[screen.value])


def consent_day(lead: Lead) -> str | None:
    """The date consent was given: the certificate's created_at, as TrustedForm reported it."""
    return parse_iso(lead.created_at).date().isoformat() if lead.created_at else None


def ask(
    deps: Deps,
    lead: Lead,
    screen: Screen,
    number: Callable[[], str | None],
    *,
    fresh_after: datetime,
    deadline: float,
    attempt: int,
    record: Recorder,
) -> Asked:
    """The screen's answer no older than ``fresh_after``: shared, or asked (within ``deadline``, monotonic)
    about the 10-digit ``number()`` (read only when a call is to be made: it may be sealed)."""
    screening = _screening(deps)
    provider = provider_of(deps, screen)
    consent = consent_day(lead) if screen is Screen.REASSIGNED else None
    key = ResultKey(screen, lead.number_key or "", consent)
    owner = f"{lead.lead_id}/{uuid.uuid4().hex[:8]}"
    delay = WAIT_FIRST_SECONDS
    stopped = _claim(deps, screening, key, owner, fresh_after, deadline)
    while stopped is not None and stopped.lapsed_owner is None:
        shared = _fresh(stopped, fresh_after)
        if shared is not None:
            count_with(Metric.SCREENS_SHARED, Screen=screen.value)
            return Asked(result=_shared(shared, lead))
        if stopped.lease_until is None or parse_iso(stopped.lease_until) < deps.clock():
            stopped = _claim(deps, screening, key, owner, fresh_after, deadline)  # no one asking now: ask
            continue
        if deadline - time.monotonic() < delay + MIN_CALL_SECONDS:
            return Asked(fault=ScreenFault.TIMEOUT, detail="another lead's call for this number did not end in time")
        time.sleep(delay)  # another caller is asking: wait for its answer (reads, not writes)
        delay = min(WAIT_MAX_SECONDS, delay * 2)
        stopped = screening.results.read(key) or StoredResult(None)
    try:
        left = holders_answer(deps, stopped.lapsed_owner, key, fresh_after, owner, _expires(deps)) if stopped else None
        if left is not None:  # the lease's last holder died after putting it on record: shared, not bought again
            return Asked(result=_shared(left, lead))
        national = number()
        if national is None:
            screening.results.release(key, owner=owner)
            return Asked(fault=ScreenFault.UNAVAILABLE, detail="the number could not be read back")
        return _call(deps, screening, lead, key, owner, provider, national, deadline, attempt, record)
    except BaseException:
        screening.results.release(key, owner=owner)
        raise


def _call(
    deps: Deps,
    screening: Screening,
    lead: Lead,
    key: ResultKey,
    owner: str,
    provider: Provider,
    national: str,
    deadline: float,
    attempt: int,
    record: Recorder,
) -> Asked:
    """The provider asked about the number, the answer stored for every lead with it; the lease released
    either way."""
    consent_date = date.fromisoformat(key.consent_date) if key.consent_date else None

    def send(credentials: Mapping[str, str], before_send: BeforeSend, call_deadline: float) -> ScreenAnswer:
        return screening.adapters[provider].check(
            key.screen,
            national,
            credentials=credentials,
            consent_date=consent_date,
            deadline=call_deadline,
            attempt=attempt,
            before_send=before_send,
        )

    asked = call_provider(
        deps,
        lead,
        key.screen,
        provider,
        send,
        consent_date=key.consent_date,
        deadline=deadline,
        attempt=attempt,
        record=record,
    )
    if asked.result is None:
        screening.results.release(key, owner=owner)
        return asked
    try:
        record.write_answers(asked.result)  # on record before another lead relies on it
        stored = asked.result.model_copy(update={"source_lead_id": lead.lead_id})
        screening.results.store(key, stored, owner=owner, expires=_expires(deps))
    except StoreUnavailable as exc:  # this lead has its answer; the next lead with the number asks again
        logger.warning("screen result not shared", extra={"screen": key.screen.value, "error": str(exc)})
        with contextlib.suppress(StoreUnavailable):
            screening.results.release(key, owner=owner)
    return asked


def call_provider(
    deps: Deps,
    lead: Lead,
    screen: Screen,
    provider: Provider,
    send: Send,
    *,
    consent_date: str | None,
    deadline: float,
    attempt: int,
    record: Recorder,
) -> Asked:
    """One call to the provider (again once, with the key read afresh, after a refused key: it may have been
    rotated), on record, counted and priced."""
    screening = _screening(deps)
    asked = Asked(fault=ScreenFault.TIMEOUT, detail="no time left for the call")
    for force in (False, True):
        if deadline - time.monotonic() < MIN_CALL_SECONDS + (deps.settings.remote_call_seconds if force else 0):
            break
        try:
            credentials = screening.credentials(provider, force)
        except ApiKeyUnavailable as exc:
            logger.error("screening key unavailable", extra={"provider": provider.value, "error": str(exc)})
            asked = Asked(fault=ScreenFault.ACCOUNT, detail=str(exc))
            break
        asked = _one_call(deps, lead, screen, provider, send, credentials, consent_date, deadline, attempt, record)
        if asked.fault is not ScreenFault.ACCOUNT:
            break
    return asked


def _one_call(
    deps: Deps,
    lead: Lead,
    screen: Screen,
    provider: Provider,
    send: Send,
    credentials: Mapping[str, str],
    consent_date: str | None,
    deadline: float,
    attempt: int,
    record: Recorder,
) -> Asked:
    call_id = f"{attempt}.{screen.value}/{uuid.uuid4().hex[:8]}"
    call_deadline = min(deadline, time.monotonic() + deps.settings.screen_call_seconds)
    answer = send(credentials, record.request(call_id, provider, screen), call_deadline)
    exchange = answer.exchange
    exchange.call_id = call_id
    exchange.cost = deps.settings.screen_cost(provider.value) if answer.findings is not None else 0.0
    record.answer(exchange)
    outcome = answer.fault.value if answer.fault else "answered"
    count_with(Metric.SCREEN_CALLS, Provider=provider.value, Vendor=lead.vendor, Outcome=outcome)
    if exchange.cost:
        count_with(
            Metric.SCREEN_COST, exchange.cost, unit=MetricUnit.NoUnit, Provider=provider.value, Vendor=lead.vendor
        )
    if answer.findings is None:
        if answer.fault in (ScreenFault.ACCOUNT, ScreenFault.UNEXPECTED):
            logger.warning("screen not answered", extra={"provider": provider.value, "fault": outcome})
        return Asked(fault=answer.fault, retry_after=answer.retry_after, exchange=exchange)
    result = ScreenResult(
        screen=screen,
        provider=provider,
        checked_at=iso(deps.clock()),
        findings=answer.findings,
        consent_date=consent_date,
        call_id=call_id,
        cost=exchange.cost,
    )
    return Asked(result=result, exchange=exchange)


def _claim(
    deps: Deps, screening: Screening, key: ResultKey, owner: str, fresh_after: datetime, deadline: float
) -> StoredResult | None:
    """The lease for this caller's call (None), or what stopped it: a fresh answer, or another's lease."""
    now = deps.clock()
    held = max(0.0, deadline - time.monotonic()) + 2 * deps.settings.remote_call_seconds
    return screening.results.claim(
        key,
        owner=owner,
        now=iso(now),
        until=iso(now + timedelta(seconds=held)),
        fresh_after=iso(fresh_after),
        expires=int((now + timedelta(days=KEEP_DAYS)).timestamp()),
    )


def screened_event(result: ScreenResult, actor: str) -> Event:
    return Event("screened", actor, {"screen": result.screen.value, **result.summary()})


def _screening(deps: Deps) -> Screening:
    if deps.screening is None:
        raise RuntimeError("no screening provider is configured (SCREENS)")
    return deps.screening


def _fresh(stored: StoredResult, fresh_after: datetime) -> ScreenResult | None:
    result = stored.result
    if result is None or not result.answered or parse_iso(result.checked_at) < fresh_after:
        return None
    return result


def _shared(result: ScreenResult, lead: Lead) -> ScreenResult:
    """Another lead's answer as this lead keeps it: where the call is on record, at no cost to this lead."""
    if result.source_lead_id == lead.lead_id:
        return result.model_copy(update={"source_lead_id": None})
    return result.model_copy(update={"cost": 0.0})


def _expires(deps: Deps) -> int:
    return int((deps.clock() + timedelta(days=KEEP_DAYS)).timestamp())
