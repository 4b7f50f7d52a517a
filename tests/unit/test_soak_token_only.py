"""The fault soak's judgement of leads with a LeadiD token (bench/soak_jornaya.py) and of those kept on the token
alone (bench/soak_token_only.py, ``--token-only``), on hand-made simulator logs and chains: what it must call a
finding (a TrustedForm call for a lead without a certificate, a red token kept, an audit's answer stored before
the audit arrived, a lead kept without its audit on record) and what it must not."""

from __future__ import annotations

import json
from typing import Any

from tf_retainer.domain.chain import Entry

from bench import soak_jornaya, soak_token_only
from bench.soak_jornaya import EITHER_RULES, RULES, JornayaAudit, audits_token, judge_outcome, refuses_red
from bench.soak_token_only import TokenOnlyAudit

LEAD = "a" * 32
OTHER = "b" * 32
CERT = "c" * 40


def entry(
    seq: int, at: str, *, calls: list[dict[str, Any]] | None = None, exchanges: list[dict[str, Any]] | None = None
) -> Entry:
    return Entry(seq=seq, at=at, prev="", calls=calls or [], exchanges=exchanges or [])


def audited_chain(answered_at: str = "2026-01-01T00:00:01.500000+00:00", status: int = 200) -> list[Entry]:
    """A lead's chain: the audit's request recorded at 00:00:01, Jornaya's answer stored at ``answered_at``."""
    return [
        entry(1, "2026-01-01T00:00:00+00:00"),
        entry(2, "2026-01-01T00:00:01+00:00", calls=[{"call_id": "j1", "provider": "jornaya"}]),
        entry(3, answered_at, exchanges=[{"call_id": "j1", "provider": "jornaya", "response": {"status": status}}]),
    ]


def arrival(time: str, status: int = 200) -> dict[str, Any]:
    return {"time": time, "status": status, "fault": None}


def kept_state(call_id: str = "j1", result: str = "green") -> dict[str, Any]:
    audit = {"answered": True, "call_id": call_id, "findings": {"authentic": True, "result": result}}
    return {"status": "retained", "reason": None, "cert_id": None, "screens": {"leadid": audit}}


# --- what the rules have audited and refused ---------------------------------------------------------------


def test_under_either_with_the_jornaya_rule_enforced_every_token_is_audited_and_refused_red():
    for certificate in (True, False):
        assert audits_token(EITHER_RULES, certificate=certificate)
        assert refuses_red(EITHER_RULES, certificate=certificate)
    assert audits_token(RULES, certificate=True) and refuses_red(RULES, certificate=True)


def test_under_either_without_the_jornaya_rule_a_token_beside_a_certificate_is_not_audited():
    rules = {"consent_records": {"required": "either"}, "jornaya": {"mode": "off"}}
    assert not audits_token(rules, certificate=True) and not refuses_red(rules, certificate=True)
    assert audits_token(rules, certificate=False) and refuses_red(rules, certificate=False)
    shadow = {"consent_records": {"required": "both"}, "jornaya": {"mode": "shadow"}}
    shadow["consent_records"]["mode"] = "shadow"
    assert audits_token(shadow, certificate=True) and not refuses_red(shadow, certificate=True)


def test_an_audit_of_a_token_the_rules_do_not_have_audited_is_a_finding():
    audit = JornayaAudit()
    state = {"status": "retained", "reason": None}
    judge_outcome(audit, LEAD, state, [arrival("2026-01-01T00:00:01Z")], red=False, audited=False, refuses=False)
    assert audit.unexpected_audits == 1 and not audit.ok
    quiet = JornayaAudit()
    judge_outcome(quiet, LEAD, state, [], red=True, audited=False, refuses=False)
    assert quiet.ok and quiet.red == 0  # not audited: a red script decides nothing


def test_a_red_token_must_leave_its_lead_refused_by_a_jornaya_reason_and_only_a_red_one():
    audit = JornayaAudit()
    judge = {"audited": True, "refuses": True}
    judge_outcome(audit, LEAD, {"status": "retained"}, [], red=True, **judge)
    assert audit.wrongly_kept == 1 and not audit.ok
    audit = JornayaAudit()
    judge_outcome(audit, LEAD, {"status": "rejected", "reason": "jornaya_audit_failed"}, [], red=True, **judge)
    judge_outcome(audit, OTHER, {"status": "rejected", "reason": "consent_record_missing"}, [], red=True, **judge)
    assert audit.ok and audit.red == 2 and audit.refused == 2
    audit = JornayaAudit()
    judge_outcome(audit, LEAD, {"status": "rejected", "reason": "consent_record_missing"}, [], red=False, **judge)
    assert audit.wrongly_refused == 1 and not audit.ok
    # A screen of a listed number may refuse a red token's lead first; a lead not final is the soak's lost count.
    audit = JornayaAudit()
    listed = frozenset({"on_dnc_list"})
    judge_outcome(
        audit, LEAD, {"status": "rejected", "reason": "on_dnc_list"}, [], red=True, **judge, other_reasons=listed
    )
    judge_outcome(audit, OTHER, {"status": "pending", "reason": "screen_unavailable"}, [], red=True, **judge)
    assert audit.ok


# --- an audit's answer stored after the audit arrived --------------------------------------------------------


def test_an_audits_answer_stored_after_it_arrived_is_evidence():
    audit = JornayaAudit()
    soak_jornaya.audit_lead(audit, LEAD, [arrival("2026-01-01T00:00:01.200Z")], audited_chain())
    assert audit.ok and audit.calls == 1 and audit.answers_before_calls == 0


def test_an_audits_answer_stored_before_the_audit_arrived_is_a_finding():
    audit = JornayaAudit()
    soak_jornaya.audit_lead(audit, LEAD, [arrival("2026-01-01T00:00:01.800Z")], audited_chain())
    assert audit.answers_before_calls == 1 and not audit.ok
    assert audit.answers_before_calls_leads[0].startswith(f"{LEAD}: j1")


def test_a_request_recorded_but_never_sent_is_not_taken_for_the_next_audits():
    """The store told the caller its request's write failed (it had been written): that call was not made, and
    the next attempt's audit is matched to its own request, not to the one before it."""
    jornaya = {"provider": "jornaya"}
    chain = [
        entry(1, "2026-01-01T00:00:00+00:00"),
        entry(2, "2026-01-01T00:00:00.500000+00:00", calls=[{"call_id": "j0", **jornaya}]),  # never sent
        entry(3, "2026-01-01T00:00:01+00:00", calls=[{"call_id": "j1", **jornaya}]),
        entry(
            4, "2026-01-01T00:00:01.500000+00:00", exchanges=[{"call_id": "j1", **jornaya, "response": {"status": 503}}]
        ),
        entry(5, "2026-01-01T00:00:02+00:00", calls=[{"call_id": "j2", **jornaya}]),
        entry(
            6, "2026-01-01T00:00:02.500000+00:00", exchanges=[{"call_id": "j2", **jornaya, "response": {"status": 200}}]
        ),
    ]
    made = [arrival("2026-01-01T00:00:01.200Z", status=503), arrival("2026-01-01T00:00:02.200Z")]
    audit = JornayaAudit()
    soak_jornaya.audit_lead(audit, LEAD, made, chain)
    assert audit.ok and audit.answers_before_calls == 0 and audit.lost_answers == 0, audit


def test_an_error_met_before_a_late_arrival_is_not_judged_an_answer_before_its_audit():
    chain = audited_chain()
    chain[2] = entry(
        3, "2026-01-01T00:00:04+00:00", exchanges=[{"call_id": "j1", "provider": "jornaya", "error": "timeout"}]
    )
    audit = JornayaAudit()
    soak_jornaya.audit_lead(audit, LEAD, [arrival("2026-01-01T00:00:05Z", status=200)], chain)
    assert audit.answers_before_calls == 0


# --- leads without a certificate ---------------------------------------------------------------------------


def test_a_lead_without_a_certificate_kept_on_its_token_with_its_audit_on_record_passes():
    audit = TokenOnlyAudit()
    soak_token_only.audit_lead(audit, LEAD, kept_state(), audited_chain(), red=False)
    assert audit.ok and audit.kept_on_token == 1 and audit.final_by_status == {"retained": 1}


def test_a_lead_retained_without_its_audits_200_on_record_is_a_wrong_outcome():
    for state, chain in (
        (kept_state(call_id="j2"), audited_chain()),  # the audit it keeps is not the one stored
        (kept_state(), audited_chain(status=503)),  # its audit's exchange is no answer
        (kept_state(result="red"), audited_chain()),  # kept on a red audit
    ):
        audit = TokenOnlyAudit()
        soak_token_only.audit_lead(audit, LEAD, state, chain, red=False)
        assert audit.wrong_outcomes == 1 and not audit.ok, state


def test_a_lead_without_a_certificate_ends_as_its_tokens_script():
    audit = TokenOnlyAudit()
    red = {"status": "rejected", "reason": "consent_record_missing", "cert_id": None}
    soak_token_only.audit_lead(audit, LEAD, red, audited_chain(), red=True)
    assert audit.ok and audit.red_tokens == 1
    for state, is_red in ((kept_state(), True), (red, False), ({**red, "status": "expired"}, False)):
        audit = TokenOnlyAudit()
        soak_token_only.audit_lead(audit, LEAD, state, audited_chain(), red=is_red)
        assert audit.wrong_outcomes == 1, (state, is_red)


def test_trustedform_in_the_chain_of_a_lead_without_a_certificate_is_a_finding():
    chain = [*audited_chain(), entry(4, "2026-01-01T00:00:02+00:00", calls=[{"call_id": "t1"}])]
    audit = TokenOnlyAudit()
    soak_token_only.audit_lead(audit, LEAD, kept_state(), chain, red=False)
    assert audit.trustedform_records == 1 and not audit.ok


def test_a_trustedform_call_naming_a_lead_without_a_certificate_is_a_finding():
    def request(cert_id: str, reference: str, email: str) -> dict[str, Any]:
        body = {"match_lead": {"email": email}, "retain": {"reference": reference, "vendor": "v"}}
        return {"cert_id": cert_id, "time": "2026-01-01T00:00:01Z", "body_text": json.dumps(body)}

    leads = {LEAD: "lead7@example.com"}
    clean = TokenOnlyAudit()
    soak_token_only.audit_trustedform(clean, [request(CERT, OTHER, "lead1@example.com")], {CERT}, leads)
    assert clean.ok
    for found in (request(CERT, LEAD, "lead1@example.com"), request(CERT, OTHER, "lead7@example.com")):
        audit = TokenOnlyAudit()
        soak_token_only.audit_trustedform(audit, [found], {CERT}, leads)
        assert audit.trustedform_calls == 1 and not audit.ok
    stray = TokenOnlyAudit()
    soak_token_only.audit_trustedform(stray, [request("d" * 40, OTHER, "lead1@example.com")], {CERT}, leads)
    assert stray.stray_certificate_calls == 1 and not stray.ok


def test_the_leads_without_a_certificate_are_the_share_asked_for():
    import random

    picked = soak_token_only.pick(random.Random(1), 1000, 0.25)
    assert len(picked) == 250 and picked <= set(range(1000))
    assert soak_token_only.pick(random.Random(1), 1000, 0.0) == set()
