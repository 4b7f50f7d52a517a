"""Outcome events (tf_retainer.events.outcomes): which stored items are published, and what an event says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from tf_retainer.aws.event_bus import EventBridgeBus
from tf_retainer.domain import chain
from tf_retainer.domain.keyring import Keyring
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import Reason, Status
from tf_retainer.domain.outcome_event import SOURCE, OutcomeEvent
from tf_retainer.events.outcomes import is_published, outcome_event
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize
from tf_retainer.store.items import ItemBuilder, snapshot
from tf_retainer.store.lead_item import LeadCodec
from tf_retainer.store.stream import published

from local.provision import load_template
from local.streams import matches, stream_event_settings
from tests.support.stack import TF_API_KEY

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)

LEAD_ID = "5d2c3b1f0e"
ENTRY_SK = "ENTRY#000002"


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


def entry_item(event_type: str, pk: str | None = None, lead: Lead | None = None, **detail) -> dict:
    """A chain entry as the stream's new image gives it: an attempt, then the event of ``event_type``."""
    entry = chain.Entry(
        seq=2,
        at="2026-11-22T05:00:00.000000Z",
        prev="0" * 64,
        events=[
            {"type": "attempt", "actor": "intake", "detail": {"attempt": 1}},
            {"type": event_type, "actor": "intake", "detail": detail},
        ],
        state=snapshot(lead or stored_lead()),
    )
    outcome = event_type if event_type in ("retained", "rejected", "expired", "requeued") else None
    builder = ItemBuilder("leads", retention=timedelta(days=1), codec=LeadCodec(Keyring(lambda: b"k" * 32)))
    item = builder.entry(LEAD_ID, entry, NOW, outcome=outcome)["Put"]["Item"]
    found = deserialize(item)
    if pk:
        found["pk"] = pk
    return found


@pytest.mark.parametrize("event_type", ["retained", "rejected", "expired", "requeued"])
def test_final_outcomes_and_recoveries_are_published(event_type):
    assert is_published(published(entry_item(event_type)))


@pytest.mark.parametrize("event_type", ["received", "attempt", "pending", "decided", "certificate_reused"])
def test_steps_on_the_way_are_not(event_type):
    assert not is_published(published(entry_item(event_type)))


def test_only_a_leads_chain_is_published():
    assert not is_published(published(entry_item("retained", pk=keys.cert_pk("e" * 40))))


class RecordingEventBridge:
    """An EventBridge client that keeps what it is sent (PutEvents)."""

    def __init__(self) -> None:
        self.entries: list[dict] = []

    def put_events(self, Entries: list[dict]) -> dict:
        self.entries += Entries
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}


def sent(event: OutcomeEvent) -> dict:
    """The PutEvents entry the bus adapter sends for ``event``."""
    client = RecordingEventBridge()
    EventBridgeBus(client, "bus").publish(event)
    [entry] = client.entries
    return entry


def test_an_event_carries_the_vendors_answer_and_no_contact_data():
    event = outcome_event(published(entry_item("retained", reason=None)))
    entry = json.loads(sent(event)["Detail"])
    assert event.detail_type == "Lead Retained" and event.event_id == f"{LEAD_ID}/{ENTRY_SK}"
    assert entry["answer"] == stored_lead().answer().model_dump(mode="json", exclude_none=True)
    assert entry["vendor"] == "acme-leads" and entry["certificate"]["cert_id"] == "e" * 40
    text = json.dumps(entry)
    assert "0" * 40 not in text and "1" * 40 not in text and "2" * 40 not in text  # fingerprints stay home
    assert "match_lead" not in text and "utm_source" not in text and TF_API_KEY not in text


def test_a_rejection_says_why():
    lead = stored_lead(status=Status.REJECTED, reason=Reason.CERTIFICATE_REUSED)
    event = outcome_event(published(entry_item("rejected", lead=lead, reason="certificate_reused")))
    assert event.detail_type == "Lead Rejected"
    assert event.detail["answer"]["reason"] == "certificate_reused"
    assert (sent(event)["Source"], sent(event)["EventBusName"]) == (SOURCE, "bus") and SOURCE == "tf-retainer"


def _stream_record(event_name: str, pk: str, sk: str, event_type: str) -> dict:
    stored = entry_item(event_type)  # a real entry's content and hash, under the keys of the case
    image = {"pk": {"S": pk}, "sk": {"S": sk}, "o": {"S": event_type}, "b": {"B": stored["b"]}, "h": {"B": stored["h"]}}
    return {"eventName": event_name, "dynamodb": {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image}}


def test_the_templates_filter_lets_through_exactly_what_is_published():
    """PublisherFunction is invoked (and billed) only for records it would publish."""
    patterns = [
        json.loads(f["Pattern"])
        for f in stream_event_settings(load_template(), "PublisherFunction")["FilterCriteria"]["Filters"]
    ]
    lead_pk, cert_pk = keys.lead_pk(LEAD_ID), keys.cert_pk("e" * 40)
    cases = [
        (_stream_record("INSERT", lead_pk, ENTRY_SK, "retained"), True),
        (_stream_record("INSERT", lead_pk, ENTRY_SK, "requeued"), True),
        (_stream_record("INSERT", lead_pk, ENTRY_SK, "pending"), False),
        (_stream_record("INSERT", cert_pk, ENTRY_SK, "retained"), False),
        (_stream_record("MODIFY", lead_pk, ENTRY_SK, "retained"), False),
        (_stream_record("INSERT", lead_pk, keys.STATE, "retained"), False),
        (_stream_record("INSERT", lead_pk, keys.event_sk("t", 0, "w"), "retained"), False),
    ]
    for record, expected in cases:
        passes = any(matches(pattern, record) for pattern in patterns)
        image = {name: next(iter(value.values())) for name, value in record["dynamodb"]["NewImage"].items()}
        assert passes == expected == (record["eventName"] == "INSERT" and is_published(published(image))), record


def test_a_filter_operator_that_is_not_emulated_is_refused_not_guessed():
    with pytest.raises(ValueError, match="not emulated"):
        matches({"n": [{"numeric": [">", 1]}]}, {"n": 2})


@pytest.mark.parametrize(
    ("named", "certificate"),
    [
        ({"cert_id": "e" * 40}, {"cert_id": "e" * 40}),  # the lead's certificate
        ({"cert_id": None}, None),  # a lead kept on its LeadiD token: no certificate, as in an outcome's event
        ({}, {}),  # an entry written before the revocation's event named the certificate: not known
    ],
)
def test_a_consent_revoked_event_names_the_certificate_its_entry_names(named, certificate):
    """The revocation's entry holds no lead state: the event's certificate is the one its detail names."""
    from tf_retainer.ports.services import PublishedEntry

    detail = {"revocation_id": "r-1", "lead_id": LEAD_ID, "vendor": "acme-leads", "vendor_lead_id": "crm-7", **named}
    entry = chain.Entry(
        seq=3,
        at="2026-11-22T05:00:00.000000Z",
        prev="0" * 64,
        events=[{"type": "consent_revoked", "actor": "buyer:sms-platform", "detail": detail}],
        state=None,
    )
    event = outcome_event(PublishedEntry(entry_key="ENTRY#000003", event_type="consent_revoked", entry=entry))
    assert event.detail_type == "Lead Consent Revoked"
    assert event.detail["certificate"] == certificate
    assert event.detail["answer"] == {"lead_id": LEAD_ID, "vendor_lead_id": "crm-7"}
    assert "jornaya" not in event.detail  # its token and audit are not in the entry: not said to be none
