"""Revocations of consent and contact reports through the Deps seam (leads/revocations.py, leads/contacts.py),
and the pure decisions under them: who may record one, what it is applied to, honor_by, the words that
revoke by themselves, the revoke-all date; where intake locates a consumer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tf_retainer.aws.queues import SqsRetryQueue
from tf_retainer.decisions.calling import default_rules
from tf_retainer.decisions.consent import honour_deadline, is_opt_out_word, revoke_all_in_force
from tf_retainer.decisions.location import place_from
from tf_retainer.decisions.rulebook import RulesInForce, from_settings
from tf_retainer.domain.consent import ContactReport, RevocationRequest
from tf_retainer.domain.contacts import consumer_fingerprints, lead_fingerprints, phone_spellings
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.keyring import Keyring
from tf_retainer.domain.lead import HistoryItem, Lead, LeadRecord, Place
from tf_retainer.domain.models import Reason, Status
from tf_retainer.domain.revocation import Recorder
from tf_retainer.leads import contacts, revocations
from tf_retainer.leads.deps import Deps
from tf_retainer.runtime.clock import iso

from tests.support.fakes import FakeKeyring, FakeLedger, FakeSqs, FakeStore, UnusedTrustedForm

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
EASTERN = ZoneInfo("America/New_York")
SMS = Recorder(role="buyer", name="sms-platform")


def lead(lead_id: str, vendor: str, *, phone: str | None = "(512) 555-0142", **changes: Any) -> Lead:
    fields: dict[str, Any] = {
        "lead_id": lead_id,
        "vendor": vendor,
        "status": Status.RETAINED,
        "cert_id": f"cert-{lead_id}",
        "cert_kind": "web",
        "certificate_url": f"https://cert.trustedform.com/cert-{lead_id}",
        "received_at": iso(NOW - timedelta(days=2)),
        "deadline": iso(NOW),
        "match_lead": lead_fingerprints("ann@example.com" if phone is None else None, phone),
    }
    return Lead.model_validate(fields | changes)


@pytest.fixture
def world(settings):
    store = FakeStore()
    ledger = FakeLedger()
    clock = {"now": NOW}
    deps = Deps(
        settings=settings,
        writer=store,
        reader=store,
        index=store,
        trustedform=UnusedTrustedForm(),
        retry_queue=SqsRetryQueue(FakeSqs(), settings.retry_queue_url),
        api_key=lambda force: "unused",
        rules=lambda vendor: RulesInForce(from_settings(settings), "settings"),
        ledger=ledger,
        calling=default_rules,
        keyring=FakeKeyring(),
        clock=lambda: clock["now"],
    )
    return deps, store, ledger, clock


def stop(**changes: Any) -> RevocationRequest:
    fields: dict[str, Any] = {"id": "SM-1", "phone": "+15125550142", "via": "sms", "message": "STOP"}
    return RevocationRequest.model_validate(fields | changes)


def revoked_leads(store: FakeStore) -> list[str]:
    return [h.lead_id for h in store.histories if h.events[0].type == "consent_revoked" and h.published]


def test_a_revocation_by_phone_is_applied_to_every_lead_of_the_consumer_across_vendors(world):
    deps, store, ledger, _ = world
    store.leads = {
        "a": lead("a", "acme"),
        "b": lead("b", "beta", phone="512-555-0142"),  # spelt otherwise, same normalised number
        "c": lead("c", "acme", phone="1 (512) 555 0142"),  # with the country code
        "x": lead("x", "acme", phone="512 555 0199"),  # someone else
    }
    answer = revocations.record(deps, stop(), SMS)
    assert (answer.status, answer.leads) == ("recorded", 3)
    assert sorted(revoked_leads(store)) == ["a", "b", "c"]
    stored = ledger.revocations[answer.revocation_id or ""]
    assert stored.honored_at == iso(NOW) and stored.keyword is True
    # The consumer as the consumer index's keyed tokens, one per spelling: never the number, nor its SHA-1.
    fingerprints = consumer_fingerprints(None, "+15125550142")["phone"]
    assert stored.consumer["phone"] == [deps.keyring.consumer("phone", fingerprint) for fingerprint in fingerprints]
    kept = stored.model_dump_json()
    assert not any(fingerprint in kept for fingerprint in fingerprints)
    assert "+15125550142" not in kept and "5125550142" not in kept
    detail = store.histories[0].events[0].detail
    assert detail["revocation_id"] == answer.revocation_id and detail["recorded_by"] == "buyer"
    # No tokens, no words: their keyed digest (not a bare SHA-256 of "STOP").
    assert "consumer" not in detail and "message" not in detail
    assert detail["message_digest"] == deps.keyring.token("revocation-message", answer.revocation_id or "", "STOP")


def test_recording_the_same_id_again_is_a_repeat_and_other_content_a_conflict(world):
    deps, store, _, clock = world
    store.leads = {"a": lead("a", "acme")}
    first = revocations.record(deps, stop(), SMS)
    clock["now"] = NOW + timedelta(minutes=5)  # a platform's redelivery, later
    again = revocations.record(deps, stop(), SMS)
    assert (again.status, again.revocation_id, again.recorded_at) == ("repeated", first.revocation_id, iso(NOW))
    assert len(store.histories) == 1
    with pytest.raises(InputRejected) as caught:
        revocations.record(deps, stop(message="STOP ALL"), SMS)
    assert caught.value.reason is Reason.REVOCATION_ID_CONFLICT
    # Another recorder's id is another revocation.
    assert revocations.record(deps, stop(), Recorder(role="buyer", name="crm")).status == "recorded"


def test_a_vendor_records_revocations_only_for_consumers_of_its_own_leads(world):
    deps, store, _, _ = world
    store.leads = {"b": lead("b", "beta")}
    with pytest.raises(InputRejected) as caught:
        revocations.record(deps, stop(), Recorder(role="vendor", name="acme"))
    assert caught.value.reason is Reason.CONSUMER_NOT_FOUND
    assert store.histories == []
    # beta's own consumer: recorded, and applied to every lead of the consumer (consent is the consumer's).
    store.leads["a"] = lead("a", "acme", phone="5125550142")
    assert revocations.record(deps, stop(), Recorder(role="vendor", name="beta")).leads == 2


def test_a_revocation_expressed_in_the_future_is_refused_naming_the_field(world):
    deps, _, _, _ = world
    with pytest.raises(InputRejected) as caught:
        revocations.record(deps, stop(expressed_at=NOW + timedelta(hours=1)), SMS)
    assert caught.value.errors is not None and caught.value.errors[0].field == "expressed_at"


def test_a_lead_whose_consent_came_after_the_revocation_gets_no_entry(world):
    deps, store, _, _ = world
    expressed = NOW - timedelta(days=5)
    store.leads = {
        "old": lead("old", "acme", created_at=iso(expressed - timedelta(days=1))),
        "new": lead("new", "acme", created_at=iso(expressed + timedelta(days=1))),
        "unknown": lead("unknown", "acme"),  # no creation time: counts as before
    }
    answer = revocations.record(deps, stop(expressed_at=expressed), SMS)
    assert sorted(revoked_leads(store)) == ["old", "unknown"] and answer.leads == 2


def test_honor_by_is_ten_business_days_across_christmas_and_new_years_day(world):
    deps, _, _, clock = world
    clock["now"] = datetime(2026, 12, 18, 21, 0, tzinfo=UTC)
    # Friday 18 December 2026, 15:00 in New York: 21-24, 28-31 December, 4 and 5 January (25 December and
    # 1 January are holidays): honoured by the end of Tuesday 5 January 2027.
    expressed = datetime(2026, 12, 18, 15, 0, tzinfo=EASTERN)
    assert honour_deadline(expressed) == datetime(2027, 1, 6, 0, 0, tzinfo=EASTERN)
    answer = revocations.record(deps, stop(expressed_at=expressed), SMS)
    assert answer.honor_by == iso(datetime(2027, 1, 6, 0, 0, tzinfo=EASTERN))
    # Sent in UTC (already Saturday 19th there): still counted on the Eastern calendar.
    assert honour_deadline(datetime(2026, 12, 19, 2, 0, tzinfo=UTC)) == datetime(2027, 1, 6, 0, 0, tzinfo=EASTERN)


def test_a_revocation_the_time_ran_out_on_is_applied_by_the_scheduled_run(world):
    deps, store, ledger, clock = world
    store.leads = {"a": lead("a", "acme"), "b": lead("b", "beta")}
    answer = revocations.record(deps, stop(), SMS, deadline=time.monotonic())  # no time left to apply it
    assert (answer.status, answer.honored_at, answer.leads) == ("recorded", None, None)
    assert store.histories == []
    # The scheduled run leaves a revocation recorded a moment ago to its own invocation.
    clock["now"] = NOW + timedelta(seconds=10)
    assert revocations.honour_unhonoured(deps, honour_seconds=900).pending == []
    # Later: applied, and counted as not honoured in time once past the setting.
    clock["now"] = NOW + timedelta(minutes=20)
    report = revocations.honour_unhonoured(deps, honour_seconds=900)
    assert report.honoured == report.overdue == [answer.revocation_id]
    assert sorted(revoked_leads(store)) == ["a", "b"]
    assert ledger.revocations[answer.revocation_id or ""].honored_at == iso(NOW + timedelta(minutes=20))
    assert revocations.honour_unhonoured(deps, honour_seconds=900).pending == []


def test_the_scheduled_run_does_not_write_a_revocation_twice_to_a_lead_that_has_it(world):
    deps, store, ledger, clock = world
    store.leads = {"a": lead("a", "acme"), "b": lead("b", "beta")}
    answer = revocations.record(deps, stop(), SMS, deadline=time.monotonic())
    noted = HistoryItem(
        iso(NOW), "consent_revoked", "buyer:sms-platform", "a", "cert-a", {"revocation_id": answer.revocation_id}
    )
    store.records["a"] = LeadRecord(store.leads["a"], [noted], [])  # its invocation wrote "a", then died
    clock["now"] = NOW + timedelta(minutes=2)
    revocations.honour_unhonoured(deps, honour_seconds=900)
    assert revoked_leads(store) == ["b"]
    assert ledger.revocations[answer.revocation_id or ""].leads == ["a", "b"]


def test_a_lead_the_revocation_did_not_reach_gets_its_entry_from_the_next_scheduled_runs_once(world):
    """A lead of the consumer the consumer index did not hold when the revocation asked it (taken while it
    was being recorded; on AWS, an index that lags): its entry and event come from the scheduled run."""
    deps, store, ledger, clock = world
    store.leads = {"a": lead("a", "acme")}
    answer = revocations.record(deps, stop(), SMS)
    assert revoked_leads(store) == ["a"]
    store.leads["c"] = lead("c", "beta")  # consent given before the revocation, in the store only now
    clock["now"] = NOW + timedelta(seconds=30)  # its own invocation may still be at work: left alone
    assert revocations.honour_unhonoured(deps, honour_seconds=900).late == []
    clock["now"] = NOW + timedelta(minutes=2)
    assert revocations.honour_unhonoured(deps, honour_seconds=900).late == ["c"]
    assert sorted(revoked_leads(store)) == ["a", "c"]
    stored = ledger.revocations[answer.revocation_id or ""]
    assert (stored.leads, stored.lead_count) == (["a", "c"], 2)
    clock["now"] = NOW + timedelta(minutes=7)
    assert revocations.honour_unhonoured(deps, honour_seconds=900).late == []  # never written twice
    store.leads["d"] = lead("d", "beta")
    clock["now"] = NOW + timedelta(hours=2)  # past the window: the gate, reading the ledger, still closes
    assert revocations.honour_unhonoured(deps, honour_seconds=900).late == []


def test_a_contact_is_kept_in_the_leads_history_once_per_contact_id(world):
    deps, store, _, _ = world
    store.records = {"a": LeadRecord(lead("a", "acme"), [], [])}
    report = ContactReport(channel="call", at=NOW - timedelta(hours=1), outcome="no_answer", contact_id="c-1")
    first = contacts.report_contact(deps, vendor=None, lead_id="a", report=report, actor="buyer:dialer")
    assert (first.recorded, first.contacts_24h) == (True, 1)
    [written] = store.histories
    assert written.events[0].detail == {
        "channel": "call",
        "at": iso(NOW - timedelta(hours=1)),
        "outcome": "no_answer",
        "brand": None,
        "contact_id": "c-1",
    }
    history = [HistoryItem(iso(NOW), "contact", "buyer:dialer", "a", "cert-a", written.events[0].detail)]
    store.records["a"] = LeadRecord(store.records["a"].lead, history, [])
    again = contacts.report_contact(deps, vendor=None, lead_id="a", report=report, actor="buyer:dialer")
    assert (again.recorded, again.contacts_24h, len(store.histories)) == (False, 1, 1)
    with pytest.raises(InputRejected) as caught:  # another vendor's lead does not exist for it
        contacts.report_contact(deps, vendor="beta", lead_id="a", report=report, actor="vendor:beta")
    assert caught.value.reason is Reason.LEAD_NOT_FOUND
    future = ContactReport(channel="call", at=NOW + timedelta(hours=1))
    with pytest.raises(InputRejected) as refused:
        contacts.report_contact(deps, vendor=None, lead_id="a", report=future, actor="buyer:dialer")
    assert refused.value.errors is not None and refused.value.errors[0].field == "at"


# --- the pure parts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "revokes"),
    [
        ("STOP", True),
        ("stop ", True),
        ("Opt-out", True),
        ("unsubscribe.", True),
        ("CANCEL", True),
        ("please stop texting me", False),
        ("", False),
        (None, False),
        ("stopp", False),
    ],
)
def test_the_words_that_revoke_consent_by_themselves(message, revokes):
    assert is_opt_out_word(message) is revokes


def test_revoke_all_is_in_force_from_midnight_starting_31_january_2027_in_washington():
    assert not revoke_all_in_force(datetime(2027, 1, 31, 4, 59, tzinfo=UTC))
    assert revoke_all_in_force(datetime(2027, 1, 31, 5, 0, tzinfo=UTC))


def test_a_revocations_words_are_sealed_for_its_record_alone():
    """The ledger keeps the message sealed (it may name the number: "STOP calling 512 555 0142"): the same words
    under another record, or under another key, are other bytes; the key and the record's name read them back."""
    keyring = FakeKeyring()
    words = "STOP calling (512) 555-0142, I never asked for this. " * 3  # longer than one keystream block
    sealed = keyring.seal_text(("rev-1", "2026-11-23T17:00:00.000000Z"), words)
    assert len(sealed) == len(words.encode()) and b"555" not in sealed and b"STOP" not in sealed
    assert keyring.unseal_text(("rev-1", "2026-11-23T17:00:00.000000Z"), sealed) == words
    assert keyring.seal_text(("rev-2", "2026-11-23T17:00:00.000000Z"), words) != sealed
    other = Keyring(lambda: b"another deployment's consumer key")
    assert other.seal_text(("rev-1", "2026-11-23T17:00:00.000000Z"), words) != sealed
    assert keyring.seal_text(("rev-1", "2026-11-23T17:00:00.000000Z"), "") == b""


def test_every_spelling_of_a_north_american_number_is_searched():
    assert phone_spellings("+1 (512) 555-0142") == ["+15125550142", "5125550142", "15125550142"]
    assert phone_spellings("44 20 7946 0958") == ["442079460958"]  # not North American: as given
    assert consumer_fingerprints(None, "512.555.0142")["phone"] == [
        lead_fingerprints(None, spelling)["phone"] for spelling in ("5125550142", "15125550142", "+15125550142")
    ]


@pytest.mark.parametrize(
    ("fields", "phone", "place"),
    [
        ({"State": "Florida", "zip": "33101-1234"}, "(305) 555-0100", Place(state="FL", zip="33101", area_code="305")),
        ({"zip_code": 2134}, None, Place(zip="02134")),  # a ZIP sent as a number lost its leading zero
        ({"state": "Narnia", "postal_code": "ABC"}, "+44 20 7946 0958", None),  # nothing valid, not a US number
        ({}, "1-512-555-0142", Place(area_code="512")),
    ],
)
def test_intake_keeps_the_consumers_state_zip_and_area_code_never_the_number(fields, phone, place):
    assert place_from(fields, phone) == place
