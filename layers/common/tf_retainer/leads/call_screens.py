"""The screens the call gate re-checks, because their answers go stale: Do-Not-Call (the national registry
must be scrubbed within 31 days of a call), litigators, and the reassigned-number check (asked with the
date consent was given, the certificate's created_at: the FCC's safe harbour needs exactly that date).

For each enforced rule (``dnc``, ``litigator``, ``reassigned_number``), the answer the gate acts on is the
newest it knows no older than the rule's ``max_age_days``: the lead's own (from intake), or the one every
lead with the number shares; failing both, the gate asks the provider now (the number read from its sealed
copy), one call per number however many leads and dialers ask at once. Each call made here goes into the
lead's evidence chain like intake's: its request before it is sent, its exchange and result after. Shadow
rules never close the gate and never cost a call here.

A provider that cannot answer: ``fail_closed`` closes the gate (``screen_unavailable``: ask again later);
``fail_open`` lets the other checks decide. Each rule is a check of the gate's list (leads/gate.py), asked
for a call or a text, never an email.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tf_retainer.decisions.screen_rules import SCREENS
from tf_retainer.decisions.verdicts import Facts, evaluate
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.lead import Event, Lead
from tf_retainer.domain.models import GateReason, ScreenCheck
from tf_retainer.domain.screens import Provider, Screen, ScreenResult
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.screen_asks import Asked, ask, consent_day, provider_of, screened_event
from tf_retainer.ports.leads import StaleAttempt
from tf_retainer.runtime.clock import parse_iso

ACTOR = "gate"
GATE_REASONS = {
    "dnc": GateReason.ON_DNC_LIST,
    "litigator": GateReason.LITIGATOR,
    "reassigned_number": GateReason.NUMBER_REASSIGNED,
}

Failure = tuple[GateReason, str]


@dataclass
class GateRecord:
    """The gate's calls on the lead's chain: each request before it is sent, each answer after."""

    deps: Deps
    lead: Lead
    answers: list[Exchange] = field(default_factory=list)  # not yet written
    called: bool = False
    noted: bool = False  # what the call found is written

    def request(self, call_id: str, provider: Provider, screen: Screen) -> Any:
        def record(request: dict[str, Any]) -> None:
            detail = {"call_id": call_id, "provider": provider.value, "screen": screen.value}
            call = {"call_id": call_id, "provider": provider.value, "screen": screen.value, "request": request}
            self.deps.writer.add_history(
                self.lead, [Event("calling", ACTOR, detail)], now=self.deps.clock(), calls=[call]
            )

        return record

    def answer(self, exchange: Exchange) -> None:
        self.answers.append(exchange)
        self.called = True

    def write_answers(self, found: ScreenResult) -> None:
        """The answers so far and what the call found, on record now (before the answer is shared)."""
        self.flush(found)

    def flush(self, result: ScreenResult | None) -> None:
        """The answers not written yet, and what the gate's call found (only when it made one)."""
        events = [screened_event(result, ACTOR)] if result is not None and self.called and not self.noted else []
        if not self.answers and not events:
            return
        items = [exchange.to_item() for exchange in self.answers]
        self.deps.writer.add_history(self.lead, events, now=self.deps.clock(), exchanges=items)
        self.answers.clear()
        self.noted = self.noted or bool(events)


@dataclass(frozen=True, slots=True)
class Checked:
    """One screen rule at call time: what the gate acted on (None: the rule is not enforced, or no provider
    answers its screen), and why it closes the gate (None: it does not)."""

    check: ScreenCheck | None = None
    failure: Failure | None = None


def screen_check(deps: Deps, lead: Lead, name: str, *, number: Callable[[], str | None], deadline: float) -> Checked:
    """The enforced screen rule ``name`` (dnc, litigator, reassigned_number) on the lead's number now: its answer
    no older than the rule's max_age_days, asked of the provider if no lead has one (the number from
    ``number()``, read only then; the call within ``deadline``, monotonic). A step recorded for the lead
    meanwhile (StaleAttempt: nothing was sent) closes the gate for now."""
    if deps.screening is None or not lead.number_key:
        return Checked()
    rules = deps.rules(lead.vendor).rules
    rule = rules.active(name)
    configured = {Screen(value) for value in deps.settings.screens}
    screen = next((s for s in SCREENS[name] if s in configured), None)
    if rule is None or rule.mode != "enforce" or screen is None:
        return Checked()
    if screen is Screen.REASSIGNED and consent_day(lead) is None:
        return Checked(ScreenCheck(rule=name, screen=screen.value, passed=None, detail="consent date unknown"))
    try:
        asked = _current(deps, lead, screen, getattr(rule, "max_age_days", 31), number, deadline)
    except StaleAttempt:
        why = "the lead changed while its number was being screened (nothing was sent): ask again"
        return Checked(failure=(GateReason.SCREEN_UNAVAILABLE, why))
    if asked.result is None:
        check = ScreenCheck(rule=name, screen=screen.value, passed=None, detail=asked.detail)
        if deps.settings.screen_fault_policies.get(provider_of(deps, screen).value, "fail_closed") == "fail_closed":
            why = f"the {screen.value} screen could not be asked ({asked.detail or asked.fault}): ask again later"
            return Checked(check, (GateReason.SCREEN_UNAVAILABLE, why))
        return Checked(check)
    [verdict] = [v for v in evaluate(rules, Facts(screens={screen.value: asked.result})) if v.rule == name]
    check = ScreenCheck.of(name, asked.result, verdict.passed)
    if verdict.refuses:
        return Checked(check, (GATE_REASONS[name], _refusal_text(name, asked.result, verdict.detail)))
    return Checked(check)


def _current(deps: Deps, lead: Lead, screen: Screen, max_age_days: int, number: Any, deadline: float) -> Asked:
    fresh_after = deps.clock() - timedelta(days=max_age_days)
    own = (lead.screens or {}).get(screen.value)
    if own is not None and own.answered and parse_iso(own.checked_at) >= fresh_after:
        return Asked(result=own)
    record = GateRecord(deps, lead)
    try:
        asked = ask(deps, lead, screen, number, fresh_after=fresh_after, deadline=deadline, attempt=0, record=record)
    except BaseException:
        record.flush(None)  # what was answered still goes on record
        raise
    record.flush(asked.result)
    return asked


def _refusal_text(name: str, result: ScreenResult, detail: dict[str, Any]) -> str:
    when = f"{result.provider.value}, checked {result.checked_at}"
    if name == "dnc":
        return f"the number is on a Do-Not-Call list ({', '.join(detail.get('lists') or ['wireless'])}; {when})"
    if name == "litigator":
        return f"the number is a known TCPA litigator's ({when})"
    return f"the number was disconnected since consent was given on {result.consent_date} ({when})"
