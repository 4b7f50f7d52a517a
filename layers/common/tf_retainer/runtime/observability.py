"""The one Logger, Metrics and Tracer of the service (configured by POWERTOOLS_* variables), and the
names of every metric it emits (the dashboard and alarms in template.yaml use the same names)."""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.tracing.tracer import Tracer

# The metrics' namespace (the template's POWERTOOLS_METRICS_NAMESPACE, its dashboard and alarms): the
# default where the variable is not set (the operator CLI runs the service in-process from any shell), so a
# metric never fails for want of a namespace.
NAMESPACE = "TfRetainer"
logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE)

_Decorated = TypeVar("_Decorated", bound=Callable[..., Any])


class IdleTracer:
    """What the functions use of Tracer, doing nothing: used when Powertools would disable tracing
    (POWERTOOLS_TRACE_DISABLED, the template's Tracing=Disabled, or outside Lambda), since even a disabled
    Tracer imports aws_xray_sdk (~50 ms of cold start) and wraps every call in a dummy subsegment."""

    disabled = True

    def capture_lambda_handler(self, handler: _Decorated) -> _Decorated:
        return handler

    def capture_method(self, method: _Decorated) -> _Decorated:
        return method

    def patch(self, modules: tuple[str, ...]) -> None:
        pass


def _make_tracer() -> Tracer | IdleTracer:
    if Tracer._is_tracer_disabled():  # Powertools' own rule, so both agree on when tracing is off
        return IdleTracer()
    # Patch only botocore here: the modules that call out with httpx patch it (trace_httpx), so a
    # function that never uses httpx (the authorizer) does not import it.
    return Tracer(patch_modules=("botocore",))


tracer = _make_tracer()


def trace_httpx() -> None:
    """Record httpx calls as X-Ray subsegments (when tracing): called by the modules that use httpx."""
    tracer.patch(("httpx",))


class Metric(StrEnum):
    LEADS_RECEIVED = "LeadsReceived"
    LEADS_RETAINED = "LeadsRetained"
    LEADS_REJECTED = "LeadsRejected"
    LEADS_PENDING = "LeadsPending"
    LEADS_EXPIRED = "LeadsExpired"
    DUPLICATE_LEADS = "DuplicateLeads"
    CERTIFICATES_REUSED = "CertificatesReused"  # a lead came with a certificate another lead holds
    LEADID_TOKENS_REUSED = "LeadidTokensReused"  # a lead came with a LeadiD token another lead holds
    # a lead came with a consent record (a certificate or a LeadiD token) another vendor's lead holds
    CROSS_VENDOR_REUSE = "CrossVendorReuse"
    ACCOUNT_ERRORS = "AccountErrors"
    MASKED_CERTIFICATES = "MaskedCertificates"
    LEAD_MATCH_FAILURES = "LeadMatchFailures"
    TRUSTEDFORM_LATENCY = "TrustedFormLatency"
    RETRY_ATTEMPTS = "RetryAttempts"
    DUPLICATE_DELIVERIES = "DuplicateDeliveries"
    ENQUEUE_FAILURES = "EnqueueFailures"
    STORE_UNAVAILABLE = "StoreUnavailable"  # a step not recorded: the table stayed throttled or down
    SWEEP_FAILURES = "SweepFailures"  # an overdue lead the sweeper could not requeue (it went on with the rest)
    LEADS_RECOVERED = "LeadsRecovered"  # overdue open leads the sweeper handed back to the retry queue
    EVENTS_PUBLISHED = "EventsPublished"  # outcome and recovery events put on the event bus
    CALLBACKS_DELIVERED = "CallbacksDelivered"  # vendor callbacks answered 2xx
    CALLBACK_RETRIES = "CallbackRetries"  # callbacks to be tried again later (5xx, 429, timeouts)
    CALLBACKS_FAILED = "CallbacksFailed"  # callbacks given up on (dead-letter queue)
    VENDORS_AUTO_SUSPENDED = "VendorsAutoSuspended"  # vendors suspended by a threshold (auto_suspend.py)
    LEADS_ARCHIVED = "LeadsArchived"  # final leads exported to the evidence archive (S3)
    ENTRIES_ANCHORED = "EntriesAnchored"  # chain entries' writes anchored in the archive bucket (anchoring.py)
    REVOCATIONS_RECORDED = "RevocationsRecorded"  # consumers' revocations of consent put in the ledger
    REVOCATIONS_HONOURED = "RevocationsHonoured"  # applied to every lead of their consumer
    LEADS_REVOKED = "LeadsRevoked"  # consent_revoked entries written to leads' chains
    REVOCATIONS_NOT_HONOURED = "RevocationsNotHonoured"  # not applied REVOCATION_HONOUR_SECONDS after recording
    REVOCATION_HONOUR_TIME = "RevocationHonourTime"  # Milliseconds: from recorded to applied to every lead
    CONTACTS_REPORTED = "ContactsReported"  # contacts a dialer or CRM reported (POST /leads/{id}/contacts)
    # with dimensions
    VENDOR_LEADS = "VendorLeads"  # Vendor, Outcome
    REJECTIONS_BY_REASON = "RejectionsByReason"  # Reason
    RULE_WOULD_REFUSE = "RuleWouldRefuse"  # Rule: a rule in shadow mode that would have refused a lead
    CALLING_RULE_WOULD_REFUSE = "CallingRuleWouldRefuse"  # Rule: a calling rule in shadow mode at the gate
    TRUSTEDFORM_OPERATIONS = "TrustedFormOperations"  # Vendor: billed operations (insights per property)
    SCREEN_CALLS = "ScreenCalls"  # Provider, Vendor, Outcome (answered, or the fault): calls to a screening provider
    SCREEN_COST = "ScreenCost"  # Provider, Vendor: dollars, as SCREEN_COSTS prices the answered calls
    SCREENS_SHARED = "ScreensShared"  # Screen: a lead's screen answered from another lead's call (no call made)
    CONTACT_SEAL_FAILURES = "ContactSealFailures"  # a phone number KMS could not seal or unseal


def count(name: Metric, value: float = 1) -> None:
    metrics.add_metric(name=name.value, unit=MetricUnit.Count, value=value)


def count_with(name: Metric, value: float = 1, *, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """A metric of its own EMF record: its dimensions must not apply to the invocation's other metrics."""
    with single_metric(
        name=name.value,
        unit=unit,
        value=value,
        namespace=metrics.namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        for dimension, label in dimensions.items():
            metric.add_dimension(name=dimension, value=label)


def count_for_vendor(vendor: str, outcome: str) -> None:
    # A series per vendor and outcome: ~5 a vendor, fine up to a few hundred vendors.
    count_with(Metric.VENDOR_LEADS, Vendor=vendor, Outcome=outcome)


def count_rejection(reason: str) -> None:
    count_with(Metric.REJECTIONS_BY_REASON, Reason=reason)


def milliseconds(name: Metric, value: float) -> None:
    metrics.add_metric(name=name.value, unit=MetricUnit.Milliseconds, value=value)


__all__ = [
    "Metric",
    "MetricUnit",
    "count",
    "count_for_vendor",
    "count_rejection",
    "logger",
    "metrics",
    "milliseconds",
    "trace_httpx",
    "tracer",
]
