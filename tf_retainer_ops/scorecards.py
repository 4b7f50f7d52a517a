"""Vendor scorecards: how good each vendor's leads were over a period, from the stored lead states.

The figures are tf_retainer.vendors.scorecard's (shared with the automatic suspension). No Scan: the vendors
come from the list index, each vendor's leads from the vendor index (gsi1, by received time); one query
(paginated) per vendor and nothing else is read. The command: commands/vendor_report.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from tf_retainer.store.lead_table import LeadTable
from tf_retainer.vendors.scorecard import Scorecard, score

# A run longer than this prints a progress line on stderr per vendor read.
PROGRESS_AFTER_SECONDS = 2.0


def scorecards(
    store: LeadTable,
    vendors: list[str],
    *,
    since: datetime,
    until: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    progress_after_seconds: float = PROGRESS_AFTER_SECONDS,
) -> list[Scorecard]:
    """Every vendor's scorecard; once the run has taken ``progress_after_seconds``, a progress line per
    vendor read (a quick run stays quiet)."""
    started = time.monotonic()
    cards, read = [], 0
    for n, vendor in enumerate(vendors, 1):
        cards.append(score(vendor, store.index.vendor_leads(vendor, since=since, until=until)))
        read += cards[-1].leads
        if progress and time.monotonic() - started >= progress_after_seconds:
            progress(f"vendors read: {n}/{len(vendors)} ({vendor}), {read} lead(s) so far")
    return cards
