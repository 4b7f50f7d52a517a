"""Settings read from the environment once, validated into one model.

Nothing else in the package reads ``os.environ``: handlers call :func:`get_settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from tf_retainer.runtime.screening_settings import (
    DEFAULT_SCREEN_CACHE_HOURS,
    DEFAULT_SCREEN_COSTS,
    LOCAL_ENDPOINT_HOSTS,
    PROVIDER_HOSTS,
    check_screening,
    is_loopback_ip,
    only_provider_or_loopback,
    parse_pairs,
    parse_screens,
)

PositiveSeconds = Annotated[float, Field(gt=0)]


def default_attempt_lease(retry_timeout_seconds: float) -> float:
    """How long an attempt holds its lead: two remote calls' time and a margin to write the outcome (longer if
    its invocation may outlive that: leads/retry.attempt_lease). The retry queue's visibility timeout must
    outlast the lease, or a delivery the lease turned away comes back while the lease still holds (each such
    return uses one of the message's receives before the DLQ)."""
    return retry_timeout_seconds * 2 + 30


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(min_length=3)
    retry_queue_url: str = Field(min_length=1)
    trustedform_secret_id: str = Field(min_length=1)
    # The deployment's consumer key (domain/keyring.py): consumer index tokens, vendors' lead ids, sealed
    # fingerprints. Functions that never store or find a lead do not read it.
    consumer_key_secret_id: str = ""
    # The stack's own EventBridge bus: outcome events (outcome_events.py). Empty: no publisher here.
    event_bus_name: str = ""
    # Where retains are POSTed: the real API, or the simulator. It never widens what a vendor's
    # certificate URL may name (see certificates.py): that host is fixed.
    trustedform_api_url: HttpUrl = HttpUrl("https://cert.trustedform.com")

    masked_certificate_policy: Literal["accept", "refuse"] = "accept"
    certificate_reuse_policy: Literal["reject", "share"] = "reject"
    lead_match_policy: Literal["reject", "accept"] = "reject"
    insights_properties: tuple[str, ...] = ("is_masked",)
    # Extra lead fields kept in clear (case-insensitive); contact-like ones are fingerprinted and the
    # rest dropped (see extras.py). EXTRA_FIELDS_ALLOWED="a,b,c" replaces the list.
    extra_fields_allowed: tuple[str, ...] = (
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "sub_id",
        "source",
        "campaign",
        "offer_id",
        "affiliate_id",
    )

    sync_timeout_seconds: PositiveSeconds = 8.0
    # The longest one call to DynamoDB, SQS or Secrets Manager may take, retries included (wiring sets
    # their clients' timeouts from it): an attempt keeps this much time per write it still has to make.
    remote_call_seconds: PositiveSeconds = 2.0
    connect_timeout_seconds: PositiveSeconds = 2.0
    retry_timeout_seconds: PositiveSeconds = 20.0
    retry_base_seconds: PositiveSeconds = 60.0
    retry_cap_seconds: PositiveSeconds = 3600.0
    retry_max_attempts: int = Field(default=12, ge=1, le=100)
    account_error_delay_seconds: PositiveSeconds = 900.0
    retain_window_hours: PositiveSeconds = 72.0
    deadline_safety_minutes: float = Field(default=60.0, ge=0)
    # The sweeper hands an open lead back to the retry queue once its next step is this late: a lead
    # still "received" this long after it arrived (longer than the intake function's timeout), or
    # "pending" this long after its planned attempt (longer than a retry's visibility timeout).
    received_grace_seconds: PositiveSeconds = 120.0
    pending_grace_seconds: PositiveSeconds = 900.0
    # A step that leaves a lead pending records it due at its planned attempt + the pending grace, as its retry
    # message is sent right after; a message that could not be sent makes it due this soon instead.
    unqueued_grace_seconds: PositiveSeconds = 120.0
    sweep_limit: int = Field(default=500, ge=1)
    # How long one retry delivery holds a lead; default: two calls (a 401 and its retry) and the writes.
    attempt_lease_seconds: PositiveSeconds | None = None
    # How each lead is decided and retained (judgement.plan): "decide_first" asks TrustedForm for what the
    # enforced rules read without retaining, and retains only a lead the rules keep (two calls for a kept
    # lead, no retain paid for a refused one), or makes one call when no enforced rule reads insights,
    # scans or verify; "combined" always makes one call and may pay for a lead it refuses.
    retain_mode: Literal["decide_first", "combined"] = "decide_first"
    rules_cache_seconds: float = Field(default=60.0, ge=0)
    evidence_retention_days: int = Field(default=1825, ge=1)
    # The evidence archive (archive.py): the Object Lock bucket, final leads received more than this many
    # days ago go there, and how long their DynamoDB items stay once archived (the state item stays).
    archive_bucket: str = ""
    archive_after_days: int = Field(default=90, ge=1)
    archive_lookback_days: int = Field(default=7, ge=1)
    archive_grace_days: int = Field(default=30, ge=1)
    # The evidence anchors (evidence/anchoring.py), in the archive bucket: the KMS HMAC key their MACs are
    # made with (only AnchorFunction may make one; the CLI verifies with it).
    anchor_key_id: str = ""
    max_body_bytes: int = Field(default=65536, ge=1024)
    # Vendor callbacks (notify.py): their queue and dead letters, how often and how long to try. Private
    # and loopback destinations (and plain http) only where allowed: the local stack, never a deployment.
    callback_queue_url: str = ""
    # The KMS key the vendors' callback secrets are sealed with (only CallbackFunction may open them).
    callback_secret_key_id: str = ""
    callback_dlq_url: str = ""
    callback_allow_private: bool = False
    callback_max_attempts: int = Field(default=8, ge=1, le=50)
    callback_base_delay_seconds: float = Field(default=30.0, ge=0)
    callback_timeout_seconds: PositiveSeconds = 5.0
    # Automatic vendor suspension (auto_suspend.py), off while both thresholds are 0: a vendor with at
    # least AUTO_SUSPEND_MIN_LEADS decided leads in the last AUTO_SUSPEND_WINDOW_DAYS (after its last
    # resume) is suspended when its retained % is below the floor or its lead match failure % above the
    # ceiling.
    auto_suspend_below_retained_percent: float = Field(default=0.0, ge=0, le=100)
    auto_suspend_above_match_failure_percent: float = Field(default=0.0, ge=0, le=100)
    auto_suspend_min_leads: int = Field(default=50, ge=1)
    auto_suspend_window_days: float = Field(default=7.0, gt=0, le=90)
    # The screens of a lead's phone number (domain/screens.py, docs/providers.md): each off unless SCREENS
    # names its provider ("litigator=blacklist_alliance,dnc=dncscrub,reassigned_number=twilio_lookup,
    # phone=twilio_lookup"); a named provider needs its key's secret. Its API URL is its production host or
    # a loopback simulator, nothing else (screening_settings.py). A provider that fails: fail_closed (the
    # lead waits, pending, and is retried) unless SCREEN_FAULT_POLICIES says fail_open for it.
    screens: dict[str, str] = Field(default_factory=dict)
    screen_fault_policies: dict[str, Literal["fail_closed", "fail_open"]] = Field(default_factory=dict)
    # Dollars a call, as the buyer's contracts price them, over DEFAULT_SCREEN_COSTS (only Blacklist
    # Alliance's is public): the evidence, the metrics and the order the screens run in.
    screen_costs: dict[str, float] = Field(default_factory=dict)
    # How long a number's answer serves every lead that carries it before intake asks again, over
    # DEFAULT_SCREEN_CACHE_HOURS (the gate takes the buyer's rule's max_age_days instead).
    screen_cache_hours: dict[str, float] = Field(default_factory=dict)
    screen_call_seconds: PositiveSeconds = 3.0  # one provider call's bound (within the attempt's budget)
    blacklist_alliance_secret_id: str = ""
    blacklist_alliance_api_url: HttpUrl = HttpUrl("https://api.blacklistalliance.net")
    dncscrub_secret_id: str = ""
    dncscrub_api_url: HttpUrl = HttpUrl("https://www.dncscrub.com")
    dncscrub_data_api_url: HttpUrl = HttpUrl("https://dataapi.dncscrub.com")
    dncscrub_project_id: str = ""  # the buyer's DNC.com project: its internal Do-Not-Call list
    twilio_lookup_secret_id: str = ""
    twilio_lookup_api_url: HttpUrl = HttpUrl("https://lookups.twilio.com")
    # Jornaya's TCPA Guardian (the LeadiD audit, SCREENS leadid=jornaya): its secret holds the account code
    # (lac) and the audit key (lak) of the buyer's audit profile.
    jornaya_secret_id: str = ""
    jornaya_api_url: HttpUrl = HttpUrl("https://api.leadid.com")
    # The KMS key a screened lead's phone number is sealed with (to screen it again at retry or call time).
    contact_key_id: str = ""
    # A revocation of consent not applied to every lead of its consumer this long after it was recorded
    # counts RevocationsNotHonoured (alarmed); the gate is closed from the moment it is recorded.
    revocation_honour_seconds: PositiveSeconds = 900.0

    @property
    def auto_suspend_enabled(self) -> bool:
        return self.auto_suspend_below_retained_percent > 0 or self.auto_suspend_above_match_failure_percent > 0

    def screen_cost(self, provider: str) -> float:
        return self.screen_costs.get(provider, DEFAULT_SCREEN_COSTS.get(provider, 0.0))

    def screen_cache_seconds(self, screen: str) -> float:
        return 3600 * self.screen_cache_hours.get(screen, DEFAULT_SCREEN_CACHE_HOURS[screen])

    @property
    def retry_lease_seconds(self) -> float:
        return self.attempt_lease_seconds or default_attempt_lease(self.retry_timeout_seconds)

    @field_validator("trustedform_api_url")
    @classmethod
    def _only_trustedform_or_loopback(cls, url: HttpUrl) -> HttpUrl:
        # The API key may go to TrustedForm, or to a simulator on this machine: nowhere else.
        if url.scheme == "https" and url.host == "cert.trustedform.com" and url.port == 443:
            return url
        if url.scheme in ("http", "https") and (url.host in LOCAL_ENDPOINT_HOSTS or is_loopback_ip(url.host)):
            return url
        raise ValueError("TRUSTEDFORM_API_URL must be https://cert.trustedform.com or a loopback simulator")

    _screening = model_validator(mode="after")(check_screening)
    _provider_urls = field_validator(*PROVIDER_HOSTS)(only_provider_or_loopback)
    _screens = field_validator("screens", mode="before")(parse_screens)
    _pairs = field_validator("screen_fault_policies", "screen_costs", "screen_cache_hours", mode="before")(parse_pairs)

    @field_validator("insights_properties", "extra_fields_allowed", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def trustedform_base_url(self) -> str:
        return str(self.trustedform_api_url).rstrip("/")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        names = cls.model_fields.keys()
        return cls.model_validate({name: environ[name.upper()] for name in names if name.upper() in environ})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ(os.environ)
