"""What happened in the last hours, and what is overdue.

No Scan: the vendors come from the list index, each vendor's leads of the window from the vendor
index, and every open lead with a step recorded (whatever its age) from the sparse open-lead index; a lead
still as it was reserved (its intake died before its first step) is in no open index, so it is found among
the window's leads. An open lead is overdue once its ``check_after`` has passed - the sweeper's own test,
which allows for a retry message still in flight (its visibility timeout) - and the sweeper requeues it on
its next run.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from tf_retainer.domain.lead import Lead
from tf_retainer.runtime.clock import iso
from tf_retainer.store.lead_table import LeadTable
from tf_retainer.store.vendor_keys import VendorKeyStore

from .queues import depth
from .target import Target

BRIEF = ("lead_id", "vendor", "status", "reason", "received_at", "next_attempt_at", "attempts", "check_after")


def summarize(
    target: Target, store: LeadTable, vendor_keys: VendorKeyStore, *, hours: float = 24, now: datetime | None = None
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    since = now - timedelta(hours=hours)
    vendors = sorted({key.vendor for key in vendor_keys.list()})
    in_window = [
        lead.model_dump(mode="json") for vendor in vendors for lead in store.index.vendor_leads(vendor, since=since)
    ]
    overdue = store.index.open_leads(overdue_at=now)
    overdue += [
        Lead.model_validate(lead)
        for lead in in_window
        if lead["status"] == "received" and not lead["applied"] and (lead.get("check_after") or "~") < iso(now)
    ]

    def brief(lead: Lead) -> dict[str, Any]:
        data = lead.model_dump(mode="json")
        return {k: data.get(k) for k in BRIEF}

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
        "stuck_pending": [brief(lead) for lead in overdue if lead.status == "pending"],
        "stuck_received": [brief(lead) for lead in overdue if lead.status == "received"],
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
