"""TrustedForm's answer -> what happens to the lead. The one place intake and retry both decide."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.lead import CertificateFacts
from tf_retainer.domain.models import LeadMatch, Reason, Status
from tf_retainer.runtime.settings import Settings


class RetryKind(StrEnum):
    TRANSIENT = "transient"  # TrustedForm's trouble: backoff, counts against the attempts
    THROTTLED = "throttled"  # 429: honour Retry-After
    ACCOUNT = "account"  # our account's trouble (401/402/403): wait, never burn the lead's attempts


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    reason: Reason | None = None
    retry: RetryKind | None = None
    retry_after_seconds: float | None = None
    facts: CertificateFacts = field(default_factory=CertificateFacts)
    alarm: bool = False  # an answer nobody expected: someone should look at the raw exchange

    @property
    def is_pending(self) -> bool:
        return self.status is Status.PENDING


_TERMINAL_STATUS = {
    400: Reason.CERTIFICATE_REJECTED,
    404: Reason.CERTIFICATE_NOT_FOUND,
    405: Reason.CERTIFICATE_NOT_CLAIMABLE,
    410: Reason.CERTIFICATE_NOT_FOUND,
    422: Reason.CERTIFICATE_CLAIM_LIMIT,
}
_ACCOUNT_STATUS = frozenset({401, 402, 403})


def decide(exchange: Exchange, settings: Settings, *, retaining: bool = True) -> Decision:
    """Map one exchange to a decision, following the status table in docs/trustedform.md."""
    if exchange.error == "timeout":
        return _pending(Reason.TRUSTEDFORM_TIMEOUT, RetryKind.TRANSIENT)
    if exchange.error is not None:
        return _pending(Reason.TRUSTEDFORM_UNAVAILABLE, RetryKind.TRANSIENT)
    status = exchange.status or 0
    body = exchange.json()
    facts = _facts(body) if isinstance(body, dict) else CertificateFacts()
    if status == 200:
        return _decide_success(facts, retaining) if isinstance(body, dict) else _unexpected()
    if status in _TERMINAL_STATUS:
        return Decision(Status.REJECTED, _TERMINAL_STATUS[status], facts=facts)
    if status in _ACCOUNT_STATUS:
        return Decision(Status.PENDING, Reason.ACCOUNT_ERROR, RetryKind.ACCOUNT, facts=facts, alarm=True)
    if status == 429:
        return _pending(Reason.TRUSTEDFORM_THROTTLED, RetryKind.THROTTLED, exchange.retry_after())
    if 500 <= status <= 599:
        return _pending(Reason.TRUSTEDFORM_UNAVAILABLE, RetryKind.TRANSIENT)
    return _unexpected()


def _decide_success(facts: CertificateFacts, retaining: bool) -> Decision:
    """TrustedForm answered: RETAINED when the certificate is now retained (or, for a call that asked for
    no retain, when it answered at all). Whether the buyer keeps the lead is the rules' call (rules.py)."""
    if retaining and not facts.retained:
        # 200 without retain results: not stored. An expired cert may be reported this way (KB).
        if "expired" in (facts.tf_reason or "").lower():
            return Decision(Status.REJECTED, Reason.CERTIFICATE_NOT_FOUND, facts=facts)
        return _unexpected(facts)
    return Decision(Status.RETAINED, facts=facts)


def _facts(body: dict[str, Any]) -> CertificateFacts:
    retain = _dict(body, "retain") or {}
    results = _dict(retain, "results")
    match_result = _dict(_dict(body, "match_lead") or {}, "result")
    properties = _dict(_dict(body, "insights") or {}, "properties") or {}
    masked = properties.get("is_masked")
    return CertificateFacts(
        retained=results is not None,
        masked=masked if isinstance(masked, bool) else None,
        masked_cert_url=_str(results, "masked_cert_url"),
        expires_at=_str(results, "expires_at"),
        previously_retained=(results or {}).get("previously_retained"),
        lead_match=LeadMatch.model_validate(match_result) if match_result else None,
        tf_outcome=_str(body, "outcome"),
        tf_reason=_str(body, "reason"),
        created_at=_str(properties, "created_at"),
    )


def _dict(source: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = source.get(key)
    return value if isinstance(value, dict) else None


def _str(source: dict[str, Any] | None, key: str) -> str | None:
    value = (source or {}).get(key)
    return value if isinstance(value, str) else None


def _pending(reason: Reason, kind: RetryKind, retry_after: float | None = None) -> Decision:
    return Decision(Status.PENDING, reason, kind, retry_after_seconds=retry_after)


def _unexpected(facts: CertificateFacts | None = None) -> Decision:
    return Decision(
        Status.PENDING,
        Reason.TRUSTEDFORM_UNEXPECTED,
        RetryKind.TRANSIENT,
        facts=facts or CertificateFacts(),
        alarm=True,
    )
