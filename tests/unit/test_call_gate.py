"""The call gate (gate.contactable) through the Deps seam: a lead in memory, its stored exchanges, a fixed
clock. Yes only for a retained, matched (or accepted masked), rule-passing lead with its retain on file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from tf_retainer.api.status import refusal_status
from tf_retainer.aws.queues import SqsRetryQueue
from tf_retainer.decisions.rulebook import RulesInForce, from_settings
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import GateReason, LeadMatch, Reason, Status
from tf_retainer.leads import gate
from tf_retainer.leads.deps import Deps
from tf_retainer.runtime.clock import iso

from tests.support.fakes import FakeKeyring, FakeSqs, FakeStore, UnusedTrustedForm

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
VENDOR = "acme"
CERT_ID = "eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947"
MATCHED = LeadMatch(email_match=True, phone_match=None, success=True)
NOT_MATCHED = LeadMatch(email_match=False, phone_match=None, success=False)


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
        "received_at": iso(NOW),
        "deadline": iso(NOW),
        "retained": True,
        "masked": False,
        "lead_match": MATCHED,
        "final_at": iso(NOW),
    }
    return Lead.model_validate(fields | changes)


@pytest.fixture
def ask(settings):
    """Store a lead (and its exchanges), then ask the gate about it."""

    def ask(
        lead: Lead,
        exchanges: list[dict[str, Any]] | None = None,
        *,
        lead_id: str | None = None,
        others: dict[str, list[dict[str, Any]]] | None = None,  # other leads' exchanges
        **settings_changes: Any,
    ):
        store = FakeStore(leads={lead.lead_id: lead}, vendor_lead_ids={(VENDOR, "V-1"): lead.lead_id})
        store.stored_exchanges = {**(others or {}), lead.lead_id: [RETAIN] if exchanges is None else exchanges}
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
            keyring=FakeKeyring(),
            clock=lambda: NOW,
        )
        return gate.contactable(deps, vendor=VENDOR, lead_id=lead_id or lead.lead_id)

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
