"""The fault soak's audit of what the service did, beyond lost leads (bench/soak.py):

* every call TrustedForm (the simulator) received has its request on record in the lead's chain,
  written before it was sent (a ``calls`` entry with the same body, at or before the call's arrival), and
  every stored exchange's ``call_id`` names a recorded request;
* a certificate answered with retain results more than once: each repeat must follow a call whose
  answer the chain lacks (its caller was killed after TrustedForm answered: at-least-once, the repeat is
  answered ``previously_retained`` and not billed again); any other repeat is a double retain;
* every final lead has exactly one outcome event (Lead Retained / Rejected / Expired) at the subscriber
  queue once de-duplicated on the event's id, of its final status; deliveries beyond that are counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FINAL_EVENTS = {"Lead Retained": "retained", "Lead Rejected": "rejected", "Lead Expired": "expired"}
# The simulator stamps a request's arrival to the millisecond; the chain's entry to the microsecond.
CLOCK_SLACK_SECONDS = 0.001


@dataclass
class Recorded:
    """One request on record: its call id, the body it would send, when its entry was written."""

    call_id: str
    body: str
    at: datetime
    answered: bool  # an exchange of the chain carries its call_id (TrustedForm's answer, or the error met)


@dataclass
class CallAudit:
    calls_without_request: int = 0
    calls_without_request_leads: list[str] = field(default_factory=list)
    exchanges_without_request: int = 0
    exchanges_without_request_leads: list[str] = field(default_factory=list)
    repeat_retains_after_lost_answers: int = 0
    double_retains: int = 0
    double_retain_certs: list[str] = field(default_factory=list)
    # Each double retain's lead, its calls at the simulator and its chain: what the next look starts from.
    double_retain_details: list[dict[str, Any]] = field(default_factory=list)


def recorded_calls(entries: list[Any]) -> list[Recorded]:
    """The requests a lead's (verified) chain entries recorded before sending them."""
    answered = {exchange.get("call_id") for entry in entries for exchange in entry.exchanges}
    return [
        Recorded(
            call_id=str(call["call_id"]),
            body=str((call.get("request") or {}).get("body") or ""),
            at=_when(entry.at),
            answered=call["call_id"] in answered,
        )
        for entry in entries
        for call in entry.calls
    ]


def audit_calls(audit: CallAudit, lead_id: str, cert_id: str, made: list[dict[str, Any]], entries: list[Any]) -> int:
    """One lead's calls at the simulator (``made``) against its chain ``entries``; returns how many of
    them have their request on record but no answer (lost with the process that made them)."""
    recorded = recorded_calls(entries)
    free = list(recorded)
    lost_before = 0  # retained calls so far whose answers the chain lacks
    retains = lost = 0
    for request in sorted(made, key=lambda r: r["time"]):
        arrived = _when(request["time"])
        body = request.get("body_text") or ""
        latest = arrived.timestamp() + CLOCK_SLACK_SECONDS
        match = next((r for r in free if r.body == body and r.at.timestamp() <= latest), None)
        if match is None:
            audit.calls_without_request += 1
            audit.calls_without_request_leads.append(
                f"{lead_id}: a call at {request['time']} not on record{_why(request, free)}"
            )
        else:
            free.remove(match)
            lost += not match.answered
        if not request.get("retained"):
            continue
        retains += 1
        if retains > 1:
            if lost_before > 0:
                lost_before -= 1
                audit.repeat_retains_after_lost_answers += 1
            else:
                audit.double_retains += 1
                audit.double_retain_certs.append(cert_id)
                calls = [[r["time"], r.get("behaviour"), r.get("status"), bool(r.get("retained"))] for r in made]
                detail = {"lead": lead_id, "cert": cert_id, "calls": calls, "chain": chain_summary(entries)}
                audit.double_retain_details.append(detail)
        if match is not None and not match.answered:
            lost_before += 1
    known = {r.call_id for r in recorded}
    for entry in entries:
        for exchange in entry.exchanges:
            if exchange.get("call_id") not in known:
                audit.exchanges_without_request += 1
                audit.exchanges_without_request_leads.append(f"{lead_id}: exchange {exchange.get('call_id')}")
    return lost


def _why(request: dict[str, Any], free: list[Recorded]) -> str:
    """What the simulator saw of a call no recorded request matches, to tell an audit's miss from the service's:
    its answer, whether its body arrived whole, and the nearest request on record with that body (too late?)."""
    body = request.get("body_text")
    same = [r for r in free if r.body == (body or "")]
    nearest = f", the same body recorded at {same[0].at.isoformat()}" if same else ", no request with its body"
    read = "no body read" if body is None else "an empty body" if body == "" else f"a body of {len(body)} characters"
    return f" ({read}, status {request.get('status')}, {request.get('behaviour')}{nearest})"


@dataclass
class EventAudit:
    deliveries: int = 0  # outcome events received (every copy)
    duplicate_deliveries: int = 0  # copies of an event id already received (a consumer drops them)
    final_leads_with_one_event: int = 0
    missing: int = 0
    missing_leads: list[str] = field(default_factory=list)
    extra: int = 0  # final leads with more than one distinct outcome event, or one of another status
    extra_leads: list[str] = field(default_factory=list)


class EventTally:
    """Outcome events read from the subscriber queue, by lead (every copy kept count of)."""

    def __init__(self) -> None:
        self.by_lead: dict[str, dict[str, str]] = {}  # lead id -> event id -> detail type
        self.copies = 0
        self.other = Counter[str]()

    def read(self, sqs: Any, queue_url: str) -> int:
        """Take every message the queue has now (hidden for 12 h: read once); how many were read."""
        read = 0
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=43200
            ).get("Messages", [])
            if not messages:
                return read
            read += len(messages)
            for message in messages:
                self.add(_json(message["Body"]))

    def add(self, event: dict[str, Any]) -> None:
        detail_type = str(event.get("detail-type"))
        if detail_type not in FINAL_EVENTS:
            self.other[detail_type] += 1
            return
        detail = event.get("detail") or {}
        lead_id = str((detail.get("answer") or {}).get("lead_id"))
        self.copies += 1
        self.by_lead.setdefault(lead_id, {})[str(detail.get("event_id"))] = detail_type

    def missing(self, final: dict[str, str]) -> list[str]:
        return [lead_id for lead_id in final if lead_id not in self.by_lead]

    def audit(self, final: dict[str, str]) -> EventAudit:
        """``final``: lead id -> its final status."""
        audit = EventAudit(deliveries=self.copies)
        audit.duplicate_deliveries = self.copies - sum(len(events) for events in self.by_lead.values())
        for lead_id, status in final.items():
            events = self.by_lead.get(lead_id, {})
            if not events:
                audit.missing += 1
                audit.missing_leads.append(f"{lead_id} ({status})")
            elif len(events) > 1 or FINAL_EVENTS[next(iter(events.values()))] != status:
                audit.extra += 1
                audit.extra_leads.append(f"{lead_id} ({status}): {sorted(events.values())}")
            else:
                audit.final_leads_with_one_event += 1
        return audit


def chain_summary(entries: list[Any]) -> list[dict[str, Any]]:
    """A lead's chain as a finding's detail: each entry's time, events, calls, answers and state."""
    return [
        {
            "at": entry.at,
            "events": [event.get("type") for event in entry.events],
            "calls": [call.get("call_id") for call in entry.calls],
            "exchanges": [
                [x.get("call_id"), (x.get("response") or {}).get("status"), x.get("error")] for x in entry.exchanges
            ],
            "state": (entry.state or {}).get("status"),
        }
        for entry in entries
    ]


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _json(body: str) -> dict[str, Any]:
    import json

    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
