"""Outcome events (tf_retainer.outcome_events): which stored items are published, and what an event says."""

from __future__ import annotations

import json

import pytest
from tf_retainer.lead import Lead
from tf_retainer.models import Reason, Status
from tf_retainer.outcome_events import SOURCE, is_published, outcome_event
from tf_retainer.store import keys

from local.provision import load_template
from local.streams import matches, stream_event_settings
from tests.conftest import TF_API_KEY

LEAD_ID = "5d2c3b1f0e"
EVENT_SK = "EVENT#2026-11-22T05:00:00.000000Z#000001#a1b2c3"


def stored_lead(**changes) -> Lead:
    fields = {
        "lead_id": LEAD_ID,
        "vendor": "acme-leads",
        "vendor_lead_id": "crm-7",
        "status": Status.RETAINED,
        "cert_id": "e" * 40,
        "cert_kind": "web",
        "certificate_url": "https://cert.trustedform.com/" + "e" * 40,
        "received_at": "2026-11-22T04:59:59Z",
        "deadline": "2026-11-25T04:00:00Z",
        "match_lead": {"email": "0" * 40, "phone": "1" * 40},
        "lead": {"utm_source": "search", "email_sha1": "2" * 40},
        "masked": False,
        "expires_at": "2031-11-22T05:00:00Z",
    }
    return Lead.model_validate({**fields, **changes})


def history_item(event_type: str, pk: str | None = None, **detail) -> dict:
    return {
        "pk": pk or keys.lead_pk(LEAD_ID),
        "sk": EVENT_SK,
        "type": event_type,
        "at": "2026-11-22T05:00:00.000000Z",
        "actor": "intake",
        "lead_id": LEAD_ID,
        "detail": detail,
    }


@pytest.mark.parametrize("event_type", ["retained", "rejected", "expired", "requeued"])
def test_final_outcomes_and_recoveries_are_published(event_type):
    assert is_published(history_item(event_type))


@pytest.mark.parametrize("event_type", ["received", "attempt", "pending", "decided", "certificate_reused"])
def test_steps_on_the_way_are_not(event_type):
    assert not is_published(history_item(event_type))


def test_the_certificates_copy_of_an_event_is_not_published_twice():
    assert not is_published(history_item("retained", pk=keys.cert_pk("e" * 40)))


def test_an_event_carries_the_vendors_answer_and_no_contact_data():
    event = outcome_event(history_item("retained", reason=None), stored_lead())
    entry = json.loads(event.entry("bus")["Detail"])
    assert event.detail_type == "Lead Retained" and event.event_id == f"{LEAD_ID}/{EVENT_SK}"
    assert entry["answer"] == stored_lead().answer().model_dump(mode="json", exclude_none=True)
    assert entry["vendor"] == "acme-leads" and entry["certificate"]["cert_id"] == "e" * 40
    text = json.dumps(entry)
    assert "0" * 40 not in text and "1" * 40 not in text and "2" * 40 not in text  # fingerprints stay home
    assert "match_lead" not in text and "utm_source" not in text and TF_API_KEY not in text


def test_a_rejection_says_why():
    lead = stored_lead(status=Status.REJECTED, reason=Reason.CERTIFICATE_REUSED)
    event = outcome_event(history_item("rejected", reason="certificate_reused"), lead)
    assert event.detail_type == "Lead Rejected"
    assert event.detail["answer"]["reason"] == "certificate_reused"
    assert event.entry("bus")["Source"] == SOURCE == "tf-retainer"


def _stream_record(event_name: str, pk: str, sk: str, event_type: str) -> dict:
    image = {"pk": {"S": pk}, "sk": {"S": sk}, "type": {"S": event_type}}
    return {"eventName": event_name, "dynamodb": {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image}}


def test_the_templates_filter_lets_through_exactly_what_is_published():
    """PublisherFunction is invoked (and billed) only for records it would publish."""
    patterns = [
        json.loads(f["Pattern"])
        for f in stream_event_settings(load_template(), "PublisherFunction")["FilterCriteria"]["Filters"]
    ]
    lead_pk, cert_pk = keys.lead_pk(LEAD_ID), keys.cert_pk("e" * 40)
    cases = [
        (_stream_record("INSERT", lead_pk, EVENT_SK, "retained"), True),
        (_stream_record("INSERT", lead_pk, EVENT_SK, "requeued"), True),
        (_stream_record("INSERT", lead_pk, EVENT_SK, "pending"), False),
        (_stream_record("INSERT", cert_pk, EVENT_SK, "retained"), False),
        (_stream_record("MODIFY", lead_pk, EVENT_SK, "retained"), False),
        (_stream_record("INSERT", lead_pk, keys.STATE, "retained"), False),
    ]
    for record, expected in cases:
        passes = any(matches(pattern, record) for pattern in patterns)
        image = {name: next(iter(value.values())) for name, value in record["dynamodb"]["NewImage"].items()}
        assert passes == expected == (record["eventName"] == "INSERT" and is_published(image)), record


def test_a_filter_operator_that_is_not_emulated_is_refused_not_guessed():
    with pytest.raises(ValueError, match="not emulated"):
        matches({"n": [{"numeric": [">", 1]}]}, {"n": 2})
