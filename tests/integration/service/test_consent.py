"""Consent withdrawn and the law of the hour, end to end in-process: leads posted through the local gateway
(the real authorizer, intake and consent handlers, moto, the simulator), revocations and contacts reported
through the API, the call gate asked, the evidence chains and the published events read back. The gate's
clock is fixed where the hour matters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tf_retainer.domain import chain
from tf_retainer.domain.contacts import lead_fingerprints

from local.functions import invoke
from local.simulator import make_web_cert_id
from local.streams import StreamPoller
from tests.support.stack import aws_client, buyer_key, later, lead, post_json

PHONE = "(512) 555-1212"  # the default lead's
SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}


def gate(stack, lead_id: str, *, key: str | None = None, **query: str) -> dict[str, Any]:
    headers = {"x-api-key": key or stack.vendor_key}
    response = stack.gateway.handle("GET", f"/leads/{lead_id}/contactable", headers, b"", query=query or None)
    assert response.status == 200, response.text if hasattr(response, "text") else response.body
    answer: dict[str, Any] = response.json()
    return answer


def history_types(stack, lead_id: str) -> list[str]:
    record = stack.reader.read_lead(lead_id)
    return [event.type for event in record.history]


def published(stack) -> list[dict[str, Any]]:
    StreamPoller(stack.provisioned, retry_delay_seconds=0).drain()
    events = []
    while out := stack.sqs.receive_message(QueueUrl=stack.provisioned.events_queue_url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        for message in out:
            events.append(json.loads(message["Body"]))
            stack.sqs.delete_message(
                QueueUrl=stack.provisioned.events_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
    return events


@pytest.fixture
def clock(monkeypatch):
    """Fix the service's clock (the gate's, the contact reports') at a moment."""
    from tf_retainer.wiring import default_deps

    def at(moment: datetime) -> None:
        monkeypatch.setattr(default_deps(), "clock", lambda: moment)

    return at


def test_a_stop_by_phone_closes_every_lead_of_the_consumer_across_vendors_in_one_invocation(stack):
    first = stack.post(lead(lead_id="A-1")).json()
    second = stack.post(lead(phone="+1 512 555 1212"), key=stack.add_vendor("beta-leads")).json()  # spelt otherwise
    other = stack.post(lead(email="bob@example.com", phone="(512) 555-0199")).json()
    assert [gate(stack, p["lead_id"], channel="email")["contactable"] for p in (first, other)] == [True, True]

    stop = {"id": "SM-0001", "phone": "512.555.1212", "via": "sms", "message": "STOP"}
    response = post_json(stack, "/revocations", stop, buyer_key(stack, "sms-platform"))
    assert response.status == 201
    answer = response.json()
    # Applied to both leads within the one invocation that recorded it.
    assert (answer["status"], answer["leads"]) == ("recorded", 2)
    assert answer["honored_at"] is not None and answer["honored_at"] <= answer["honor_by"]

    for posted in (first, second):
        assert history_types(stack, posted["lead_id"])[-1] == "consent_revoked"
    closed = gate(stack, first["lead_id"], channel="email")
    assert (closed["contactable"], closed["reason"], closed["next_allowed_at"]) == (False, "consent_revoked", None)
    assert gate(stack, other["lead_id"], channel="email")["contactable"] is True
    # The chain of a revoked lead still verifies, the revocation in it.
    record = stack.reader.read_lead(first["lead_id"])
    lead_state = record.lead
    entries = chain.verify(
        record.chain, chain.genesis(lead_state.lead_id, lead_state.vendor, lead_state.cert_id, lead_state.received_at)
    )
    assert entries[-1].events[-1]["detail"]["revocation_id"] == answer["revocation_id"]

    # One "Lead Consent Revoked" event per lead, without contact details or the consumer's words.
    events = [e for e in published(stack) if e["detail-type"] == "Lead Consent Revoked"]
    assert sorted(e["detail"]["answer"]["lead_id"] for e in events) == sorted([first["lead_id"], second["lead_id"]])
    # Each names the certificate whose consent the consumer withdrew (a dialer keyed on it stops too).
    assert {e["detail"]["answer"]["lead_id"]: e["detail"]["certificate"] for e in events} == {
        posted["lead_id"]: {"cert_id": posted["cert_id"]} for posted in (first, second)
    }
    for event in events:
        text = json.dumps(event)
        assert "STOP" not in text and lead_fingerprints(None, "5125551212")["phone"] not in text
        assert event["detail"]["history"]["revocation_id"] == answer["revocation_id"]

    # The same id again: nothing changes; other content under it: 409.
    again = post_json(stack, "/revocations", stop, buyer_key(stack, "sms-platform"))
    assert (again.status, again.json()["status"]) == (200, "repeated")
    conflict = post_json(stack, "/revocations", {**stop, "message": "STOP ALL"}, buyer_key(stack, "sms-platform"))
    assert (conflict.status, conflict.json()["reason"]) == (409, "revocation_id_conflict")


def test_the_ledger_names_the_consumer_only_by_the_consumer_indexs_tokens_and_seals_the_words(stack):
    """Issue 26's rule for the ledger too: nothing in it names the consumer to a reader of the table (no number,
    no email, no bare SHA-1 of either, not the words, which name the number); its notices sit under the very
    keys the consumer index holds for the leads (a lead's gsi3pk/gsi4pk), so the gate finds them from the lead."""
    from tf_retainer.domain.contacts import consumer_fingerprints
    from tf_retainer.store import keys
    from tf_retainer.wiring import default_deps

    first = stack.post(lead()).json()
    second = stack.post(lead(phone="+1 512 555 1212"), key=stack.add_vendor("beta-leads")).json()
    words = "STOP calling (512) 555-1212 or writing to jane.doe@example.com"
    stop = {"id": "CRM-26", "phone": "512.555.1212", "email": "jane.doe@example.com", "via": "email", "message": words}
    answer = post_json(stack, "/revocations", stop, buyer_key(stack)).json()
    assert (answer["status"], answer["leads"]) == ("recorded", 2)

    items = stack.all_items()
    ledger = [item for item in items if str(item["pk"]).startswith(("REVOCATION#", "REVOKED#"))]
    stored = json.dumps(ledger, default=repr)
    fingerprints = [
        f for found in consumer_fingerprints("jane.doe@example.com", "512.555.1212").values() for f in found
    ]
    for clear in ("5125551212", "555-1212", "jane.doe@example.com", "STOP calling", *fingerprints):
        assert clear not in stored, clear
    states = {item["pk"]: item for item in items if keys.is_state(item)}
    index_keys = {states[keys.lead_pk(p["lead_id"])][name] for p in (first, second) for name in ("gsi3pk", "gsi4pk")}
    notices = {str(item["pk"]).removeprefix("REVOKED#") for item in ledger if str(item["pk"]).startswith("REVOKED#")}
    assert index_keys <= notices  # both leads' phone spellings and the email: each a notice
    # The ledger reads its words back with the key.
    assert default_deps().ledger.get(answer["revocation_id"]).message == words


def test_a_revocation_scoped_to_one_brand_leaves_other_brands_open(stack):
    posted = stack.post(lead()).json()
    scoped = {"id": "CRM-7", "email": "jane.doe@example.com", "brand": "Acme Solar", "via": "agent"}
    assert post_json(stack, "/revocations", scoped, buyer_key(stack)).status == 201
    assert gate(stack, posted["lead_id"], channel="email", brand="acme solar")["reason"] == "consent_revoked"
    assert gate(stack, posted["lead_id"], channel="email", brand="Acme Roofing")["contactable"] is True


@pytest.mark.parametrize("stack_env", [{"INSIGHTS_PROPERTIES": "is_masked,created_at"}])
def test_a_newer_certificate_reopens_only_its_own_lead_and_the_evidence_says_both_in_order(stack):
    now = datetime.now(UTC)
    old_cert, new_cert = make_web_cert_id(), make_web_cert_id()
    stack.sim.script(old_cert, ["success"], created_at=now - timedelta(days=2))
    old = stack.post(lead(old_cert)).json()
    stop = {
        "id": "SM-9",
        "phone": PHONE,
        "via": "sms",
        "message": "stop",
        "expressed_at": (now - timedelta(hours=1)).isoformat(),
    }
    assert post_json(stack, "/revocations", stop, buyer_key(stack)).json()["leads"] == 1
    stack.sim.script(new_cert, ["success"], created_at=now - timedelta(minutes=10))  # consent given again
    new = stack.post(lead(new_cert)).json()
    assert gate(stack, new["lead_id"], channel="email")["contactable"] is True
    assert gate(stack, old["lead_id"], channel="email")["reason"] == "consent_revoked"
    # The old lead's chain has the revocation; the new certificate was made after it was expressed.
    revoked_at = stack.reader.read_lead(old["lead_id"]).history[-1].detail["expressed_at"]
    assert stack.reader.get_lead(new["lead_id"]).created_at > revoked_at
    assert "consent_revoked" not in history_types(stack, new["lead_id"])


def test_who_may_record_a_revocation_and_bad_ones_are_refused_naming_the_field(stack):
    posted = stack.post(lead()).json()
    stranger = stack.add_vendor("stranger-leads")
    body = {"id": "V-STOP-1", "phone": PHONE, "via": "phone"}
    refused = post_json(stack, "/revocations", body, stranger)  # a vendor with no lead of this consumer
    assert (refused.status, refused.json()["reason"]) == (404, "consumer_not_found")
    assert gate(stack, posted["lead_id"], channel="email")["contactable"] is True
    assert post_json(stack, "/revocations", body, stack.vendor_key).status == 201  # the lead's own vendor

    nobody = post_json(stack, "/revocations", {"id": "X-1", "via": "sms"}, buyer_key(stack))
    assert (nobody.status, nobody.json()["reason"]) == (422, "invalid_request")
    unknown = post_json(stack, "/revocations", {"id": "X-2", "phone": PHONE, "channels": ["fax"]}, buyer_key(stack))
    assert [e["field"] for e in unknown.json()["errors"]] == ["channels.0"]
    assert post_json(stack, "/revocations", b"{not json", buyer_key(stack)).status == 400
    surrogate = b'{"id": "X-3", "phone": "512 555 1212", "message": "\\ud800"}'
    assert [e["field"] for e in post_json(stack, "/revocations", surrogate, buyer_key(stack)).json()["errors"]] == [
        "message"
    ]
    # A buyer-system key posts no lead; it asks the gate about any lead, by our id.
    assert stack.post(lead(), key=buyer_key(stack)).json()["reason"] == "not_a_vendor_key"
    assert gate(stack, posted["lead_id"], key=buyer_key(stack), channel="email")["reason"] == "consent_revoked"


def test_a_batch_of_stops_is_recorded_item_by_item(stack):
    stack.post(lead()).json()
    batch = {
        "revocations": [
            {"id": "SM-1", "phone": "+15125551212", "via": "sms", "message": "STOP"},
            {"id": "SM-2", "phone": "not a number", "via": "sms", "message": "STOP"},
            {"id": "SM-3", "email": "nobody@example.com", "via": "sms", "message": "quit"},
            {"id": "SM-4", "via": "sms", "message": "STOP"},  # whose? refused on the field that says it
        ]
    }
    response = post_json(stack, "/revocations/batch", batch, buyer_key(stack, "sms-platform"))
    assert response.status == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["recorded", "refused", "recorded", "refused"]
    assert [r["leads"] for r in results] == [1, None, 0, None]
    assert [e["field"] for e in results[1]["errors"]] == ["revocations.1.phone"]
    assert [(e["field"], e["message"]) for e in results[3]["errors"]] == [
        ("revocations.3.phone", "phone or email is required: whose consent is withdrawn")
    ]
    again = post_json(stack, "/revocations/batch", batch, buyer_key(stack, "sms-platform")).json()["results"]
    assert [r["status"] for r in again] == ["repeated", "refused", "repeated", "refused"]
    too_many = {"revocations": [{"id": f"S-{n}", "phone": PHONE} for n in range(101)]}
    assert post_json(stack, "/revocations/batch", too_many, buyer_key(stack)).status == 422


def test_contacts_reported_are_counted_by_a_capped_states_gate(stack, clock):
    florida = stack.post(lead(state="FL", zip="33101", phone="(305) 555-0100", email="fl@example.com")).json()
    now = datetime(2026, 11, 23, 15, 0, tzinfo=ZoneInfo("America/New_York"))  # a Monday afternoon in Miami
    clock(now)
    dialer = buyer_key(stack, "dialer")
    for hours_ago in (5, 3, 1):
        report = {"channel": "call", "at": (now - timedelta(hours=hours_ago)).isoformat(), "outcome": "no_answer"}
        response = post_json(stack, f"/leads/{florida['lead_id']}/contacts", report, dialer)
        assert response.status == 201
    assert response.json()["contacts_24h"] == 3
    fourth = gate(stack, florida["lead_id"], key=dialer)
    assert (fourth["contactable"], fourth["reason"]) == (False, "contact_limit_reached")
    assert fourth["next_allowed_at"] == (now - timedelta(hours=5) + timedelta(hours=24)).astimezone(UTC).isoformat(
        timespec="microseconds"
    ).replace("+00:00", "Z")
    assert fourth["facts"]["calling"]["location"]["states"] == ["FL"]
    assert history_types(stack, florida["lead_id"]).count("contact") == 3
    # 20:00 in Miami: Florida's window is closed, whatever the count.
    clock(datetime(2026, 11, 24, 20, 0, tzinfo=ZoneInfo("America/New_York")))
    evening = gate(stack, florida["lead_id"], key=dialer)
    assert (evening["reason"], evening["next_allowed_at"]) == ("outside_calling_hours", "2026-11-25T13:00:00.000000Z")


def test_the_scheduled_run_applies_a_revocation_its_invocation_did_not(stack, monkeypatch):
    from tf_retainer.leads import revocations

    posted = stack.post(lead()).json()
    real_apply = revocations.apply
    monkeypatch.setattr(revocations, "apply", lambda *args, **kwargs: None)  # the invocation ran out of time
    answer = post_json(stack, "/revocations", {"id": "LATE-1", "phone": PHONE}, buyer_key(stack)).json()
    assert (answer["status"], answer["honored_at"]) == ("recorded", None)
    assert gate(stack, posted["lead_id"], channel="email")["reason"] == "consent_revoked"  # closed all the same
    monkeypatch.setattr(revocations, "apply", real_apply)
    from tf_retainer.wiring import default_deps

    later = default_deps().clock() + timedelta(minutes=20)
    monkeypatch.setattr(default_deps(), "clock", lambda: later)
    report = invoke("ConsentFunction", SCHEDULED)
    assert report["honoured"] == report["overdue"] == [answer["revocation_id"]]
    assert history_types(stack, posted["lead_id"])[-1] == "consent_revoked"
    assert invoke("ConsentFunction", SCHEDULED) == {"pending": [], "overdue": [], "honoured": [], "late": []}


def test_a_lead_taken_hours_after_its_consumers_revocation_gets_its_entry_and_event(stack, monkeypatch):
    """The revocation's own fan-out found no lead, and the scheduled run looks only an hour on: the lead gets
    its consent_revoked entry when its outcome is recorded, and dialers its Lead Consent Revoked after
    its Lead Retained."""
    from tf_retainer.wiring import default_deps

    stop = {"id": "SM-EARLY", "phone": PHONE, "via": "sms", "message": "STOP"}
    recorded = post_json(stack, "/revocations", stop, buyer_key(stack)).json()
    assert (recorded["leads"], recorded["honored_at"] is not None) == (0, True)
    published(stack)  # what came before the lead
    later(monkeypatch, timedelta(hours=2))

    posted = stack.post(lead(lead_id="AFTER-1")).json()
    assert posted["status"] == "retained"  # the vendor's answer is the certificate's, as for any lead
    history = stack.reader.read_lead(posted["lead_id"]).history
    assert [event.type for event in history][-2:] == ["retained", "consent_revoked"]
    assert history[-1].detail["revocation_id"] == recorded["revocation_id"]
    stranger = stack.post(lead(email="bob@example.com", phone="(512) 555-0199")).json()
    assert "consent_revoked" not in history_types(stack, stranger["lead_id"])

    events = [(e["detail-type"], e["detail"]["answer"]["lead_id"]) for e in published(stack)]
    assert [kind for kind, lead_id in events if lead_id == posted["lead_id"]] == [
        "Lead Retained",
        "Lead Consent Revoked",
    ]
    revocation = default_deps().ledger.get(recorded["revocation_id"])
    assert revocation is not None and (revocation.leads, revocation.lead_count) == ([posted["lead_id"]], 1)
    assert gate(stack, posted["lead_id"], channel="email")["reason"] == "consent_revoked"


def test_a_lead_taken_within_the_hour_after_a_revocation_has_its_entry_once_though_the_scheduled_run_looks_too(
    stack, monkeypatch
):
    recorded = post_json(stack, "/revocations", {"id": "SM-HOUR", "phone": PHONE}, buyer_key(stack)).json()
    later(monkeypatch, timedelta(minutes=10))
    posted = stack.post(lead()).json()
    assert history_types(stack, posted["lead_id"])[-1] == "consent_revoked"
    later(monkeypatch, timedelta(minutes=20))
    report = invoke("ConsentFunction", SCHEDULED)
    assert report["late"] == []
    assert history_types(stack, posted["lead_id"]).count("consent_revoked") == 1
    assert recorded["revocation_id"] in json.dumps(stack.reader.read_lead(posted["lead_id"]).history[-1].detail)


@pytest.mark.parametrize(
    ("stack_env", "status"),
    [({"CERTIFICATE_REUSE_POLICY": "reject"}, "rejected"), ({"CERTIFICATE_REUSE_POLICY": "share"}, "retained")],
)
def test_a_lead_refused_or_shared_at_intake_after_a_revocation_gets_its_entry_too(stack, monkeypatch, status):
    """Its certificate is another lead's (another consumer's, taken before): no attempt is made, yet its
    final outcome is recorded after the consumer's revocation, so its chain gets the entry."""
    cert_id = make_web_cert_id()
    stack.post(lead(cert_id, email="holder@example.com", phone="(512) 555-0177")).json()
    post_json(stack, "/revocations", {"id": "SM-REUSE", "phone": PHONE}, buyer_key(stack))
    later(monkeypatch, timedelta(hours=2))
    posted = stack.post(lead(cert_id)).json()
    assert posted["status"] == status
    assert history_types(stack, posted["lead_id"])[-2:] == [status, "consent_revoked"]


def test_a_lead_expired_after_a_revocation_gets_its_entry_too(stack, monkeypatch):
    from local.poller import RetryPoller

    post_json(stack, "/revocations", {"id": "SM-EXPIRED", "phone": PHONE}, buyer_key(stack))
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable"])
    posted = stack.post(lead(cert_id)).json()
    assert posted["status"] == "pending" and "consent_revoked" not in history_types(stack, posted["lead_id"])
    stack.rewrite_state(posted["lead_id"], deadline=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    messages = stack.next_retry_messages()
    assert messages and RetryPoller(stack.provisioned, wait_seconds=2).process(messages) == []
    assert history_types(stack, posted["lead_id"])[-2:] == ["expired", "consent_revoked"]


def test_a_lead_whose_outcome_could_not_read_the_ledger_gets_its_entry_from_the_scheduled_run(stack, monkeypatch):
    """The ledger unreadable at the lead's outcome (the table throttled past the store's retries): the vendor
    is answered as ever, the miss counted; the scheduled run, within the hour, writes the entry, once."""
    from tf_retainer.ports.leads import StoreUnavailable
    from tf_retainer.wiring import default_deps

    recorded = post_json(stack, "/revocations", {"id": "SM-MISSED", "phone": PHONE}, buyer_key(stack)).json()
    ledger = default_deps().ledger
    real_notices = ledger.notices

    def unavailable_to_outcomes(tokens, *, consistent=True):
        if not consistent:  # the outcome's read; the gate's (strongly consistent) still works
            raise StoreUnavailable("throttled")
        return real_notices(tokens, consistent=consistent)

    monkeypatch.setattr(ledger, "notices", unavailable_to_outcomes)
    later(monkeypatch, timedelta(minutes=5))
    posted = stack.post(lead()).json()
    assert posted["status"] == "retained"
    assert "consent_revoked" not in history_types(stack, posted["lead_id"])
    assert gate(stack, posted["lead_id"], channel="email")["reason"] == "consent_revoked"  # closed all the same

    later(monkeypatch, timedelta(minutes=15))
    report = invoke("ConsentFunction", SCHEDULED)
    assert report["late"] == [posted["lead_id"]]
    assert history_types(stack, posted["lead_id"]).count("consent_revoked") == 1
    assert default_deps().ledger.get(recorded["revocation_id"]).lead_count == 1
    assert invoke("ConsentFunction", SCHEDULED)["late"] == []


def test_a_revocation_the_store_cannot_take_is_answered_503_to_send_again_and_nothing_is_recorded(stack):
    """The consumer key unreadable (its secret gone) in a fresh container: 503 store_unavailable with
    Retry-After, the caller sends it again; never a 500."""
    from tf_retainer import wiring

    posted = stack.post(lead(phone="5125551313")).json()
    key = buyer_key(stack)
    secretsmanager = aws_client("secretsmanager")
    secretsmanager.delete_secret(SecretId=stack.provisioned.consumer_key_secret_id, ForceDeleteWithoutRecovery=True)
    wiring.reset()  # a new container: it must read the key
    response = post_json(stack, "/revocations", {"id": "SM-503", "phone": "5125551313", "via": "sms"}, key)
    assert response.status == 503, response.json()
    assert response.json()["reason"] == "store_unavailable" and response.headers.get("Retry-After") == "5"
    assert "consent_revoked" not in history_types(stack, posted["lead_id"])
