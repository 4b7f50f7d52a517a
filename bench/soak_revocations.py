"""The fault soak's consumers who withdraw consent mid-run (bench/soak.py ``--revocations N``): N consumers,
each with LEADS_PER_CONSUMER leads sharing a phone number of its own. BEFORE of each consumer's leads are
posted with the rest of the soak's; then the vendor records each consumer's STOP (a vendor may, for a consumer
of its own leads) while another of its leads is posted (taken before the revocation is recorded, or while),
and its last once the STOP is answered (after).

Three writers may give such a lead its ``consent_revoked`` entry: the revocation itself (the leads the
consumer index held when it asked), the scheduled run in the hour after (those it did not reach: taken while
it was recorded, or missed since), and the lead's own final outcome (a lead taken after the revocation was
honoured). Checked, beyond what the soak checks of every lead, once the scheduled run has had its turn:

* every lead of a revoked consumer holds its revocation's entry exactly once, whoever wrote it;
* no lead of any other consumer holds a ``consent_revoked`` entry;
* every revocation was answered 2xx (after resends, as for a lead: the API's functions may be killed);
* the call gate answers ``consent_revoked`` for every lead of a revoked consumer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

LEADS_PER_CONSUMER = 4
BEFORE = 2  # of each consumer's leads, posted before its revocation
# After the last revocation: the scheduled run looks at a revocation a minute after it (SETTLE), every
# LOCAL_HONOUR_SECONDS (30 s) under the local stack; then a margin.
SETTLE_SECONDS = 60 + 30 + 15
NOT_FOUND_TRIES = 20  # a consumer whose first lead the index does not hold yet (stale-index faults): ask again


@dataclass
class Plan:
    consumers: dict[str, list[int]]  # phone -> its leads' indices
    later: list[int]  # the indices posted around the revocations (Recorder)

    def phone_of(self) -> dict[int, str]:
        return {index: phone for phone, indices in self.consumers.items() for index in indices}


def plan(rng: random.Random, leads: int, consumers: int) -> Plan:
    """``consumers`` phone numbers of their own (303-555-1xxx: the soak's other leads have 512-555 numbers), each
    given LEADS_PER_CONSUMER of the leads at random."""
    if consumers * LEADS_PER_CONSUMER > leads:
        raise ValueError(f"--revocations {consumers} needs {consumers * LEADS_PER_CONSUMER} leads at least")
    chosen = rng.sample(range(leads), consumers * LEADS_PER_CONSUMER)
    grouped = {
        f"303-555-{1000 + number:04d}": sorted(chosen[number * LEADS_PER_CONSUMER : (number + 1) * LEADS_PER_CONSUMER])
        for number in range(consumers)
    }
    later = [index for indices in grouped.values() for index in indices[BEFORE:]]
    return Plan(grouped, later)


@dataclass
class Recorded:
    phone: str
    status: int = 0
    answer: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0  # time.monotonic() of the last answer


Answer = tuple[int, Any]  # a lead's last (status, answer), as bench/soak.py's post_leads gives it
PostLeads = Callable[[list[dict[str, Any]]], list[Answer]]


class Recorder:
    """Each consumer's STOP, posted with the vendor's key while one of its later leads is posted (they race:
    the lead is taken before it is recorded, or while), then its last lead posted once the STOP is answered
    (after it was honoured). A few consumers at once. A 404 (the index does not hold the consumer's first
    leads yet: stale-index faults) or a 5xx is sent again."""

    def __init__(self, api_url: str, vendor_key: str, resends: int, consumers_at_once: int = 3) -> None:
        self.api_url, self.vendor_key, self.resends = api_url, vendor_key, resends
        self.consumers_at_once = consumers_at_once
        self.recorded: list[Recorded] = []

    def run(self, the_plan: Plan, bodies: list[dict[str, Any]], post: PostLeads) -> dict[int, Answer]:
        """The later leads' answers, by index (``post``: the soak's own posting, resends and all)."""
        self.recorded = [Recorded(phone) for phone in the_plan.consumers]
        answers: dict[int, Answer] = {}
        guard = threading.Lock()

        def consumer(number: int) -> None:
            recorded = self.recorded[number]
            racing, *after = the_plan.consumers[recorded.phone][BEFORE:]
            stop = {"id": f"soak-stop-{number}", "phone": recorded.phone, "via": "sms", "message": "STOP"}
            with ThreadPoolExecutor(max_workers=1) as lead_poster:
                raced = lead_poster.submit(post, [bodies[racing]])
                self._record(stop, recorded)
                found = {racing: raced.result()[0]}
            found.update(zip(after, post([bodies[index] for index in after]), strict=True))
            with guard:
                answers.update(found)

        with ThreadPoolExecutor(max_workers=self.consumers_at_once, thread_name_prefix="soak-stop") as pool:
            list(pool.map(consumer, range(len(self.recorded))))
        return answers

    def _record(self, body: dict[str, Any], recorded: Recorded) -> None:
        headers = {"x-api-key": self.vendor_key}
        not_found = failed = 0
        with httpx.Client(base_url=self.api_url, headers=headers, timeout=60, trust_env=False) as http:
            while True:
                try:
                    response = http.post("/revocations", json=body)
                    recorded.status, recorded.answer = response.status_code, _json(response)
                except httpx.HTTPError as exc:
                    recorded.status, recorded.answer = 0, {"error": f"{type(exc).__name__}: {exc}"}
                recorded.at = time.monotonic()
                if recorded.status == 404 and not_found < NOT_FOUND_TRIES:
                    not_found += 1
                elif (recorded.status == 0 or recorded.status >= 500) and failed < self.resends:
                    failed += 1
                else:
                    return
                time.sleep(1.0)

    def last_answer_at(self) -> float:
        return max((recorded.at for recorded in self.recorded), default=0.0)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"error": response.text[:200]}
    return body if isinstance(body, dict) else {"body": body}


@dataclass
class RevocationAudit:
    consumers: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # the last answer's status, by count
    unanswered: list[str] = field(default_factory=list)  # consumers whose STOP ended without a 2xx
    leads: int = 0  # leads of the revoked consumers, stored
    once: int = 0
    missing: list[str] = field(default_factory=list)  # a revoked consumer's lead without the entry
    twice: list[str] = field(default_factory=list)  # ... with it more than once (or another revocation's)
    wrongly_revoked: list[str] = field(default_factory=list)  # another consumer's lead with an entry
    gate_closed: int = 0
    gate_open: list[str] = field(default_factory=list)
    # The revoked consumers' leads by when they were received: before the revocation was recorded, while it
    # was (before it was honoured), after: which writer had to reach each (the revocation, the scheduled
    # run, the lead's own outcome).
    received: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.unanswered or self.missing or self.twice or self.wrongly_revoked or self.gate_open)

    def line(self) -> str:
        return (
            f"  revocations      {self.consumers} consumers' STOPs answered {self.answers}; of their {self.leads} "
            f"leads {self.once} hold the entry once, missing {len(self.missing)} {self.missing[:5]}, twice "
            f"{len(self.twice)} {self.twice[:5]}; other consumers' leads with one {len(self.wrongly_revoked)} "
            f"{self.wrongly_revoked[:5]}; gate closed {self.gate_closed}, open {len(self.gate_open)} "
            f"{self.gate_open[:5]}; leads received {self.received}"
        )


def revoked_entries(entries: list[Any]) -> list[str]:
    """The revocation ids of a lead's consent_revoked entries, one per entry event."""
    return [
        str((event.get("detail") or {}).get("revocation_id"))
        for entry in entries
        for event in entry.events
        if event.get("type") == "consent_revoked"
    ]


def audit(
    the_plan: Plan,
    recorded: list[Recorded],
    lead_ids: dict[int, str],
    entries: dict[str, list[Any]],
    received: dict[str, str] | None = None,
) -> tuple[RevocationAudit, list[str]]:
    """The entries' findings, and the revoked consumers' stored leads (for the gate). ``lead_ids``: each stored
    lead's id by its index (a lost lead is the soak's own finding); ``received``: their received_at, by id."""
    result = RevocationAudit(consumers=len(the_plan.consumers))
    revocation_of: dict[str, str] = {}
    answer_of = {stop.phone: stop.answer for stop in recorded}
    for stop in recorded:
        result.answers[str(stop.status)] = result.answers.get(str(stop.status), 0) + 1
        if stop.status in (200, 201) and stop.answer.get("revocation_id"):
            revocation_of[stop.phone] = str(stop.answer["revocation_id"])
        else:
            result.unanswered.append(f"{stop.phone}: {stop.status} {stop.answer}")
    phone_of = the_plan.phone_of()
    revoked_leads: list[str] = []
    for index, lead_id in sorted(lead_ids.items()):
        found = revoked_entries(entries.get(lead_id, []))
        phone = phone_of.get(index)
        if phone is None:
            if found:
                result.wrongly_revoked.append(lead_id)
            continue
        result.leads += 1
        revoked_leads.append(lead_id)
        when = _phase((received or {}).get(lead_id), answer_of.get(phone, {}))
        result.received[when] = result.received.get(when, 0) + 1
        if found == [revocation_of.get(phone)]:
            result.once += 1
        elif not found:
            result.missing.append(f"{lead_id} (soak-{index})")
        else:
            result.twice.append(f"{lead_id} (soak-{index}): {found}")
    return result, revoked_leads


def _phase(received_at: str | None, answer: dict[str, Any]) -> str:
    """When a lead was received against its consumer's revocation (ISO times in UTC sort as text)."""
    recorded, honoured = answer.get("recorded_at"), answer.get("honored_at")
    if not received_at or not recorded:
        return "unknown"
    if received_at < recorded:
        return "before"
    return "while" if honoured is None or received_at <= honoured else "after"


def check_gates(result: RevocationAudit, lead_ids: list[str], api_url: str, vendor_key: str) -> None:
    """The call gate, asked of each lead (a call), must answer consent_revoked."""
    with httpx.Client(base_url=api_url, headers={"x-api-key": vendor_key}, timeout=60, trust_env=False) as http:
        for lead_id in lead_ids:
            answer = _json(http.get(f"/leads/{lead_id}/contactable", params={"channel": "call"}))
            if answer.get("reason") == "consent_revoked":
                result.gate_closed += 1
            else:
                result.gate_open.append(f"{lead_id}: {answer.get('reason') or answer}")
