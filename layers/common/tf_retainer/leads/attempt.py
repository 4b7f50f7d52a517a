"""One attempt to retain a lead's certificate, shared by intake and the retry worker: ask TrustedForm what
the buyer's rules need, judge, retain a lead the rules keep; then record it (leads/outcome.py)."""

from __future__ import annotations

import time
from dataclasses import replace

from tf_retainer.decisions import judgement
from tf_retainer.decisions.answer import Decision, RetryKind, decide
from tf_retainer.decisions.rulebook import SETTINGS_ONLY
from tf_retainer.decisions.verdicts import Verdict
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import LeadAnswer, Reason, Status
from tf_retainer.leads.calls import Calls
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.outcome import Ruling, apply_decision
from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.ports.services import ApiKeyUnavailable
from tf_retainer.runtime.observability import (
    Metric,
    logger,
    milliseconds,
)

# A call with less time than this left is not worth making: it would time out and still cost a retain.
MIN_CALL_SECONDS = 0.5
# The remote calls that record a call's request before it is sent: the chain's end read, the entry put.
RECORDING_CALLS = 2
# The remote calls an attempt makes after its last TrustedForm call: the chain's end read, the outcome's
# entry, the lead's state, the retry message and the state told it is sent (a final outcome sends none:
# the revocation ledger's read under the lead's two consumer tokens takes their place; the few more a
# revoked consumer's lead makes to write its entry are not budgeted: milliseconds each, as a rule).
WRITES_AFTER_CALLS = 5


def attempt_budget(deps: Deps, limit: float, deadline: float | None) -> float:
    """How long an attempt may take: at most ``limit``, and ending early enough for the invocation's
    ``deadline`` (on time.monotonic's clock; None: no deadline but ``limit``) to hold, however slow each
    remote call is within its bound (``remote_call_seconds``): a call's request recorded past the budget,
    the half second a call sent late still gets, the writes after the last call. 0: no time for a call."""
    if deadline is None:
        return limit
    reserved = (RECORDING_CALLS + WRITES_AFTER_CALLS) * deps.settings.remote_call_seconds + MIN_CALL_SECONDS
    left = deadline - time.monotonic() - reserved
    return 0.0 if left < MIN_CALL_SECONDS else min(limit, left)


def attempt_retain(
    deps: Deps, lead: Lead, *, attempt: int, budget: float, actor: str, calls: Calls | None = None
) -> LeadAnswer:
    """Ask TrustedForm what the buyer's rules need, judge, retain a lead the rules keep; record; schedule.

    ``budget`` (seconds) bounds the whole attempt: both calls of decide_first, key re-reads and the
    calls' requests recorded before they are sent included; the writes after it are the caller's to fit.
    """
    deadline = time.monotonic() + budget
    in_force = deps.rules(lead.vendor)
    asks = judgement.plan(in_force.rules, deps.settings)
    # ``calls``: the attempt's, begun by the screens (leads/screening.py), whose results the rules read too.
    calls = calls or Calls(deps, lead, attempt, actor)
    verdicts: list[Verdict] | None = None
    try:
        if asks.decide_first and not lead.rules_passed:
            decision = _round(deps, calls, deadline, asks.probe)
            if decision.status is Status.RETAINED:  # TrustedForm answered: judge before paying
                decision, verdicts = judgement.judge(in_force.rules, calls.exchanges, calls.lead, decision)
            if decision.status is Status.RETAINED and verdicts is not None:  # the rules keep it: now retain
                judged = decision.facts
                decision = _round(deps, calls, deadline, asks.retain_only)
                decision = replace(decision, facts=judged.model_copy(update=decision.facts.facts()))
                verdicts = judgement.review(in_force.rules, calls.exchanges, calls.lead, verdicts)
        else:
            decision = _round(deps, calls, deadline, asks.retain_only if lead.rules_passed else asks.combined)
            if decision.status is Status.RETAINED and not lead.rules_passed:
                decision, verdicts = judgement.judge(in_force.rules, calls.exchanges, calls.lead, decision)
    except ApiKeyUnavailable as exc:
        logger.error("TrustedForm API key unavailable", extra={"error": str(exc)})
        decision = Decision(Status.PENDING, Reason.ACCOUNT_ERROR, RetryKind.ACCOUNT, alarm=True)
    except StoreUnavailable as exc:  # a call's request could not be recorded: that call was not made
        logger.error("evidence store unavailable before a call", extra={"lead_id": lead.lead_id, "error": str(exc)})
        decision = Decision(Status.PENDING, Reason.STORE_UNAVAILABLE, RetryKind.TRANSIENT, alarm=True)
    for exchange in calls.exchanges:
        milliseconds(Metric.TRUSTEDFORM_LATENCY, exchange.duration_ms)
    # With only the deployment's own policies (masked, lead match) there is nothing more to record than
    # the outcome; a stored rule set's verdicts and version go into the lead and its history.
    ruled = verdicts is not None and (in_force.version != SETTINGS_ONLY or asks.decide_first)
    ruling = Ruling(in_force.version, verdicts or []) if ruled else None
    return apply_decision(deps, lead, decision, calls, attempt=attempt, actor=actor, ruling=ruling)


def _round(deps: Deps, calls: Calls, deadline: float, ask: judgement.Ask) -> Decision:
    """One call (two after a 401 with a rotated key, if the budget allows), and TrustedForm's answer. A call
    the budget has no room for is not made: the lead stays pending (trustedform_timeout), retried later."""
    left = deadline - time.monotonic()
    if left <= 0 or (calls.exchanges and left < MIN_CALL_SECONDS):  # (decide_first's retain: the probe stands)
        return Decision(Status.PENDING, Reason.TRUSTEDFORM_TIMEOUT, RetryKind.TRANSIENT)
    first = _call(deps, calls, deps.api_key(False), deadline, ask)
    # A 401: the key may have been rotated since we cached it: one forced re-read, one more try, if the
    # budget leaves time for both (the read is bounded: wiring.bounded); else the lead stays pending.
    if first.status == 401 and deadline - time.monotonic() >= deps.settings.remote_call_seconds + MIN_CALL_SECONDS:
        key = deps.api_key(True)
        if deadline - time.monotonic() >= MIN_CALL_SECONDS:
            _call(deps, calls, key, deadline, ask)
    return decide(calls.exchanges[-1], deps.settings, retaining=ask.retain)


def _call(deps: Deps, calls: Calls, api_key: str, deadline: float, ask: judgement.Ask) -> Exchange:
    lead, call_id = calls.lead, calls.next_id()
    if lead.cert_id is None:  # kept on its LeadiD token alone (leads/token_only.py): never sent to TrustedForm
        raise ValueError(f"lead {lead.lead_id} has no certificate to retain")
    exchange = deps.trustedform.retain(
        lead.cert_id,
        api_key=api_key,
        reference=lead.lead_id,
        vendor=lead.vendor,
        match_lead=lead.match_lead if ask.match_lead else None,
        insights=ask.insights,
        scans=ask.scans,
        verify=ask.verify,
        retain=ask.retain,
        deadline=deadline,
        attempt=calls.attempt,
        before_send=calls.recorder(call_id),
    )
    return calls.add(exchange, call_id)
