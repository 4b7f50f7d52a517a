"""What happened in the last hours, and what is stuck.

One paginated Scan of the table with a filter (leads received in the window, plus every open lead
whatever its age). A Scan reads - and is billed for - the whole table, filter or not: fine for
an operator's occasional look, not for a cron every minute (see docs/operations.md).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from tf_retainer.clock import iso, parse_iso
from tf_retainer.store.leads import LeadStore

from .queues import depth
from .target import Target


def summarize(
    target: Target,
    store: LeadStore,
    *,
    hours: float = 24,
    stale_minutes: float = 5,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    since = now - timedelta(hours=hours)
    stale = now - timedelta(minutes=stale_minutes)
    states = [lead.model_dump(mode="json", exclude_none=True) for lead in store.scan_leads(received_since=since)]
    in_window = [s for s in states if s.get("received_at", "") >= iso(since)]

    def brief(state: dict[str, Any]) -> dict[str, Any]:
        keys = ("lead_id", "vendor", "status", "reason", "received_at", "next_attempt_at", "attempts")
        return {k: state.get(k) for k in keys}

    stuck = [
        brief(s)
        for s in states
        if s.get("status") == "pending" and s.get("next_attempt_at") and parse_iso(s["next_attempt_at"]) < stale
    ]
    crashed = [brief(s) for s in states if s.get("status") == "received" and parse_iso(s["received_at"]) < stale]
    summary: dict[str, Any] = {
        "generated_at": iso(now),
        "window_hours": hours,
        "since": iso(since),
        "leads": len(in_window),
        "by_status": dict(Counter(s.get("status") for s in in_window).most_common()),
        "rejections_by_reason": _reasons(in_window, "rejected"),
        "expiries_by_reason": _reasons(in_window, "expired"),
        "pending_by_reason": _reasons(in_window, "pending"),
        "by_vendor": dict(Counter(s.get("vendor") for s in in_window).most_common()),
        "stuck_pending": sorted(stuck, key=lambda s: s["next_attempt_at"] or ""),
        "stuck_received": sorted(crashed, key=lambda s: s["received_at"] or ""),
        "stale_minutes": stale_minutes,
    }
    summary["retry_queue"] = _depth(target, target.retry_queue_url)
    summary["dead_letter_queue"] = _depth(target, target.retry_dlq_url)
    return summary


def _reasons(states: list[dict[str, Any]], status: str) -> dict[str, int]:
    return dict(Counter(s.get("reason") or "none" for s in states if s.get("status") == status).most_common())


def _depth(target: Target, url: str | None) -> dict[str, int] | None:
    if not url:
        return None
    try:
        return depth(target.client("sqs"), url)
    except ClientError as exc:
        return {"error": exc.response.get("Error", {}).get("Code", "error")}
