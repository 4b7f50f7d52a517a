"""A vendor's leads are read from the vendor index in small pages, so a busy vendor's period (the sweeper's
10 minutes of arrivals, a scorecard's week) never asks for one answer too large for an attempt's read timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tf_retainer.store.lead_index import VENDOR_INDEX_PAGE

from local.simulator import make_web_cert_id
from tests.support.fakes import received_lead

LEADS = 2 * VENDOR_INDEX_PAGE + 17


def test_a_vendors_period_is_read_whole_and_in_order_in_pages_of_bounded_size(stack):
    start = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    for n in range(LEADS):
        at = start + timedelta(seconds=n)
        cert_id = make_web_cert_id()
        lead = received_lead().model_copy(
            update={
                "lead_id": f"L{n:04d}",
                "vendor": "busy",
                "cert_id": cert_id,
                "certificate_url": f"https://cert.trustedform.com/{cert_id}",
                "received_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        )
        stack.writer.reserve(lead, actor="intake", now=at)
    asked: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        asked.append(params)

    events = stack.dynamodb.meta.events  # the process's shared client: the hook is taken off after
    events.register("provide-client-params.dynamodb.Query", record)
    try:
        found = stack.index.vendor_leads("busy", since=start + timedelta(seconds=5), until=start + timedelta(hours=1))
    finally:
        events.unregister("provide-client-params.dynamodb.Query", record)

    assert [lead.lead_id for lead in found] == [f"L{n:04d}" for n in range(5, LEADS)]
    assert len(asked) == 3 and all(params["Limit"] == VENDOR_INDEX_PAGE for params in asked)
