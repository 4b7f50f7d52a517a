"""score(): the figures of one vendor's scorecard from lead states (no store); breach(): the automatic
suspension's judgement of them."""

from __future__ import annotations

from typing import Any

from tf_retainer.domain.lead import Lead
from tf_retainer.domain.models import LeadMatch, Reason, Status
from tf_retainer.domain.screens import ScreenResult
from tf_retainer.vendors.scorecard import score


def lead(n: int, status: Status = Status.RETAINED, **fields: Any) -> Lead:
    return Lead(
        lead_id=f"lead-{n}",
        vendor="acme",
        status=status,
        cert_id=f"{n:040x}",
        cert_kind="web",
        certificate_url=f"https://cert.trustedform.com/{n:040x}",
        received_at="2026-11-22T12:00:00.000000Z",
        deadline="2026-11-25T11:00:00.000000Z",
        **fields,
    )


def test_masked_shared_open_and_unknown_ages_are_counted_where_an_operator_expects():
    card = score(
        "acme",
        [
            # masked: its failed match is expected, not a match failure
            lead(1, masked=True, lead_match=LeadMatch(success=False), created_at="2026-11-22T11:00:00Z"),
            # shared under CERTIFICATE_REUSE_POLICY=share: a reuse attempt, not a refusal
            lead(2, shared_with_lead_id="lead-0", tf_operations=0),
            lead(3, Status.REJECTED, reason=Reason.LEAD_MATCH_FAILED, lead_match=LeadMatch(success=False)),
            lead(4, Status.REJECTED, reason=Reason.LEAD_TOO_OLD, created_at="2026-11-22T11:30:00Z", tf_operations=3),
            lead(5, Status.PENDING, reason=Reason.TRUSTEDFORM_UNAVAILABLE),
        ],
    )
    assert (card.leads, card.retained, card.rejected, card.open) == (5, 2, 2, 1)
    assert (card.masked, card.match_failures) == (1, 1)
    assert (card.reused_refused, card.reuse_attempts) == (0, 1)
    assert card.rules_refused == {"lead_too_old": 1}  # lead_match_failed has its own column
    assert card.rejected_by_reason == {"lead_match_failed": 1, "lead_too_old": 1}
    assert (card.certificate_ages_known, card.median_certificate_age_seconds) == (2, 2700.0)  # 60 and 30 min
    assert card.tf_operations == 3
    assert card.as_dict()["retained_pct"] == 40.0


def test_screen_refusals_and_the_screens_paid_for_are_the_vendor_s():
    """A vendor sending litigators is a vendor to suspend: its screen refusals count as rules refused, and
    the screen calls its leads paid for (not the answers shared from another lead's call) with their cost."""

    def screened(screen: str, cost: float, **findings: Any) -> ScreenResult:
        provider = "blacklist_alliance" if screen == "litigator" else "dncscrub"
        return ScreenResult.model_validate(
            {"screen": screen, "provider": provider, "checked_at": "2026-11-22T12:00:00Z", "cost": cost,
             "findings": findings}
        )  # fmt: skip

    card = score(
        "acme",
        [
            lead(1, Status.REJECTED, reason=Reason.LITIGATOR, screens={"litigator": screened("litigator", 0.01)}),
            lead(2, Status.REJECTED, reason=Reason.ON_DNC_LIST, screens={"dnc": screened("dnc", 0.006)}),
            lead(3, screens={"dnc": screened("dnc", 0.0), "litigator": screened("litigator", 0.01)}),  # dnc shared
            lead(4),
        ],
    )
    assert card.rules_refused == {"litigator": 1, "on_dnc_list": 1}
    assert (card.screen_calls, card.screen_cost) == (3, 0.026)


def test_no_leads_is_no_percentage():
    card = score("quiet", []).as_dict()
    assert (card["leads"], card["retained_pct"], card["median_certificate_age_seconds"]) == (0, None, None)


def test_the_suspension_thresholds_judge_decided_leads_only(settings):
    from tf_retainer.vendors.auto_suspend import breach

    thresholds = {"below_retained_percent": 50.0, "above_match_failure_percent": 20.0, "min_leads": 4}
    on = settings.model_copy(update={f"auto_suspend_{name}": value for name, value in thresholds.items()})
    bad = [lead(n, Status.REJECTED, reason=Reason.CERTIFICATE_NOT_FOUND) for n in range(3)] + [lead(3)]
    pending = [lead(n, Status.PENDING, reason=Reason.TRUSTEDFORM_UNAVAILABLE) for n in range(10, 20)]

    crossed = breach(score("acme", bad + pending), on)  # a TrustedForm outage's pending leads do not count
    assert crossed is not None and (crossed.figure, crossed.value, crossed.threshold) == ("retained_pct", 25.0, 50.0)
    assert crossed.describe() == "retained 25% < 50% (AUTO_SUSPEND_BELOW_RETAINED_PERCENT)"
    assert breach(score("acme", bad[1:] + pending), on) is None  # 3 decided leads: too few to judge
    assert breach(score("acme", bad), settings) is None  # thresholds at 0: off

    unmatched = [lead(n, lead_match=LeadMatch(success=False)) for n in range(2)] + [lead(n) for n in range(2, 6)]
    crossed = breach(score("acme", unmatched), on)  # retained 100%, but a third failed the lead match
    assert crossed is not None and (crossed.figure, crossed.value) == ("match_failure_pct", 33.3)
    assert breach(score("acme", unmatched[1:]), on) is None  # 1 of 5: 20%, not above 20%


def test_the_second_consent_record_shows_how_many_leads_carried_a_token_and_how_jornaya_audited_them():
    def audited(**findings: Any) -> dict[str, ScreenResult]:
        result = ScreenResult.model_validate(
            {"screen": "leadid", "provider": "jornaya", "checked_at": "2026-11-22T12:00:00Z", "findings": findings}
        )
        return {"leadid": result}

    token = "3DCA834C-1820-42A9-BAE9-7A46EEA25AC0"
    card = score(
        "acme",
        [
            lead(1, leadid_token=token, screens=audited(authentic=True, result="green")),
            lead(
                2,
                Status.REJECTED,
                reason=Reason.JORNAYA_AUDIT_FAILED,
                leadid_token=token,
                screens=audited(authentic=True, result="red"),
            ),
            lead(
                3,
                Status.REJECTED,
                reason=Reason.CONSENT_RECORD_MISSING,
                leadid_token=token,
                screens=audited(authentic=False, result="red", not_authentic="expired"),
            ),
            lead(4, leadid_token=token),  # carried one, no rule read it: not audited
            lead(5),
        ],
    )
    assert card.leadid_tokens == 4
    assert card.jornaya_results == {"green": 1, "red": 1, "not_authentic": 1}
    assert card.rules_refused == {"jornaya_audit_failed": 1, "consent_record_missing": 1}
