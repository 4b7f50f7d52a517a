"""The screens before TrustedForm: a lead's phone number checked by the providers the buyer's screen rules
need (a TCPA litigator, Do-Not-Call lists, a valid line of an accepted type), cheapest first, before the
buyer pays for anything at TrustedForm. An enforced rule that refuses ends the lead there: no TrustedForm
call, no later screen. Shared by intake and the retry worker (``screen_then_retain``).

A provider that fails, times out or throttles: under ``fail_closed`` (the default) the lead waits, pending
(``screen_unavailable``), and is retried like a TrustedForm outage, the screens it had answered kept; under
``fail_open`` it goes on with that screen marked unanswered (its rule cannot judge it). The reassigned-number
check needs the consent date TrustedForm reports (the certificate's created_at): the call gate runs it.

The number: from the request at intake; later (a retry) from the lead's sealed copy (KMS). A lead without a
US number has nothing to screen; its screen rules cannot judge it.

A lead without a certificate (kept on its LeadiD token alone) is never sent to TrustedForm: its token is
always audited (whatever the fault policy: the audit is its only record), then Jornaya's answer decides it
(leads/token_only.py).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from tf_retainer.decisions.answer import Decision, RetryKind
from tf_retainer.decisions.rulebook import RulesInForce
from tf_retainer.decisions.screen_rules import REASONS as SCREEN_REASONS
from tf_retainer.decisions.screen_rules import screens_needed
from tf_retainer.decisions.verdicts import Facts, Verdict, evaluate, refusal
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import LeadAnswer, Reason, Status
from tf_retainer.domain.screens import Screen, ScreenResult, national_number, number_key
from tf_retainer.leads.attempt import attempt_retain
from tf_retainer.leads.calls import Calls
from tf_retainer.leads.consent_record import audit_leadid
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.outcome import Ruling, apply_decision
from tf_retainer.leads.screen_asks import Asked, ask, provider_of, screened_event
from tf_retainer.leads.screen_recovery import recovered
from tf_retainer.leads.token_only import keep_on_token
from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.ports.screening import ScreenFault, SealUnavailable
from tf_retainer.runtime.observability import Metric, count, logger

# Screens the call gate runs (they need what only TrustedForm's answer gives).
AT_CALL_TIME_ONLY = frozenset({Screen.REASSIGNED})
_RETRY = {ScreenFault.THROTTLED: RetryKind.THROTTLED, ScreenFault.ACCOUNT: RetryKind.ACCOUNT}


@dataclass
class Screened:
    calls: Calls  # the attempt's calls, begun: the screens' exchanges, notes and results
    answer: LeadAnswer | None = None  # the lead's answer when a screen decided it (refused, or pending)
    verdicts: list[Verdict] = field(default_factory=list)  # the screen rules' verdicts on the results


def seal_number(deps: Deps, lead: Lead, phone: str | None) -> Lead:
    """The lead with its number's key and sealed copy, when a screen rule of its vendor will read it."""
    national = national_number(phone)
    if deps.screening is None or national is None:
        return lead
    if not any(screen.of_number for screen in _screens(deps, deps.rules(lead.vendor), lead)):
        return lead
    update: dict[str, str] = {"number_key": number_key(deps.keyring, national)}
    try:
        update["sealed_phone"] = deps.screening.seal.seal(national, lead.lead_id)
    except SealUnavailable as exc:  # screened now from the request; a retry or the gate cannot screen it
        count(Metric.CONTACT_SEAL_FAILURES)
        logger.error("phone number not sealed", extra={"lead_id": lead.lead_id, "error": str(exc)})
    return lead.model_copy(update=update)


def screen_then_retain(
    deps: Deps,
    lead: Lead,
    *,
    attempt: int,
    budget: float,
    actor: str,
    phone: str | None = None,
    email: str | None = None,
) -> LeadAnswer:
    """The screens, then (unless they decided the lead) the attempt at TrustedForm, in one ``budget``; for a
    lead without a certificate, Jornaya's audit of its token instead. ``phone``, ``email``: as posted, at
    intake (later: the sealed number, no email)."""
    if deps.screening is None and lead.cert_id is not None:
        return attempt_retain(deps, lead, attempt=attempt, budget=budget, actor=actor)
    deadline = time.monotonic() + budget
    contact = {"phone": phone or "", "email": email or ""}
    screened = screen_lead(deps, lead, attempt=attempt, actor=actor, deadline=deadline, contact=contact)
    if screened.answer is not None:
        return screened.answer
    if lead.cert_id is None:
        return keep_on_token(deps, lead, screened.calls, screened.verdicts, attempt=attempt, actor=actor)
    left = max(0.0, deadline - time.monotonic())
    return attempt_retain(deps, lead, attempt=attempt, budget=left, actor=actor, calls=screened.calls)


def screen_lead(
    deps: Deps, lead: Lead, *, attempt: int, actor: str, deadline: float, contact: dict[str, str] | None = None
) -> Screened:
    calls = Calls(deps, lead, attempt, actor)
    in_force = deps.rules(lead.vendor) if deps.screening is not None else None
    if in_force is None:
        return Screened(calls)
    results = dict(lead.screens or {})
    todo = _todo(deps, lead, in_force)
    if todo and actor != "intake":  # answers an earlier attempt was given and did not live to record
        results.update(recovered(deps, lead))
        todo = _todo(deps, lead.model_copy(update={"screens": results}), in_force)
    decision: Decision | None = None
    verdicts = _screen_verdicts(in_force, results, lead)
    if refusal(verdicts) is not None:  # refused on what is known already (a missing record): nothing to ask
        todo = []
    elif not todo:
        if results != (lead.screens or {}):  # answers recovered from the chain: judged, and kept, with the rest
            calls.lead_update = {"screens": results}
            calls.lead = lead.model_copy(update=calls.lead_update)
        return Screened(calls, verdicts=verdicts)
    try:
        given = national_number((contact or {}).get("phone"))
        number = (lambda: given) if given else functools.cache(functools.partial(unsealed, deps, lead))
        for screen in todo:
            if screen is Screen.LEADID:
                lead_data = {"email": (contact or {}).get("email") or "", "phone": number() or ""}
                asked = audit_leadid(deps, lead, lead_data=lead_data, deadline=deadline, attempt=attempt, record=calls)
            else:
                asked = _ask(deps, lead, screen, number, calls, attempt, deadline)
            if asked.result is None:
                provider = provider_of(deps, screen)
                policy = deps.settings.screen_fault_policies.get(provider.value, "fail_closed")
                if policy == "fail_closed" or (screen is Screen.LEADID and lead.cert_id is None):
                    decision = _pending(asked)
                    break
                results[screen.value] = asked.unanswered(provider, screen, deps.clock())
            else:
                results[screen.value] = asked.result
            if results[screen.value].call_id not in calls.noted:  # (a call's answer is noted as it is recorded)
                calls.notes.append(screened_event(results[screen.value], actor))
            verdicts = _screen_verdicts(in_force, results, lead)
            if refusal(verdicts) is not None:
                break
    except StoreUnavailable as exc:  # a call's request could not be recorded: that call was not made
        logger.error("evidence store unavailable before a screen", extra={"lead_id": lead.lead_id, "error": str(exc)})
        decision = Decision(Status.PENDING, Reason.STORE_UNAVAILABLE, RetryKind.TRANSIENT, alarm=True)
    refused = refusal(verdicts) if decision is None else None
    if refused is not None:
        decision = Decision(Status.REJECTED, refused.reason)
    calls.lead_update = {"screens": results}
    calls.lead = lead.model_copy(update=calls.lead_update)  # what the rules judge after TrustedForm answers
    if decision is None:
        return Screened(calls, verdicts=verdicts)
    # Only a refusal is a ruling: a lead waiting on a provider has not been judged (rules_passed stays unset).
    ruling = Ruling(in_force.version, verdicts) if decision.status is Status.REJECTED else None
    answer = apply_decision(deps, lead, decision, calls, attempt=attempt, actor=actor, ruling=ruling)
    return Screened(calls, answer, verdicts)


def _screens(deps: Deps, in_force: RulesInForce, lead: Lead) -> set[Screen]:
    """The screens the vendor's rules need for this lead; a lead without a certificate, its token's audit
    always (it is what keeps the lead)."""
    configured = {Screen(name) for name in deps.settings.screens}
    certificate = lead.cert_id is not None
    needed = screens_needed(in_force.rules.screen_rules(certificate=certificate), configured)
    return needed if certificate else needed | ({Screen.LEADID} & configured)


def _todo(deps: Deps, lead: Lead, in_force: RulesInForce) -> list[Screen]:
    """The screens to ask now, cheapest first: needed, not call-time only, not answered at an earlier attempt,
    about what the lead has (a number's screens need its number, the LeadiD audit its token)."""
    done = {name for name, result in (lead.screens or {}).items() if result.answered}
    todo = [
        s
        for s in _screens(deps, in_force, lead) - AT_CALL_TIME_ONLY
        if s.value not in done and (lead.number_key if s.of_number else lead.leadid_token)
    ]
    return sorted(todo, key=lambda s: (deps.settings.screen_cost(provider_of(deps, s).value), s.value))


def unsealed(deps: Deps, lead: Lead) -> str | None:
    """The lead's number, from its sealed copy (None when it has none, or KMS would not open it)."""
    if deps.screening is None or not lead.sealed_phone:
        return None
    try:
        return deps.screening.seal.unseal(lead.sealed_phone, lead.lead_id)
    except SealUnavailable as exc:
        count(Metric.CONTACT_SEAL_FAILURES)
        logger.error("phone number not unsealed", extra={"lead_id": lead.lead_id, "error": str(exc)})
        return None


def _ask(
    deps: Deps,
    lead: Lead,
    screen: Screen,
    number: Callable[[], str | None],
    calls: Calls,
    attempt: int,
    deadline: float,
) -> Asked:
    window = timedelta(seconds=deps.settings.screen_cache_seconds(screen.value))
    fresh_after = deps.clock() - window
    return ask(deps, lead, screen, number, fresh_after=fresh_after, deadline=deadline, attempt=attempt, record=calls)


def _screen_verdicts(in_force: RulesInForce, results: dict[str, ScreenResult], lead: Lead) -> list[Verdict]:
    facts = Facts(screens=results, leadid=lead.leadid_token is not None, certificate=lead.cert_id is not None)
    verdicts = evaluate(in_force.rules, facts)
    return [verdict for verdict in verdicts if verdict.rule in SCREEN_REASONS]


def _pending(asked: Asked) -> Decision:
    kind = _RETRY.get(asked.fault or ScreenFault.UNAVAILABLE, RetryKind.TRANSIENT)
    alarm = asked.fault in (ScreenFault.ACCOUNT, ScreenFault.UNEXPECTED)
    return Decision(Status.PENDING, Reason.SCREEN_UNAVAILABLE, kind, retry_after_seconds=asked.retry_after, alarm=alarm)
