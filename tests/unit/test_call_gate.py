"""The call gate (gate.contactable) through the Deps seam: a lead in memory, its stored exchanges and history,
the revocation ledger, the calling rules, a fixed clock. Yes only for a lead whose consumer has not withdrawn
consent, retained, matched (or accepted masked), rule-passing, with its retain on file, a contact for the
channel, and the law of the hour allowing the contact now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tf_retainer.api.status import refusal_status
from tf_retainer.aws.queues import SqsRetryQueue
from tf_retainer.decisions.calling import CallingOverride, CallingRules, default_rules
from tf_retainer.decisions.rulebook import RulesInForce, from_settings
from tf_retainer.domain.contacts import Channel, consumer_fingerprints, lead_fingerprints
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.lead import HistoryItem, Lead, LeadRecord, Place
from tf_retainer.domain.models import GateReason, LeadMatch, Reason, Status
from tf_retainer.domain.revocation import Recorder, Revocation, Scope, consumer_tokens
from tf_retainer.leads import gate
from tf_retainer.leads.deps import Deps
from tf_retainer.runtime.clock import iso

from tests.support.fakes import FakeKeyring, FakeLedger, FakeSqs, FakeStore, UnusedTrustedForm

# Monday 23 November 2026, noon in New York: inside every calling window of the leads below.
NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
VENDOR = "acme"
CERT_ID = "eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947"
MATCHED = LeadMatch(email_match=True, phone_match=None, success=True)
NOT_MATCHED = LeadMatch(email_match=False, phone_match=None, success=False)
EMAIL, PHONE = "ann@example.com", "(212) 555-0142"


def tf_exchange(body: dict[str, Any] | str, status: int = 200) -> dict[str, Any]:
    """A raw exchange item as the store keeps it (trustedform.Exchange.to_item)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "attempt": 1,
        "started_at": iso(NOW),
        "duration_ms": 42.0,
        "request": {"method": "POST", "url": f"https://cert.trustedform.com/{CERT_ID}", "headers": {}, "body": "{}"},
        "response": {"status": status, "reason": "", "headers": {}, "body": text},
        "error": None,
        "error_detail": None,
    }


RETAIN = tf_exchange({"outcome": "success", "retain": {"results": {"expires_at": "2027-02-20T12:00:00Z"}}})
PROBE = tf_exchange({"outcome": "success", "match_lead": {"result": {"success": True}}})  # decide_first's ask


def retained_lead(**changes: Any) -> Lead:
    fields: dict[str, Any] = {
        "lead_id": "lead-0001",
        "vendor": VENDOR,
        "vendor_lead_id": "V-1",
        "status": Status.RETAINED,
        "cert_id": CERT_ID,
        "cert_kind": "web",
        "certificate_url": f"https://cert.trustedform.com/{CERT_ID}",
        "received_at": iso(NOW - timedelta(days=1)),
        "deadline": iso(NOW),
        "retained": True,
        "masked": False,
        "lead_match": MATCHED,
        "final_at": iso(NOW),
        "match_lead": lead_fingerprints(EMAIL, PHONE),
        "place": Place(area_code="212"),  # New York
    }
    return Lead.model_validate(fields | changes)


def contact(at: datetime, channel: str = "call") -> HistoryItem:
    """A contact reported for the lead (POST /leads/{lead_id}/contacts), as its history holds it."""
    return HistoryItem(iso(at), "contact", "buyer:crm", "lead-0001", CERT_ID, {"channel": channel, "at": iso(at)})


def revocation(expressed_at: datetime = NOW - timedelta(hours=1), **scope: Any) -> Revocation:
    """A revocation of the lead's consumer's phone, as the ledger holds it."""
    return Revocation(
        revocation_id=f"rev-{expressed_at:%H%M}-{scope.get('brand', 'all')}",
        client_id="sms-1",
        # The SMS platform's spelling, as the ledger keeps it: the consumer index's tokens of each spelling.
        consumer=consumer_tokens(FakeKeyring(), consumer_fingerprints(None, "+1 212 555 0142")),
        expressed_at=iso(expressed_at),
        via="sms",
        scope=Scope(**scope),
        recorded_by=Recorder(role="buyer", name="sms-platform"),
        recorded_at=iso(expressed_at),
        message="STOP",
        honor_by=iso(expressed_at + timedelta(days=14)),
    )


@pytest.fixture
def ask(settings):
    """Store a lead (its exchanges, its history), then ask the gate about it."""

    def ask(
        lead: Lead,
        exchanges: list[dict[str, Any]] | None = None,
        *,
        lead_id: str | None = None,
        others: dict[str, list[dict[str, Any]]] | None = None,  # other leads' exchanges
        history: list[HistoryItem] | None = None,
        revoked: list[Revocation] | None = None,
        now: datetime = NOW,
        channel: Channel = "call",
        brand: str | None = None,
        calling: CallingRules | None = None,
        checks: tuple[gate.Check, ...] | None = None,
        **settings_changes: Any,
    ):
        records = {
            lead_id: LeadRecord(lead.model_copy(update={"lead_id": lead_id}), [], held)
            for lead_id, held in (others or {}).items()
        }
        records[lead.lead_id] = LeadRecord(lead, history or [], [RETAIN] if exchanges is None else exchanges)
        store = FakeStore(records=records, vendor_lead_ids={(VENDOR, "V-1"): lead.lead_id})
        configured = settings.model_copy(update=settings_changes)
        deps = Deps(
            settings=configured,
            writer=store,
            reader=store,
            index=store,
            trustedform=UnusedTrustedForm(),
            retry_queue=SqsRetryQueue(FakeSqs(), configured.retry_queue_url),
            api_key=lambda force: "unused",
            rules=lambda vendor: RulesInForce(from_settings(configured), "settings"),
            ledger=FakeLedger({r.revocation_id: r for r in revoked or []}),
            calling=lambda: calling or default_rules(),
            keyring=FakeKeyring(),
            clock=lambda: now,
        )
        question = gate.Question(channel=channel, brand=brand)
        return gate.contactable(deps, vendor=VENDOR, lead_id=lead_id or lead.lead_id, question=question, checks=checks)

    return ask


def test_a_retained_matched_ruled_lead_with_its_retain_stored_is_contactable(ask):
    answer = ask(retained_lead(rules_passed=True, verdicts=[{"rule": "max_age", "mode": "enforce", "passed": True}]))
    assert (answer.contactable, answer.reason) == (True, None)
    assert (answer.lead_id, answer.vendor_lead_id, answer.status) == ("lead-0001", "V-1", Status.RETAINED)
    assert answer.checked_at == iso(NOW)


def test_the_gate_finds_the_lead_by_the_vendors_own_lead_id(ask):
    assert ask(retained_lead(), lead_id="V-1").contactable is True


def test_a_lead_no_rule_set_judged_is_contactable(ask):
    # No stored rule set: the deployment's policies alone decided, and they kept the lead.
    assert ask(retained_lead(rules_passed=None, verdicts=None)).contactable is True


@pytest.mark.parametrize("status", [Status.RECEIVED, Status.PENDING])
def test_an_open_lead_is_not_contactable_yet(ask, status):
    lead = retained_lead(
        status=status, reason=Reason.TRUSTEDFORM_UNAVAILABLE, retained=None, next_attempt_at=iso(NOW), final_at=None
    )
    answer = ask(lead, exchanges=[])
    assert (answer.contactable, answer.reason, answer.status) == (False, GateReason.PENDING, Status.PENDING)
    assert answer.lead_reason is Reason.TRUSTEDFORM_UNAVAILABLE
    assert "ask again" in answer.detail


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.REJECTED, Reason.CERTIFICATE_NOT_FOUND),
        (Status.REJECTED, Reason.LEAD_MATCH_FAILED),  # retained by TrustedForm, refused by the policy
        (Status.EXPIRED, Reason.RETAIN_WINDOW_CLOSED),
    ],
)
def test_a_rejected_or_expired_lead_is_never_contactable(ask, status, reason):
    answer = ask(retained_lead(status=status, reason=reason))
    assert (answer.contactable, answer.reason, answer.lead_reason) == (False, GateReason.NOT_RETAINED, reason)


@pytest.mark.parametrize(
    ("lead_match", "why"),
    [(NOT_MATCHED, "did not match"), (None, "no lead match")],
)
def test_a_retained_lead_that_did_not_match_is_not_contactable(ask, lead_match, why):
    # LEAD_MATCH_POLICY=accept retains it; the dialer still must not call.
    answer = ask(retained_lead(lead_match=lead_match))
    assert (answer.contactable, answer.reason) == (False, GateReason.LEAD_NOT_MATCHED)
    assert why in answer.detail


def test_a_lead_sharing_another_leads_certificate_was_never_matched(ask):
    answer = ask(retained_lead(lead_match=None, shared_with_lead_id="lead-0000"))
    assert (answer.contactable, answer.reason) == (False, GateReason.LEAD_NOT_MATCHED)
    assert "shared" in answer.detail


def test_a_masked_certificate_is_contactable_when_the_buyer_accepts_masked(ask):
    answer = ask(retained_lead(masked=True, lead_match=NOT_MATCHED), masked_certificate_policy="accept")
    assert (answer.contactable, answer.reason) == (True, None)


def test_a_masked_certificate_is_not_contactable_when_the_buyer_refuses_masked(ask):
    answer = ask(retained_lead(masked=True, lead_match=NOT_MATCHED), masked_certificate_policy="refuse")
    assert (answer.contactable, answer.reason) == (False, GateReason.MASKED_NOT_ACCEPTED)


@pytest.mark.parametrize(
    "ruled",
    [
        {"rules_passed": False},
        {"verdicts": [{"rule": "bot_detected", "mode": "enforce", "passed": False, "reason": "bot_detected"}]},
    ],
)
def test_a_lead_the_buyers_rules_refused_is_not_contactable(ask, ruled):
    answer = ask(retained_lead(**ruled))
    assert (answer.contactable, answer.reason) == (False, GateReason.RULES_NOT_PASSED)


def test_a_shadow_rules_would_refuse_does_not_close_the_gate(ask):
    shadow = [{"rule": "bot_detected", "mode": "shadow", "passed": False, "reason": "bot_detected"}]
    assert ask(retained_lead(rules_passed=True, verdicts=shadow)).contactable is True


@pytest.mark.parametrize(
    "exchanges",
    [
        [],  # nothing stored
        [PROBE],  # decide_first's ask without retain: no retain results
        [tf_exchange({"outcome": "error", "reason": "Unavailable"}, status=503)],
        [tf_exchange("not json")],
    ],
)
def test_a_retained_lead_without_its_retaining_exchange_stored_is_not_contactable(ask, exchanges):
    answer = ask(retained_lead(), exchanges=exchanges)
    assert (answer.contactable, answer.reason) == (False, GateReason.EVIDENCE_MISSING)


@pytest.mark.parametrize("holder_match", [MATCHED, None])
def test_a_shared_lead_is_never_contactable_on_the_lead_it_was_shared_from(ask, holder_match):
    # Even masked and accepted, with the holder's retain and match on file: this lead's contact details
    # were never matched to the certificate.
    lead = retained_lead(masked=True, lead_match=holder_match, shared_with_lead_id="lead-0000")
    answer = ask(lead, exchanges=[], others={"lead-0000": [RETAIN]}, masked_certificate_policy="accept")
    assert (answer.contactable, answer.reason) == (False, GateReason.LEAD_NOT_MATCHED)
    assert "shared" in answer.detail


def test_the_gate_hides_other_vendors_leads(ask):
    with pytest.raises(InputRejected) as caught:
        ask(retained_lead(vendor="someone-else"))
    assert caught.value.reason is Reason.LEAD_NOT_FOUND
    assert refusal_status(caught.value) == 404


# --- consent withdrawn (the revocation ledger) -----------------------------------------------------------


def test_a_revocation_of_the_consumers_phone_closes_the_gate_whatever_its_spelling(ask):
    # The lead was posted as "(212) 555-0142"; the STOP came from the SMS platform as "+1 212 555 0142".
    answer = ask(retained_lead(), revoked=[revocation()])
    assert (answer.contactable, answer.reason, answer.next_allowed_at) == (False, GateReason.CONSENT_REVOKED, None)
    assert answer.facts is not None and answer.facts["revocation"]["revocation_id"] == revocation().revocation_id
    assert "withdrew consent" in answer.detail


def test_a_revocation_is_checked_first_a_pending_lead_of_a_revoked_consumer_is_not_ask_again_later(ask):
    lead = retained_lead(status=Status.PENDING, retained=None, final_at=None)
    assert ask(lead, exchanges=[], revoked=[revocation()]).reason is GateReason.CONSENT_REVOKED


def test_a_revocation_scoped_to_one_brand_leaves_other_brands_open(ask):
    revoked = [revocation(brand="Acme Solar")]
    assert ask(retained_lead(), revoked=revoked, brand="acme solar").reason is GateReason.CONSENT_REVOKED
    assert ask(retained_lead(), revoked=revoked, brand="Acme Roofing").contactable is True
    # A question that names no brand may be for that brand: closed.
    assert ask(retained_lead(), revoked=revoked).reason is GateReason.CONSENT_REVOKED


def test_a_revocation_of_texts_leaves_calls_and_email_open_until_revoke_all(ask):
    revoked = [revocation(channels=("text",))]
    assert ask(retained_lead(), revoked=revoked, channel="text").reason is GateReason.CONSENT_REVOKED
    assert ask(retained_lead(), revoked=revoked, channel="call").contactable is True
    assert ask(retained_lead(), revoked=revoked, channel="email").contactable is True


def test_from_31_january_2027_one_revocation_stops_every_brands_calls_and_texts(ask):
    revoked = [revocation(brand="Acme Solar", channels=("text",))]
    eve = datetime(2027, 1, 30, 17, 0, tzinfo=UTC)  # Saturday noon in New York
    day = datetime(2027, 2, 1, 17, 0, tzinfo=UTC)  # the Monday after 31 January, noon in New York
    assert ask(retained_lead(), revoked=revoked, now=eve, brand="Acme Roofing", channel="call").contactable is True
    refused = ask(retained_lead(), revoked=revoked, now=day, brand="Acme Roofing", channel="call")
    assert refused.reason is GateReason.CONSENT_REVOKED
    assert ask(retained_lead(), revoked=revoked, now=day, channel="email").contactable is True  # not a robocall


def test_a_certificate_created_after_the_revocation_is_consent_given_again(ask):
    expressed = NOW - timedelta(days=3)
    revoked = [revocation(expressed)]
    newer = retained_lead(created_at=iso(expressed + timedelta(days=1)))
    older = retained_lead(created_at=iso(expressed - timedelta(days=1)))
    assert ask(newer, revoked=revoked).contactable is True
    assert ask(older, revoked=revoked).reason is GateReason.CONSENT_REVOKED
    # TrustedForm did not say when the certificate was made: it may be an old one sent after the revocation.
    unknown = ask(retained_lead(created_at=None, received_at=iso(NOW)), revoked=revoked)
    assert unknown.reason is GateReason.CONSENT_REVOKED and "creation time is unknown" in unknown.detail


def test_another_consumers_revocation_does_not_touch_the_lead(ask):
    other = revocation().model_copy(
        update={"consumer": consumer_tokens(FakeKeyring(), consumer_fingerprints("bob@example.com", "512 555 0100"))}
    )
    assert ask(retained_lead(), revoked=[other]).contactable is True


# --- the law of the hour ------------------------------------------------------------------------------------

EASTERN, CENTRAL = ZoneInfo("America/New_York"), ZoneInfo("America/Chicago")
PACIFIC, MOUNTAIN = ZoneInfo("America/Los_Angeles"), ZoneInfo("America/Denver")


def local(zone: ZoneInfo, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 in a zone (23: a Monday, 22 and 29: Sundays)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=zone)


def test_the_federal_window_closes_at_nine_in_the_evening_at_the_consumers_location(ask):
    lead = retained_lead()  # area code 212: New York
    assert ask(lead, now=local(EASTERN, 23, 20, 59)).contactable is True
    late = ask(lead, now=local(EASTERN, 23, 21, 0))
    assert (late.contactable, late.reason) == (False, GateReason.OUTSIDE_CALLING_HOURS)
    assert late.next_allowed_at == iso(local(EASTERN, 24, 8, 0))


def test_a_florida_lead_is_refused_at_eight_in_the_evening(ask):
    lead = retained_lead(place=Place(state="FL", zip="33101", area_code="305"))
    assert ask(lead, now=local(EASTERN, 23, 19, 59)).contactable is True
    refused = ask(lead, now=local(EASTERN, 23, 20, 0))
    assert refused.reason is GateReason.OUTSIDE_CALLING_HOURS and "FL.hours" in refused.detail
    assert refused.next_allowed_at == iso(local(EASTERN, 24, 8, 0))


def test_a_texas_sunday_opens_at_noon(ask):
    lead = retained_lead(place=Place(state="TX", zip="78701", area_code="512"))  # Austin: Central time
    early = ask(lead, now=local(CENTRAL, 22, 11, 59))
    assert (early.reason, early.next_allowed_at) == (GateReason.OUTSIDE_CALLING_HOURS, iso(local(CENTRAL, 22, 12, 0)))
    assert ask(lead, now=local(CENTRAL, 22, 12, 0)).contactable is True


def test_an_area_code_spanning_two_zones_is_open_only_when_both_are(ask):
    lead = retained_lead(place=Place(area_code="208"))  # Idaho: Mountain and Pacific
    # 08:30 in Boise is 07:30 in Coeur d'Alene: closed until 08:00 Pacific.
    morning = ask(lead, now=local(MOUNTAIN, 23, 8, 30))
    assert (morning.reason, morning.next_allowed_at) == (
        GateReason.OUTSIDE_CALLING_HOURS,
        iso(local(PACIFIC, 23, 8, 0)),
    )
    # 20:30 in Coeur d'Alene is 21:30 in Boise: closed until 08:00 Pacific the next day.
    evening = ask(lead, now=local(PACIFIC, 23, 20, 30))
    assert (evening.reason, evening.next_allowed_at) == (
        GateReason.OUTSIDE_CALLING_HOURS,
        iso(local(PACIFIC, 24, 8, 0)),
    )
    assert ask(lead, now=local(PACIFIC, 23, 12, 0)).contactable is True
    assert evening.facts is not None
    assert evening.facts["calling"]["location"]["zones"] == ["America/Denver", "America/Los_Angeles"]


def test_the_fourth_contact_in_24_hours_is_refused_for_a_capped_state_until_the_first_leaves(ask):
    lead = retained_lead(place=Place(state="FL", area_code="305"))
    now = local(EASTERN, 23, 15, 0)
    two = [contact(now - timedelta(hours=5)), contact(now - timedelta(hours=2, minutes=30))]
    assert ask(lead, now=now, history=two).contactable is True  # the third
    three = [*two, contact(now - timedelta(hours=1))]
    fourth = ask(lead, now=now, history=three)
    assert (fourth.contactable, fourth.reason) == (False, GateReason.CONTACT_LIMIT_REACHED)
    assert fourth.next_allowed_at == iso(now - timedelta(hours=5) + timedelta(hours=24))
    assert "3 contacts in the last 24 hours" in fourth.detail
    # Emails are not counted and not capped; a state without a cap never is.
    assert ask(lead, now=now, history=three, channel="email").contactable is True
    assert ask(retained_lead(), now=now, history=three).contactable is True


def test_a_lead_without_a_phone_cannot_be_called_or_texted_and_without_an_email_not_emailed(ask):
    email_only = retained_lead(match_lead=lead_fingerprints(EMAIL, None), place=None)
    assert ask(email_only, channel="call").reason is GateReason.CONTACT_NOT_GIVEN
    assert ask(email_only, channel="text").reason is GateReason.CONTACT_NOT_GIVEN
    assert ask(email_only, channel="email").contactable is True
    phone_only = retained_lead(match_lead=lead_fingerprints(None, PHONE))
    assert ask(phone_only, channel="email").reason is GateReason.CONTACT_NOT_GIVEN


def test_a_lead_that_cannot_be_located_is_not_called_unless_the_buyer_says_so(ask):
    unknown = retained_lead(place=None)  # stored before intake kept a location, or a non-US number
    refused = ask(unknown)
    assert (refused.reason, refused.next_allowed_at) == (GateReason.LOCATION_UNKNOWN, None)
    relaxed = default_rules().over(CallingOverride(modes={"location": "off"}))
    assert ask(unknown, calling=relaxed).contactable is True  # noon in every continental zone


def test_a_shadow_calling_rule_records_and_allows(ask):
    shadow = default_rules().over(CallingOverride(modes={"state_hours": "shadow"}))
    lead = retained_lead(place=Place(state="FL", area_code="305"))
    answer = ask(lead, now=local(EASTERN, 23, 20, 30), calling=shadow)
    assert answer.contactable is True
    assert answer.facts is not None
    assert [(v["rule"], v["mode"]) for v in answer.facts["calling"]["failed"]] == [("FL.hours", "shadow")]


@pytest.mark.parametrize(
    ("case", "expected", "waits"),
    [
        ({"revoked": [revocation()]}, GateReason.CONSENT_REVOKED, False),
        ({"now": local(EASTERN, 23, 22, 0)}, GateReason.OUTSIDE_CALLING_HOURS, True),
        ({"lead": {"place": None}}, GateReason.LOCATION_UNKNOWN, False),
        ({"lead": {"status": Status.PENDING, "retained": None}, "exchanges": []}, GateReason.PENDING, False),
        ({"exchanges": []}, GateReason.EVIDENCE_MISSING, False),
    ],
)
def test_every_refusal_carries_its_reason_and_next_allowed_at(ask, case, expected, waits):
    lead = retained_lead(**case.pop("lead", {}))
    body = ask(lead, **case).model_dump(mode="json")
    assert {"reason", "next_allowed_at", "detail"} <= set(body)
    assert (body["contactable"], body["reason"]) == (False, expected.value)
    assert (body["next_allowed_at"] is not None) is waits


def test_a_check_added_to_the_list_is_one_more_reason_to_refuse(ask):
    def screened(subject: gate.Subject) -> gate.Refusal | None:
        return gate.Refusal(GateReason.EVIDENCE_MISSING, "a screen said no")

    answer = ask(retained_lead(), checks=(*gate.CHECKS, screened))
    assert (answer.reason, answer.detail) == (GateReason.EVIDENCE_MISSING, "a screen said no")
    assert ask(retained_lead(), checks=gate.CHECKS).contactable is True
