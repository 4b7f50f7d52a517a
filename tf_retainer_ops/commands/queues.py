"""`dlq redrive`, `events tail`, `summary`, `requeue LEAD_ID`: the retry queue, its dead letters, the outcome
events' queue and the leads waiting on them (tf_retainer_ops.queues and .summary do the work)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..context import Command, Context, Group, argument, fmt, now, positive_int
from ..queues import redrive, requeue
from ..summary import summarize


def cmd_dlq_redrive(ctx: Context) -> int:
    progress = ctx.note if ctx.args.json else ctx.print
    result = redrive(
        ctx.target, max_messages=ctx.args.max, manual=ctx.args.manual, wait_seconds=ctx.args.wait, progress=progress
    )
    data = {
        "moved": result.moved,
        "failed": result.failed,
        "method": result.method,
        "task_handle": result.task_handle,
        "status": result.status,
        "notes": result.notes,
    }

    def human(_: Any) -> None:
        ctx.print(f"moved {result.moved} message(s) from the DLQ to the retry queue ({result.method})")
        for note in result.notes:
            ctx.print(f"note: {note}")

    ctx.emit(data, human)
    return 0 if not result.failed else 1


def cmd_events_tail(ctx: Context) -> int:
    """One event per line (JSON), oldest first as the queue gives them; deleted once printed."""
    sqs, url = ctx.target.client("sqs"), ctx.target.need_events_queue()
    printed = 0
    while ctx.args.max is None or printed < ctx.args.max:
        wanted = 10 if ctx.args.max is None else min(10, ctx.args.max - printed)
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=wanted, WaitTimeSeconds=5 if ctx.args.follow else 1
        ).get("Messages", [])
        if not messages and not ctx.args.follow:
            break
        for message in messages:
            ctx.print(json.dumps(json.loads(message["Body"]), sort_keys=True))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            printed += 1
    ctx.note(f"{printed} event(s)")
    return 0


def cmd_summary(ctx: Context) -> int:
    data = summarize(ctx.target, ctx.store, ctx.vendor_keys, hours=ctx.args.hours, now=now())

    def human(s: dict[str, Any]) -> None:
        ctx.print(f"last {s['window_hours']:g} h (since {s['since']}): {s['leads']} lead(s)")
        ctx.print("by status:  " + (fmt(s["by_status"]) if s["by_status"] else "-"))
        ctx.print("rejected:   " + (fmt(s["rejections_by_reason"]) if s["rejections_by_reason"] else "-"))
        ctx.print("expired:    " + (fmt(s["expiries_by_reason"]) if s["expiries_by_reason"] else "-"))
        ctx.print("pending:    " + (fmt(s["pending_by_reason"]) if s["pending_by_reason"] else "-"))
        ctx.print("by vendor:  " + (fmt(s["by_vendor"]) if s["by_vendor"] else "-"))
        ctx.print(f"stuck pending (overdue: past check_after): {len(s['stuck_pending'])}")
        for lead in s["stuck_pending"]:
            ctx.print(f"  {lead['lead_id']}  {lead['vendor']}  next {lead['next_attempt_at']}  {lead['reason']}")
        ctx.print(f"stuck received (overdue: past check_after): {len(s['stuck_received'])}")
        for lead in s["stuck_received"]:
            ctx.print(f"  {lead['lead_id']}  {lead['vendor']}  received {lead['received_at']}")
        if s["stuck_pending"] or s["stuck_received"]:
            ctx.print("  -> the sweeper requeues these on its next run (or now: tf-retainer requeue LEAD_ID)")
        ctx.print(f"retry queue: {fmt(s['retry_queue'])}")
        ctx.print(f"dead-letter queue: {fmt(s['dead_letter_queue'])}")

    ctx.emit(data, human)
    return 0


def cmd_requeue(ctx: Context) -> int:
    result = requeue(ctx.target, ctx.store, ctx.args.lead_id, now=now())
    for warning in result.warnings:
        ctx.note(f"warning: {warning}")
    data = {"lead_id": result.lead_id, "attempt": result.attempt, "message_id": result.message_id}
    ctx.emit(data, lambda d: ctx.print(f"requeued lead {d['lead_id']} for attempt {d['attempt']} ({d['message_id']})"))
    return 0


def _redrive_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max", type=positive_int, help="move at most N messages (uses --manual)")
    parser.add_argument("--manual", action="store_true", help="receive/send/delete instead of a SQS move task")
    parser.add_argument("--wait", type=float, default=300, help="seconds to follow a move task (default 300)")


def _tail_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--follow", action="store_true", help="keep waiting for new events (Ctrl-C to stop)")
    parser.add_argument("--max", type=positive_int, help="stop after N events")


COMMANDS = (
    Group(("dlq",), "the retry dead-letter queue"),
    Command(
        ("dlq", "redrive"),
        cmd_dlq_redrive,
        "move messages from the retry DLQ back to the retry queue",
        _redrive_arguments,
    ),
    Group(("events",), "outcome events (the example subscriber's queue)"),
    Command(
        ("events", "tail"),
        cmd_events_tail,
        "print the outcome events waiting on LeadEventsQueue, taking them off it",
        _tail_arguments,
    ),
    Command(
        ("summary",),
        cmd_summary,
        "leads by status and reason, stuck leads, queue depths",
        argument("--hours", type=float, default=24, help="window (default 24)"),
    ),
    Command(("requeue",), cmd_requeue, "put a received/pending lead back on the retry queue", argument("lead_id")),
)
