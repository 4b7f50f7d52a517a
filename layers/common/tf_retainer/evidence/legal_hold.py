"""Legal hold: a held lead's evidence survives its retention expiry until the hold is released.

A hold covers one lead, every lead of a consumer (an email or phone, any vendor, any usual spelling; kept
as the consumer index's keyed tokens of its fingerprints) or every lead of a vendor. Setting it (the
operator CLI) covers the leads stored so far; ``apply_active_holds`` (HoldFunction, daily) covers the
leads that arrived since - found through the consumer indexes (gsi3, gsi4) and the vendor index (gsi1) -
and takes out of TTL the items a covered lead got since it was last checked (an open lead's attempts and
outcome; new items carry an expiry years away, so daily is ample). Each covered lead gets ``hold_set``
(then ``hold_released``) in its history.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tf_retainer.domain.lead import Event, Lead
from tf_retainer.ports.evidence import Hold, Holds, Member
from tf_retainer.ports.leads import LeadIndex, Leads
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.runtime.observability import logger

# Leads are looked for from this long before the previous look: a lead stored while it ran (its
# received_at a little earlier than its write) is found the next time.
LOOKBACK = timedelta(days=1)
# A covered lead is checked again this often even when final (an operator's note or a late exchange
# adds items to a final lead): any new item expires a whole retention period later, so any interval
# well under it is safe; an open lead is checked every run until it is final. A held lead archived since
# its last check is not left waiting: the archiver holds its object itself (evidence/archive.py).
RESWEEP_AFTER = timedelta(days=90)
# A run stops taking on leads with less than this left (one lead's items take well under a second).
RESERVE_SECONDS = 30.0
# An item whose original expiry passed during the hold gets this long after the release.
RELEASE_GRACE = timedelta(days=30)


CONSUMER_SCOPES = ("email", "phone")


class HoldError(Exception):
    """The hold asked for cannot be set or released (exit 1 in the CLI)."""


@dataclass
class ApplyReport:
    hold_id: str
    covered: list[str] = field(default_factory=list)  # leads newly covered
    by_value: dict[str, list[str]] = field(default_factory=dict)  # the leads newly covered under each value
    swept: int = 0  # covered leads checked again
    items_held: int = 0  # items taken out of TTL
    complete: bool = True  # False: out of time, the next run goes on from where this one stopped


def new_hold(*, scope: str, value: str, reason: str, actor: str, now: datetime, also: Sequence[str] = ()) -> Hold:
    """A hold by lead id or vendor; ``consumer_hold`` for one by email or phone."""
    if scope in CONSUMER_SCOPES:
        raise HoldError("a hold by email or phone is made by consumer_hold (it keeps keyed tokens)")
    if also:
        raise HoldError("only a hold by email or phone covers other spellings")
    return _hold(scope, value, [], reason=reason, actor=actor, now=now, tokens=False)


def consumer_hold(
    index: LeadIndex, *, kind: str, fingerprints: Sequence[str], reason: str, actor: str, now: datetime
) -> Hold:
    """A hold on every lead of a consumer: ``fingerprints`` are the contact's SHA-1 fingerprints (its
    spellings, the one given first), kept as the consumer index's keyed tokens of them, once each."""
    if kind not in CONSUMER_SCOPES or not fingerprints:
        raise HoldError("a consumer hold needs an email or phone fingerprint")
    tokens = list(dict.fromkeys(index.consumer_token(kind, fingerprint) for fingerprint in fingerprints))
    return _hold(kind, tokens[0], tokens[1:], reason=reason, actor=actor, now=now, tokens=True)


def _hold(scope: str, value: str, also: list[str], *, reason: str, actor: str, now: datetime, tokens: bool) -> Hold:
    if not reason.strip():
        raise HoldError("a hold needs a reason (the case or matter reference)")
    return Hold(
        hold_id=secrets.token_hex(8),
        scope=scope,
        value=value,
        also=also,
        tokens=tokens,
        reason=reason,
        set_by=actor,
        set_at=iso(now),
    )


# Puts an S3 legal hold on an archived object (the archive bucket's legal_hold), given its s3:// URI.
ArchiveLock = Callable[[str], None]


def set_hold(
    leads: Leads, holds: Holds, hold: Hold, *, now: datetime, lock_archive: ArchiveLock | None = None
) -> ApplyReport:
    """Record the hold, then cover every lead it matches now."""
    if hold.scope == "lead" and leads.reader.get_lead(hold.value) is None:
        raise HoldError(f"lead {hold.value} not found")
    holds.put_hold(hold)
    return apply_hold(leads, holds, hold, now=now, lock_archive=lock_archive)


def apply_active_holds(
    leads: Leads,
    holds: Holds,
    *,
    now: datetime,
    time_left: Callable[[], float] = lambda: float("inf"),
    lock_archive: ArchiveLock | None = None,
) -> list[ApplyReport]:
    """The scheduled step: every active hold covers the leads that arrived since its last run.

    ``time_left``: seconds this run may still use; when it runs low the run stops between two leads and
    the next run does the rest (a hold's look for new leads is marked done only once it completed)."""
    reports = [
        apply_hold(leads, holds, hold, now=now, time_left=time_left, lock_archive=lock_archive)
        for hold in holds.active_holds()
    ]
    logger.info(
        "holds applied",
        extra={
            "holds": len(reports),
            "leads_covered": sum(len(r.covered) for r in reports),
            "leads_swept": sum(r.swept for r in reports),
            "items_held": sum(r.items_held for r in reports),
            "complete": all(r.complete for r in reports),
        },
    )
    return reports


def apply_hold(
    leads: Leads,
    holds: Holds,
    hold: Hold,
    *,
    now: datetime,
    time_left: Callable[[], float] = lambda: float("inf"),
    lock_archive: ArchiveLock | None = None,
) -> ApplyReport:
    report = ApplyReport(hold.hold_id)
    members = {member.lead_id: member for member in holds.members(hold.hold_id)}
    since = parse_iso(hold.applied_at) - LOOKBACK if hold.applied_at else None
    for value, lead in _matches(leads, hold, since=since):
        if lead.lead_id in members:
            continue
        if time_left() < RESERVE_SECONDS:
            report.complete = False
            return report
        # History first: its new items are then held with the rest. A crash before the member is
        # recorded only repeats the event on the next run.
        leads.writer.add_history(lead, [hold_event("hold_set", hold, actor=hold.set_by)], now=now)
        member = Member.of(lead, now)
        holds.add_member(hold.hold_id, member)
        report.items_held += _sweep(holds, hold.hold_id, member, now=now, lock_archive=lock_archive)
        report.covered.append(lead.lead_id)
        report.by_value.setdefault(value, []).append(lead.lead_id)
    for member in members.values():
        if member.released_at is None and _due(member, now):
            if time_left() < RESERVE_SECONDS:
                report.complete = False
                break
            report.items_held += _sweep(holds, hold.hold_id, member, now=now, lock_archive=lock_archive)
            report.swept += 1
    if report.complete:
        holds.mark_applied(hold.hold_id, now)
    return report


def release_hold(
    leads: Leads,
    holds: Holds,
    hold_id: str,
    *,
    actor: str,
    reason: str | None,
    now: datetime,
    retention: timedelta,
    grace: timedelta = RELEASE_GRACE,
) -> tuple[Hold, int]:
    """Release the hold: its leads' items get their expiry back unless another hold covers them.

    Released again, it finishes what an interrupted release left (leads already released are skipped).
    Returns the hold as it was and how many leads were released now.
    """
    hold = holds.get_hold(hold_id)
    if hold is None:
        raise HoldError(f"hold {hold_id} not found")
    expiry = int((now + retention).timestamp())
    holds.release(hold_id, actor=actor, reason=reason, now=now, ttl=expiry)
    released = 0
    for member in holds.members(hold_id):
        if member.released_at is not None:
            continue
        lead = leads.reader.get_lead(member.lead_id)
        if lead is not None:
            leads.writer.add_history(
                lead, [hold_event("hold_released", hold, actor=actor, release_reason=reason)], now=now
            )
        holds.release_items(member, hold_id, now=now, grace=grace)
        holds.mark_member_released(hold_id, member.lead_id, now=now, ttl=expiry)
        released += 1
    return hold, released


def matching_leads(leads: Leads, hold: Hold, *, since: datetime | None) -> list[Lead]:
    """The leads a hold covers (received since ``since``, when the index can tell): no Scan."""
    return [lead for _, lead in _matches(leads, hold, since=since)]


def _matches(leads: Leads, hold: Hold, *, since: datetime | None) -> list[tuple[str, Lead]]:
    """The leads a hold covers, each with the value it was found under (a consumer hold: which of its
    values), once each."""
    if hold.scope == "lead":
        lead = leads.reader.get_lead(hold.value)
        return [(hold.value, lead)] if lead else []
    if hold.scope in CONSUMER_SCOPES:
        # A consumer's leads are few: the index is read whole for each spelling, each lead's state once.
        found: dict[str, tuple[str, Lead]] = {}
        find = leads.index.consumer_leads_by_token if hold.tokens else leads.index.consumer_leads
        for value in [hold.value, *hold.also]:
            for lead in find(hold.scope, value):
                found.setdefault(lead.lead_id, (value, lead))
        return sorted(found.values(), key=lambda match: (match[1].received_at, match[1].lead_id))
    if hold.scope == "vendor":
        since = since or datetime.fromtimestamp(0, UTC)
        return [(hold.value, lead) for lead in leads.index.vendor_leads(hold.value, since=since)]
    raise HoldError(f"unknown hold scope {hold.scope!r}")


def hold_event(kind: str, hold: Hold, *, actor: str, release_reason: str | None = None) -> Event:
    # The scope's value is a lead id, a keyed token (an older hold's: a fingerprint) or a vendor: never a
    # clear contact detail.
    detail: dict[str, Any] = {"hold_id": hold.hold_id, "scope": hold.scope, "value": hold.value, "reason": hold.reason}
    if hold.also:
        detail["also"] = hold.also
    if release_reason:
        detail["release_reason"] = release_reason
    return Event(kind, actor, detail)


def _due(member: Member, now: datetime) -> bool:
    return member.swept_at is None or member.lead_open or parse_iso(member.swept_at) <= now - RESWEEP_AFTER


def _sweep(
    holds: Holds,
    hold_id: str,
    member: Member,
    *,
    now: datetime,
    lock_archive: ArchiveLock | None = None,
) -> int:
    held = holds.hold_items(member, hold_id)
    standing = holds.standing(member.lead_id)
    # An archived lead's older entries may be only in its archived object: that is held too.
    archived_to = standing.archived_to if standing else None
    if archived_to and lock_archive is not None:
        lock_archive(archived_to)
    elif archived_to:
        logger.warning("held lead's archive object not locked (no archive access)", extra={"lead_id": member.lead_id})
    holds.mark_swept(hold_id, member.lead_id, lead_open=bool(standing and standing.open), now=now)
    return held
