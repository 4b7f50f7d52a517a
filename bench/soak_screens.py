"""The fault soak's screens of the phone number (bench/soak.py ``--screens``): the stack runs with the number
screens on (litigator: Blacklist Alliance, Do-Not-Call: DNC.com, phone: Twilio Lookup), the buyer's rules
enforce ``litigator``, ``dnc``, ``phone_valid`` and ``line_type``, and each number is scripted in each
provider's simulator, faults drawn call by call (5xx, hangs, 429, malformed 200s) before its answer, a few
numbers listed or refused. Leads share numbers (one hot number among many leads, others among a few), so
that the per-number shared answer and its lease (docs/providers.md) are exercised.

What is checked, per number and provider, from the simulator's request log against the verified chains of
the leads carrying that number (a provider call names the number, not the lead: the leads that could have
made it are those with the number, and one caller at a time holds the number's lease, so calls are matched
to recorded requests in time order):

* every call a provider received has its request on record, in the chain of one of the number's leads,
  written before the call arrived;
* evidence: every stored screen exchange is a call the provider received (with the status it answered),
  and every call received has its exchange, but for answers lost with their caller (a request on record,
  unanswered);
* billed twice: the number answered 200 by a provider more than once (all within the shared-answer window:
  a soak is shorter than a day), other than after a lost answer (a 200 whose exchange the chain lacks, or
  a call that ended, for us, in a timeout although the provider answered it) or an unreadable one (the
  simulator's ``malformed``: a 200 whose body is cut, asked again by design);
* per lead: each answered screen it keeps names a call on record with a 200 exchange (its own, or, shared,
  the lead its ``source_lead_id`` names); a lead whose number is listed is refused (by a screen's reason,
  or by Jornaya's when it is audited first), a lead whose number is clean is never refused by a screen.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from bench.soak_audit import chain_summary
from bench.soak_jornaya import draw_faults

# LOCAL_SCREENS: which provider answers each screen of the number.
SPEC = "litigator=blacklist_alliance,dnc=dncscrub,phone=twilio_lookup"
PROVIDERS = ("blacklist_alliance", "dncscrub", "twilio_lookup")
RULES: dict[str, dict[str, Any]] = {
    "litigator": {"mode": "enforce"},
    "dnc": {"mode": "enforce"},
    "phone_valid": {"mode": "enforce"},
    "line_type": {"mode": "enforce", "refused": ["tollFree", "premium", "pager"]},
}
SCREEN_REASONS = frozenset({"litigator", "on_dnc_list", "phone_invalid", "line_type_refused"})
# Call-by-call answer mix of each provider (the rest: its answer).
FAULT_MIX = (
    (0.20, ("server_error", "bad_gateway", "unavailable")),
    (0.05, ("hang",)),
    (0.05, ("throttled:1",)),
    (0.03, ("malformed",)),
)
# What refuses a number, per provider: (share of numbers, facts, the reason its refusal gives).
LISTED: dict[str, tuple[tuple[float, dict[str, Any], str], ...]] = {
    "blacklist_alliance": ((0.03, {"codes": ["plaintiff-primary"]}, "litigator"),),
    "dncscrub": (
        (0.02, {"national_dnc": "2015-03-01"}, "on_dnc_list"),
        (0.01, {"internal_dnc": True}, "on_dnc_list"),
    ),
    "twilio_lookup": (
        (0.01, {"valid": False}, "phone_invalid"),
        (0.01, {"line_status": "inactive"}, "phone_invalid"),
        (0.02, {"line_type": "tollFree"}, "line_type_refused"),
    ),
}
# How leads share numbers: this share of leads carry a number of their own; of the rest, HOT_SHARE carry
# the one hot number, the others a number drawn from everyone's.
OWN_NUMBER_SHARE = 0.7
HOT_SHARE = 0.3
CLOCK_SLACK_SECONDS = 0.001  # the simulator stamps arrivals to the millisecond, the chain to the microsecond


# ------------------------------------------------------------------------------------------ the script


@dataclass
class NumberScript:
    faults: dict[str, list[str]]  # provider -> its faults, then "ok"
    facts: dict[str, dict[str, Any]]  # provider -> facts
    refusals: set[str]  # the reasons the number's screens refuse it with (empty: clean)


def numbers(rng: random.Random, leads: int) -> list[str]:
    """Each lead's phone number (as posted), some shared: one hot number, the others by chance."""
    own = max(1, round(leads * OWN_NUMBER_SHARE))
    pool = [f"512-{700 + k // 10000:03d}-{k % 10000:04d}" for k in range(own)]
    hot = pool[0]
    chosen = list(pool)
    while len(chosen) < leads:
        chosen.append(hot if rng.random() < HOT_SHARE else rng.choice(pool))
    rng.shuffle(chosen)
    return chosen


def draw_scripts(rng: random.Random, phones: list[str], max_faults: int) -> dict[str, NumberScript]:
    """Each number's script; the hot number (the most shared) is clean, so that its many leads go through every
    screen and share every answer rather than stop at a refusal."""
    hot = Counter(phones).most_common(1)[0][0]
    return {phone: draw_script(rng, max_faults, clean=phone == hot) for phone in dict.fromkeys(phones)}


def draw_script(rng: random.Random, max_faults: int, *, clean: bool = False) -> NumberScript:
    script = NumberScript({}, {}, set())
    for provider in PROVIDERS:
        script.faults[provider] = draw_faults(rng, FAULT_MIX, max_faults)
        roll, threshold = rng.random(), 0.0
        for share, facts, reason in LISTED[provider]:
            threshold += share
            if roll < threshold and not clean:
                script.facts[provider] = facts
                script.refusals.add(reason)
                break
    return script


def script_numbers(urls: dict[str, str], scripts: dict[str, NumberScript]) -> None:
    for provider in PROVIDERS:
        with httpx.Client(base_url=urls[provider], timeout=30, trust_env=False) as sim:
            for number, script in scripts.items():
                body = {"faults": script.faults[provider], "facts": script.facts.get(provider, {})}
                sim.post(f"/_simulator/numbers/{_digits(number)}", json=body).raise_for_status()


def calls_by_number(urls: dict[str, str]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(provider, 10-digit number) -> the calls its simulator received about it (routes of the API only)."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with httpx.Client(timeout=120, trust_env=False) as http:
        for provider in PROVIDERS:
            for request in http.get(f"{urls[provider]}/_simulator/requests").json():
                if request.get("route") is None:
                    continue
                for subject in request.get("subjects") or []:
                    found.setdefault((provider, _digits(subject)), []).append(request)
    return found


# ------------------------------------------------------------------------------------------ the audit


@dataclass
class _Recorded:
    lead_id: str
    call_id: str
    at: datetime
    status: int | None  # the stored exchange's answer status (None: an error, or no exchange)
    answered: bool  # an exchange carries its call id


@dataclass
class ScreensAudit:
    numbers: int = 0
    shared_numbers: int = 0  # numbers carried by more than one lead
    leads_on_shared_numbers: int = 0
    hot_number_leads: int = 0
    listed_numbers: int = 0
    calls: int = 0
    calls_by_provider: dict[str, dict[str, int]] = field(default_factory=dict)  # provider -> status -> calls
    billed: dict[str, int] = field(default_factory=dict)  # provider -> 200s that were not malformed
    answers_shared: int = 0  # screen answers leads took from another lead's call
    refused_by_screen: dict[str, int] = field(default_factory=dict)
    calls_without_request: int = 0
    calls_without_request_leads: list[str] = field(default_factory=list)
    evidence_gaps: int = 0
    evidence_gap_leads: list[str] = field(default_factory=list)
    billed_twice: int = 0
    billed_twice_numbers: list[str] = field(default_factory=list)
    repeats_after_lost_answers: int = 0
    unreadable_answers: int = 0
    lost_answers: int = 0
    answers_without_call: int = 0
    answers_without_call_leads: list[str] = field(default_factory=list)
    wrongly_refused: int = 0
    wrongly_refused_leads: list[str] = field(default_factory=list)
    wrongly_kept: int = 0
    wrongly_kept_leads: list[str] = field(default_factory=list)
    # What stands behind each finding (the figures' JSON): a number's calls matched to its leads' requests, or
    # the lead's record of the call an answer names.
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.calls_without_request
            or self.evidence_gaps
            or self.billed_twice
            or self.answers_without_call
            or self.wrongly_refused
            or self.wrongly_kept
        )

    def line(self) -> str:
        return (
            f"  screens          {self.numbers} numbers ({self.shared_numbers} shared by "
            f"{self.leads_on_shared_numbers} leads, the hot one by {self.hot_number_leads}; {self.listed_numbers} "
            f"listed); {self.calls} calls {self.calls_by_provider}; billed {self.billed}; answers shared "
            f"{self.answers_shared}; refused {self.refused_by_screen}\n"
            f"                   without a stored request {self.calls_without_request} "
            f"{self.calls_without_request_leads[:5]}; evidence gaps {self.evidence_gaps} "
            f"{self.evidence_gap_leads[:5]}; billed twice {self.billed_twice} {self.billed_twice_numbers[:5]} "
            f"(repeats after a lost answer {self.repeats_after_lost_answers}, after an unreadable one "
            f"{self.unreadable_answers}; lost answers {self.lost_answers}); answers without their call "
            f"{self.answers_without_call} {self.answers_without_call_leads[:5]}; refused wrongly "
            f"{self.wrongly_refused} {self.wrongly_refused_leads[:5]}, kept wrongly {self.wrongly_kept} "
            f"{self.wrongly_kept_leads[:5]}"
        )


def audit(
    result: ScreensAudit,
    lead_numbers: dict[str, str],
    scripts: dict[str, NumberScript],
    made: dict[tuple[str, str], list[dict[str, Any]]],
    leads: dict[str, dict[str, Any]],
    entries: dict[str, list[Any]],
    *,
    other_reasons: frozenset[str] = frozenset(),
) -> None:
    """``lead_numbers``: lead id -> the number it was posted with; ``scripts``: number -> its script;
    ``made``: calls_by_number(); ``leads``, ``entries``: the lead store's states and verified chains.
    ``other_reasons``: what else may refuse a listed number's lead first (Jornaya's audit)."""
    by_number: dict[str, list[str]] = {}
    for lead_id, number in lead_numbers.items():
        by_number.setdefault(_digits(number), []).append(lead_id)
    counts = Counter(len(ids) for ids in by_number.values())
    result.numbers = len(by_number)
    result.shared_numbers = sum(n for size, n in counts.items() if size > 1)
    result.leads_on_shared_numbers = sum(size * n for size, n in counts.items() if size > 1)
    result.hot_number_leads = max(counts, default=0)
    result.listed_numbers = sum(bool(s.refusals) for s in scripts.values())
    for (provider, _number), requests in made.items():
        tally = result.calls_by_provider.setdefault(provider, {})
        for request in requests:
            tally[str(request.get("status"))] = tally.get(str(request.get("status")), 0) + 1
            result.calls += 1
    for number, lead_ids in sorted(by_number.items()):
        for provider in PROVIDERS:
            _audit_calls(result, provider, number, lead_ids, made.get((provider, number), []), entries)
    refused: Counter[str] = Counter()
    for lead_id, number in lead_numbers.items():
        state = leads.get(lead_id)
        if state is None:
            continue  # a lost lead: the soak counts it
        _audit_lead(result, lead_id, state, entries, scripts[number], other_reasons, refused)
    result.refused_by_screen = dict(refused)


def _audit_calls(
    result: ScreensAudit,
    provider: str,
    number: str,
    lead_ids: list[str],
    made: list[dict[str, Any]],
    entries: dict[str, list[Any]],
) -> None:
    recorded = [r for lead_id in lead_ids for r in _recorded(lead_id, entries.get(lead_id, []), provider)]
    free = sorted(recorded, key=lambda r: r.at)
    lost_before = paid = 0
    tag = f"{provider} {number[-4:]}"
    timeline: list[dict[str, Any]] = []
    found_before = result.calls_without_request + result.evidence_gaps + result.billed_twice
    for request in sorted(made, key=lambda r: r["time"]):
        arrived = _when(request["time"]).timestamp() + CLOCK_SLACK_SECONDS
        status = request.get("status")
        before = [r for r in free if r.at.timestamp() <= arrived]
        # The request written last before the call arrived, answered as the provider answered it if one is.
        match = next((r for r in reversed(before) if r.status == status), None) or (before[-1] if before else None)
        if match is None:
            result.calls_without_request += 1
            result.calls_without_request_leads.append(f"{tag}: a call at {request['time']} not on record")
        else:
            free.remove(match)
            if match.answered and match.status is not None and match.status != status:
                result.evidence_gaps += 1
                result.evidence_gap_leads.append(
                    f"{match.lead_id}: {provider} answered {status}, exchange {match.call_id} says {match.status}"
                )
        lost = match is not None and (not match.answered or match.status != status)
        timeline.append(
            {
                "time": request["time"],
                "status": status,
                "fault": request.get("fault"),
                "lead": match.lead_id if match else None,
                "call_id": match.call_id if match else None,
                "recorded_at": match.at.isoformat() if match else None,
                "exchange_status": match.status if match else None,
                "answered": match.answered if match else None,
            }
        )
        result.lost_answers += match is not None and not match.answered
        if status != 200:
            continue
        if request.get("fault") == "malformed":
            result.unreadable_answers += 1
            continue
        paid += 1
        result.billed[provider] = result.billed.get(provider, 0) + 1
        if paid > 1:
            if lost_before:
                lost_before -= 1
                result.repeats_after_lost_answers += 1
            else:
                result.billed_twice += 1
                result.billed_twice_numbers.append(f"{tag} (leads {sorted(lead_ids)[:3]}...)")
        lost_before += lost
    for lead_id in lead_ids:  # one call, one exchange: an exchange written twice is not evidence of one call
        stored = Counter(
            x.get("call_id")
            for entry in entries.get(lead_id, [])
            for x in entry.exchanges
            if x.get("provider") == provider
        )
        for call_id in (call_id for call_id, n in stored.items() if n > 1):
            result.evidence_gaps += 1
            result.evidence_gap_leads.append(f"{lead_id}: exchange {call_id} stored {stored[call_id]} times")
    for left in free:  # requests on record never received: only a call that died before it was sent
        if left.answered and left.status is not None:
            result.evidence_gaps += 1
            result.evidence_gap_leads.append(f"{left.lead_id}: exchange {left.call_id} ({left.status}) not received")
    if result.calls_without_request + result.evidence_gaps + result.billed_twice > found_before:
        chains = {lead_id: chain_summary(entries.get(lead_id, [])) for lead_id in lead_ids[:5]}
        result.details.append({"provider": provider, "number": tag, "calls": timeline, "chains": chains})


def _recorded(lead_id: str, chain: list[Any], provider: str) -> list[_Recorded]:
    exchanges = {x.get("call_id"): x for entry in chain for x in entry.exchanges if x.get("provider") == provider}
    found = []
    for entry in chain:
        for call in entry.calls:
            if call.get("provider") != provider:
                continue
            exchange = exchanges.get(call["call_id"])
            status = ((exchange or {}).get("response") or {}).get("status")
            found.append(_Recorded(lead_id, str(call["call_id"]), _when(entry.at), status, exchange is not None))
    return found


def _audit_lead(
    result: ScreensAudit,
    lead_id: str,
    state: dict[str, Any],
    entries: dict[str, list[Any]],
    script: NumberScript,
    other_reasons: frozenset[str],
    refused: Counter[str],
) -> None:
    for screen, kept in (state.get("screens") or {}).items():
        if screen == "leadid" or not kept.get("answered", True):
            continue
        source = kept.get("source_lead_id") or lead_id
        result.answers_shared += source != lead_id
        ok = any(
            x.get("call_id") == kept.get("call_id") and ((x.get("response") or {}).get("status") == 200)
            for entry in entries.get(source, [])
            for x in entry.exchanges
        )
        if not ok:
            result.answers_without_call += 1
            result.answers_without_call_leads.append(f"{lead_id}: {screen} {kept.get('call_id')} from {source}")
            chain = chain_summary(entries.get(source, []))
            result.details.append({"lead": lead_id, "screen": screen, "kept": kept, "source_chain": chain})
    status, reason = state.get("status"), state.get("reason")
    if status == "rejected" and reason in SCREEN_REASONS:
        refused[str(reason)] += 1
    if script.refusals:
        if status in ("retained", "rejected", "expired") and not (
            status == "rejected" and reason in script.refusals | other_reasons
        ):
            result.wrongly_kept += 1
            result.wrongly_kept_leads.append(f"{lead_id}: {status} {reason}, listed for {sorted(script.refusals)}")
    elif status == "rejected" and reason in SCREEN_REASONS:
        result.wrongly_refused += 1
        result.wrongly_refused_leads.append(f"{lead_id}: refused {reason}, its number clean")


def _digits(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return digits[-10:]


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
