"""Self-healing: an open lead whose next step is overdue goes back to the retry queue, without an operator.

A lead is "received" until its first attempt is recorded and "pending" until its next one; each
carries ``check_after``, the moment by which something should have happened. A function killed
between two writes (out of memory, a crash, a deploy), a retry message lost or deleted as a
duplicate: each leaves a lead past that moment. A lead with a step recorded is found with one query of the
open index; a lead still as it was reserved (its intake died before its first step) is in no such index
(so that a lead kept or refused at once never writes it: issue 22), and is found through the vendor index:
the leads received between the watermark (less the received grace, for the index's lag) and the received
grace ago, ``RECEIVED_WINDOW`` of arrivals a read (what one read costs stays bounded however far behind the
sweeper is), up to ``CATCH_UP_WINDOWS`` reads a run. The watermark moves on past leads that were handled
and past those it failed to requeue, which go on a bounded list that every sweep tries again first
(leads/sweep_mark.py): one lead failing every time holds back no lead after it. A read of the vendor index
that fails costs the overdue open leads nothing: they are requeued first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tf_retainer.domain.lead import Event, Lead
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.queueing import enqueue_retry, queued_check_after
from tf_retainer.leads.screen_recovery import recovered
from tf_retainer.leads.sweep_mark import MarkChange
from tf_retainer.leads.sweep_mark import save as save_mark
from tf_retainer.ports.leads import Recovery, Revisit, StoreUnavailable, UnreadableLead
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.runtime.observability import Metric, count, logger

# Leads still as reserved, looked at from this long ago by the first sweep (no watermark yet); this much of
# their arrival times a read, and at most this many reads a run (one behind catches up an hour a run).
FIRST_LOOKBACK = timedelta(hours=1)
RECEIVED_WINDOW = timedelta(minutes=10)
CATCH_UP_WINDOWS = 6


@dataclass
class SweepReport:
    overdue: int = 0
    recovered: list[str] = field(default_factory=list)
    # Their state was behind a step a dying writer recorded: brought up to it, nothing to retry.
    rolled_forward: list[str] = field(default_factory=list)
    skipped: int = 0  # moved on, or an attempt holds it: not ours to requeue
    failed: list[str] = field(default_factory=list)  # an error on this lead: the sweep went on with the rest
    revisit: int = 0  # leads on the list of those it failed to requeue, tried again by every sweep


def sweep(deps: Deps) -> SweepReport:
    """Requeue every overdue open lead, then the leads still as reserved since the watermark (up to the sweep
    limit in all; the rest wait for the next sweep)."""
    now = deps.clock()
    report = SweepReport()
    budget = deps.settings.sweep_limit
    overdue = deps.index.open_leads(overdue_at=now, limit=budget)
    listed = {lead.lead_id for lead in overdue}  # (a lead reserved when the open index held every open lead)
    _requeue_each(deps, overdue, report, now)
    _sweep_reserved(deps, report, now, budget=budget - len(overdue), listed=listed)
    if report.recovered or report.rolled_forward:  # both repair what a crash or a lost message left
        count(Metric.LEADS_RECOVERED, len(report.recovered) + len(report.rolled_forward))
    logger.info(
        "sweep",
        extra={
            "overdue": report.overdue,
            "recovered": len(report.recovered),
            "rolled_forward": len(report.rolled_forward),
            "skipped": report.skipped,
            "failed": len(report.failed),
            "revisit": report.revisit,
        },
    )
    return report


def _requeue_each(deps: Deps, leads: list[Lead], report: SweepReport, now: datetime) -> set[str]:
    """Requeue the leads one by one, one's trouble stopping no other's; the ids of those handled."""
    handled: set[str] = set()
    for lead in leads:
        report.overdue += 1
        try:
            done = requeue(deps, lead, actor="sweeper", now=now)
        except Exception:  # a throttled write, a malformed item
            count(Metric.SWEEP_FAILURES)
            logger.exception("could not requeue an overdue lead", extra={"lead_id": lead.lead_id})
            report.failed.append(lead.lead_id)
            continue
        if done is Recovery.REQUEUED:
            report.recovered.append(lead.lead_id)
        elif done is Recovery.ROLLED_FORWARD:
            report.rolled_forward.append(lead.lead_id)
        else:
            report.skipped += 1
            continue
        handled.add(lead.lead_id)
    return handled


def _sweep_reserved(deps: Deps, report: SweepReport, now: datetime, *, budget: int, listed: set[str]) -> None:
    """The leads the sweeper failed to requeue before, tried again; then the leads still as reserved received
    since the watermark (or ``FIRST_LOOKBACK`` ago, the first time), read ``RECEIVED_WINDOW`` of arrivals at a
    time (each read from the received grace before, for the index's lag) up to the received grace ago; then
    the mark saved: the watermark moved up to the first lead held, past those failed that went on the list."""
    grace = timedelta(seconds=deps.settings.received_grace_seconds)
    horizon = now - grace
    read = deps.index.sweep_mark()
    tried = read.revisit[: max(budget, 0)]
    dropped = _revisit(deps, tried, report, now)
    budget -= len(tried)
    start = read.until or horizon - FIRST_LOOKBACK
    reached: datetime | None = None  # the end of the last window read
    held: list[datetime] = []
    failed: list[Revisit] = []
    seen = listed | {entry.lead_id for entry in read.revisit}  # each lead tried once a sweep
    for _ in range(CATCH_UP_WINDOWS):
        until = min(horizon, start + RECEIVED_WINDOW)
        try:
            found = deps.index.unstepped_leads(received_from=start - grace, received_until=until)
        except StoreUnavailable as exc:  # the next sweep reads it again
            count(Metric.SWEEP_FAILURES)
            logger.warning("could not read the leads as reserved", extra={"error": str(exc)})
            break
        fresh = [item for item in found if item.lead_id not in seen]
        seen.update(item.lead_id for item in fresh)
        unstepped = [item for item in fresh if isinstance(item, Lead)]
        failed += _unreadable([item for item in fresh if isinstance(item, UnreadableLead)], report)
        errors = len(report.failed)
        handled = _requeue_each(deps, unstepped[: max(budget, 0)], report, now)
        budget -= len(unstepped)
        failing = set(report.failed[errors:])
        for lead in unstepped:
            if lead.lead_id in failing:  # tried again from the list, every sweep
                failed.append(Revisit(lead.lead_id, parse_iso(lead.received_at)))
            elif lead.lead_id not in handled:  # skipped (held, or moved on), or past the limit: read again
                held.append(parse_iso(lead.received_at))
        reached = start = until
        if until >= horizon or budget <= 0:
            break
    change = MarkChange(reached=reached, held=tuple(held), failed=tuple(failed), dropped=frozenset(dropped))
    report.revisit = len(save_mark(deps.index, read, change).revisit)


def _unreadable(found: list[UnreadableLead], report: SweepReport) -> list[Revisit]:
    """Lead states that cannot be decoded: listed, as leads that failed to requeue (every sweep reads them again
    by id, counts and logs them until an operator mends or requeues them), holding back no lead after them."""
    for item in found:
        count(Metric.SWEEP_FAILURES)
        logger.error("a lead's state cannot be read: it is listed to be read again", extra={"lead_id": item.lead_id})
        report.failed.append(item.lead_id)
    return [Revisit(item.lead_id, item.received) for item in found]


def _revisit(deps: Deps, listed: tuple[Revisit, ...], report: SweepReport, now: datetime) -> set[str]:
    """The listed leads read again (by id): those still as reserved requeued. The ids to take off the list:
    requeued, or no longer as reserved (another step recorded, an operator's requeue, gone)."""
    dropped: set[str] = set()
    leads: list[Lead] = []
    for entry in listed:
        try:
            lead = deps.reader.get_lead(entry.lead_id)
        except Exception:  # a throttled read, a malformed item: it stays on the list
            count(Metric.SWEEP_FAILURES)
            logger.exception("could not read a lead to requeue", extra={"lead_id": entry.lead_id})
            report.failed.append(entry.lead_id)
            continue
        if lead is None or not lead.as_reserved():
            dropped.add(entry.lead_id)
        else:
            leads.append(lead)
    return dropped | _requeue_each(deps, leads, report, now)


def requeue(deps: Deps, lead: Lead, *, actor: str, now: datetime) -> Recovery:
    """Record that the lead goes back to the queue (history event, a new time to check), then queue it.

    SKIPPED when the lead moved on or an attempt holds it; ROLLED_FORWARD when its state only had to be
    brought up to its chain. The record comes first: if the message cannot be sent, the lead is made due
    again within the unqueued grace (and is found at its new ``check_after`` if even that write fails).
    """
    attempt = lead.attempts + 1
    # Overdue again once its message, sent next, should have been handled (sooner if the send fails).
    update: dict[str, Any] = {"check_after": queued_check_after(deps.settings, now), "updated_at": iso(now)}
    # The answers its dead attempt was given and put on record (a screen's, a LeadiD audit's) become the state's:
    # this step would pass over the entries that hold them, and the next attempt would pay for them again.
    found = recovered(deps, lead) if lead.number_key or lead.leadid_token else {}
    if found:
        update["screens"] = {**(lead.screens or {}), **found}
    after = lead.model_copy(update=update)
    detail = {"status": lead.status.value, "was_due": lead.check_after, "attempt": attempt}
    done = deps.writer.record_recovery(lead, after, events=[Event("requeued", actor, detail)], now=now)
    if done is Recovery.ROLLED_FORWARD:
        logger.warning("lead state rolled forward to its chain", extra={"lead_id": lead.lead_id, "actor": actor})
    if done is not Recovery.REQUEUED:
        return done
    enqueue_retry(deps, after, attempt=attempt, not_before=now, now=now)
    logger.warning("lead requeued", extra={"lead_id": lead.lead_id, "status": lead.status.value, "actor": actor})
    return Recovery.REQUEUED
