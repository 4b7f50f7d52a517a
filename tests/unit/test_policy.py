"""Every TrustedForm status in docs/trustedform.md's table maps to the decision the service must take."""

import json

import pytest
from tf_retainer.decisions.answer import RetryKind, decide
from tf_retainer.decisions.judgement import judge
from tf_retainer.decisions.rulebook import from_settings
from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.models import Reason, Status

from tests.support.fakes import received_lead

RETAINED_RESULTS = {
    "expires_at": "2026-12-20T10:00:00Z",
    "masked_cert_url": "https://cert.trustedform.com/" + "c" * 40,
    "previously_retained": False,
}


def exchange(status=200, body=None, headers=None, error=None):
    response = None
    if error is None:
        text = body if isinstance(body, str) else json.dumps(body or {})
        response = {"status": status, "headers": {k.lower(): v for k, v in (headers or {}).items()}, "body": text}
    ex = Exchange(
        attempt=1,
        started_at="2026-11-21T00:00:00.000+00:00",
        duration_ms=12.0,
        request={},
        response=response,
        error=error,
    )
    if response is not None:
        try:
            ex._json = json.loads(response["body"])
        except ValueError:
            ex._json = None
    return ex


def success(match_success=True, masked=False):
    return {
        "outcome": "success" if match_success else "failure",
        "reason": None if match_success else "None of the provided fingerprints match",
        "match_lead": {
            "email": "x",
            "result": {"email_match": match_success, "phone_match": None, "success": match_success},
        },
        "retain": {"reference": "L1", "vendor": "acme", "results": RETAINED_RESULTS},
        "insights": {"properties": {"is_masked": masked}},
    }


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, Reason.CERTIFICATE_REJECTED),
        (404, Reason.CERTIFICATE_NOT_FOUND),
        (405, Reason.CERTIFICATE_NOT_CLAIMABLE),
        (410, Reason.CERTIFICATE_NOT_FOUND),
        (422, Reason.CERTIFICATE_CLAIM_LIMIT),
    ],
)
def test_terminal_statuses_reject_and_never_retry(settings, status, reason):
    decision = decide(exchange(status, {"outcome": "error", "reason": "x"}), settings)
    assert (decision.status, decision.reason, decision.retry) == (Status.REJECTED, reason, None)


@pytest.mark.parametrize("status", [401, 402, 403])
def test_account_trouble_keeps_the_lead_pending_and_alarms(settings, status):
    decision = decide(exchange(status, {"outcome": "error", "reason": "Incorrect API key"}), settings)
    assert decision.status is Status.PENDING
    assert decision.reason is Reason.ACCOUNT_ERROR
    assert decision.retry is RetryKind.ACCOUNT
    assert decision.alarm


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(settings, status):
    decision = decide(exchange(status, "<html>bad gateway</html>"), settings)
    assert (decision.status, decision.reason, decision.retry) == (
        Status.PENDING,
        Reason.TRUSTEDFORM_UNAVAILABLE,
        RetryKind.TRANSIENT,
    )


def test_throttling_honours_retry_after(settings):
    decision = decide(exchange(429, {}, headers={"Retry-After": "7"}), settings)
    assert decision.reason is Reason.TRUSTEDFORM_THROTTLED
    assert decision.retry is RetryKind.THROTTLED
    assert decision.retry_after_seconds == 7


def test_throttling_with_http_date_retry_after(settings):
    decision = decide(exchange(429, {}, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), settings)
    assert decision.retry_after_seconds == 0  # in the past: go when the backoff says


@pytest.mark.parametrize(
    ("error", "reason"), [("timeout", Reason.TRUSTEDFORM_TIMEOUT), ("connection", Reason.TRUSTEDFORM_UNAVAILABLE)]
)
def test_network_failures_are_transient(settings, error, reason):
    decision = decide(exchange(error=error), settings)
    assert (decision.status, decision.reason, decision.retry) == (Status.PENDING, reason, RetryKind.TRANSIENT)


@pytest.mark.parametrize("status", [418, 302, 301])
def test_unknown_status_is_retried_and_alarms(settings, status):
    decision = decide(exchange(status, "?"), settings)
    assert decision.status is Status.PENDING and decision.reason is Reason.TRUSTEDFORM_UNEXPECTED
    assert decision.alarm


def test_success_is_retained_with_facts(settings):
    decision = decide(exchange(200, success()), settings)
    assert decision.status is Status.RETAINED and decision.reason is None
    assert decision.facts.expires_at == RETAINED_RESULTS["expires_at"]
    assert decision.facts.masked_cert_url == RETAINED_RESULTS["masked_cert_url"]
    assert decision.facts.previously_retained is False
    assert decision.facts.lead_match.success is True


def judged(answer: Exchange, settings):
    """TrustedForm's answer, then the buyer's rules as the deployment's settings set them (the masked and
    lead-match policies live in the rule set)."""
    decision = decide(answer, settings)
    if decision.status is not Status.RETAINED:
        return decision
    return judge(from_settings(settings), [answer], received_lead(), decision)[0]


def test_match_failure_rejects_under_the_default_policy_but_was_retained(settings):
    decision = judged(exchange(200, success(match_success=False)), settings)
    assert (decision.status, decision.reason) == (Status.REJECTED, Reason.LEAD_MATCH_FAILED)
    assert decision.facts.retained


def test_match_failure_accepted_when_the_buyer_says_so(settings):
    decision = judged(
        exchange(200, success(match_success=False)), settings.model_copy(update={"lead_match_policy": "accept"})
    )
    assert decision.status is Status.RETAINED
    assert decision.facts.lead_match.success is False


def test_masked_match_failure_is_expected_not_fraud(settings):
    decision = judged(exchange(200, success(match_success=False, masked=True)), settings)
    assert decision.status is Status.RETAINED
    assert decision.facts.masked is True


def test_masked_refused_by_policy(settings):
    refuse = settings.model_copy(update={"masked_certificate_policy": "refuse"})
    decision = judged(exchange(200, success(match_success=False, masked=True)), refuse)
    assert (decision.status, decision.reason) == (Status.REJECTED, Reason.MASKED_CERTIFICATE_REFUSED)


def test_expired_reported_as_200_failure_is_not_found(settings):
    decision = decide(exchange(200, {"outcome": "failure", "reason": "The cert has expired"}), settings)
    assert (decision.status, decision.reason) == (Status.REJECTED, Reason.CERTIFICATE_NOT_FOUND)


def test_200_without_retain_results_is_not_called_retained(settings):
    decision = decide(exchange(200, {"outcome": "error", "reason": "No valid products detected"}), settings)
    assert decision.status is Status.PENDING and decision.alarm


def test_200_with_garbage_body_is_not_retained(settings):
    decision = decide(exchange(200, "<html>"), settings)
    assert decision.status is Status.PENDING and decision.reason is Reason.TRUSTEDFORM_UNEXPECTED
