"""The shapes that cross the API and the store: statuses, reason codes, the lead, the answer."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from tf_retainer.domain import personal_data
from tf_retainer.domain.contact_fields import EmailAddress, PhoneNumber
from tf_retainer.domain.contacts import Channel
from tf_retainer.domain.leadid import one_token_field, parse_leadid_token


class Status(StrEnum):
    RECEIVED = "received"  # reserved, TrustedForm not yet answered (a crash leaves it here)
    PENDING = "pending"
    RETAINED = "retained"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in (Status.RETAINED, Status.REJECTED, Status.EXPIRED)


class Reason(StrEnum):
    """Every machine-readable reason the API answers with (documented in README.md)."""

    # bad input: nothing stored, nothing sent
    INVALID_REQUEST = "invalid_request"
    INVALID_CERTIFICATE_URL = "invalid_certificate_url"
    INVALID_LEADID_TOKEN = "invalid_leadid_token"  # noqa: S105 (universal_leadid is not a LeadiD token)
    MISSING_CONTACT = "missing_contact"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    LEAD_ID_CONFLICT = "lead_id_conflict"
    UNKNOWN_VENDOR_KEY = "unknown_vendor_key"
    VENDOR_KEY_REVOKED = "vendor_key_revoked"
    VENDOR_SUSPENDED = "vendor_suspended"
    LEAD_NOT_FOUND = "lead_not_found"
    NOT_A_VENDOR_KEY = "not_a_vendor_key"  # a buyer-system key on a route for vendors (POST /leads)
    # revocations and contact reports (POST /revocations, POST /leads/{lead_id}/contacts)
    REVOCATION_ID_CONFLICT = "revocation_id_conflict"  # the same id was recorded with other content
    CONSUMER_NOT_FOUND = "consumer_not_found"  # a vendor's revocation for a consumer of none of its leads
    # terminal answers about the certificate
    CERTIFICATE_NOT_FOUND = "certificate_not_found"
    CERTIFICATE_NOT_CLAIMABLE = "certificate_not_claimable"
    CERTIFICATE_CLAIM_LIMIT = "certificate_claim_limit"
    CERTIFICATE_REJECTED = "certificate_rejected"
    CERTIFICATE_REUSED = "certificate_reused"
    LEADID_REUSED = "leadid_reused"
    MASKED_CERTIFICATE_REFUSED = "masked_certificate_refused"
    LEAD_MATCH_FAILED = "lead_match_failed"
    # the buyer's rules (rules.py), judged on what TrustedForm reports before the retain
    LEAD_TOO_OLD = "lead_too_old"
    BOT_DETECTED = "bot_detected"
    FORM_INPUT_REFUSED = "form_input_refused"
    DOMAIN_NOT_ALLOWED = "domain_not_allowed"
    OWNER_MISMATCH = "owner_mismatch"
    SCAN_FAILED = "scan_failed"
    CONSENT_NOT_VERIFIED = "consent_not_verified"
    # the buyer's screen rules (screen_rules.py), judged on what a screening provider says of the number
    LITIGATOR = "litigator"
    ON_DNC_LIST = "on_dnc_list"
    NUMBER_REASSIGNED = "number_reassigned"
    PHONE_INVALID = "phone_invalid"
    LINE_TYPE_REFUSED = "line_type_refused"
    # the buyer's consent-record rules (screen_rules.py), judged on Jornaya's audit of the lead's LeadiD token
    JORNAYA_AUDIT_FAILED = "jornaya_audit_failed"
    CONSENT_RECORD_MISSING = "consent_record_missing"
    RETAIN_WINDOW_CLOSED = "retain_window_closed"
    RETRY_LIMIT_REACHED = "retry_limit_reached"
    # pending: TrustedForm or the account is in trouble, we keep trying
    TRUSTEDFORM_UNAVAILABLE = "trustedform_unavailable"
    TRUSTEDFORM_TIMEOUT = "trustedform_timeout"
    TRUSTEDFORM_THROTTLED = "trustedform_throttled"
    TRUSTEDFORM_UNEXPECTED = "trustedform_unexpected"
    ACCOUNT_ERROR = "account_error"
    # a screening provider failed, timed out or throttled (its fault policy fail_closed): retried like these
    SCREEN_UNAVAILABLE = "screen_unavailable"
    # Our evidence store stayed throttled or unavailable: the lead is kept (and found again by the sweeper)
    STORE_UNAVAILABLE = "store_unavailable"


ConsentRecord = Literal["trustedform", "jornaya"]
ExtraValue = Annotated[str, Field(max_length=2048)] | int | float | bool | None
MAX_EXTRA_FIELDS = 100


class LeadSubmission(BaseModel):
    """A vendor's lead as posted. Unknown fields are kept (scalars only, bounded)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, str_strip_whitespace=True)

    trustedform_cert_url: StrictStr | None = Field(
        default=None,
        max_length=4096,
        min_length=1,
        description="Required, unless the vendor's consent_records rule is enforced with jornaya or either and a "
        "universal_leadid is given: the lead is then kept on its LeadiD token alone.",
    )
    email: EmailAddress = Field(default=None, max_length=254)
    phone: PhoneNumber = Field(default=None, max_length=32)
    lead_id: StrictStr | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
    # The lead's Jornaya LeadiD token (domain/leadid.py), when the vendor sends one: kept upper case.
    universal_leadid: StrictStr | None = Field(
        default=None,
        max_length=64,
        description="The lead's Jornaya LeadiD token (also taken as leadid_token): 36 characters, a UUID.",
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_form_field_name(cls, data: Any) -> Any:
        # xxTrustedFormCertUrl is the hidden field TrustedForm's script adds to web forms.
        if isinstance(data, dict) and "trustedform_cert_url" not in data and "xxTrustedFormCertUrl" in data:
            data = dict(data)
            data["trustedform_cert_url"] = data.pop("xxTrustedFormCertUrl")
        return one_token_field(data)

    @field_validator("universal_leadid", mode="after")
    @classmethod
    def _leadid_shape(cls, value: str | None) -> str | None:
        return parse_leadid_token(value) if value else None

    @field_validator("lead_id")
    @classmethod
    def _lead_id_names_no_one(cls, value: str | None) -> str | None:
        # It is stored, sent in events and callbacks: never a consumer's email, card or SSN. (A phone-shaped
        # id passes: many CRMs number their records with ten digits.)
        if value is not None and personal_data.kind_of(value) in ("email", "card", "ssn"):
            raise ValueError("looks like personal data (an email, card number or SSN): send your own record id")
        return value

    @model_validator(mode="after")
    def _bounded_extras(self) -> LeadSubmission:
        extras = self.model_extra or {}
        if len(extras) > MAX_EXTRA_FIELDS:
            raise ValueError(f"at most {MAX_EXTRA_FIELDS} extra fields")
        for name, value in extras.items():
            if len(name) > 64:
                raise ValueError("field names are at most 64 characters")
            if isinstance(value, str) and len(value) > 2048:
                raise ValueError(f"field {name!r} is longer than 2048 characters")
            if not isinstance(value, str | int | float | bool | None):
                raise ValueError(f"field {name!r} must be a string, number, boolean or null")
        return self

    @property
    def has_contact(self) -> bool:
        return bool(self.email or self.phone)

    @property
    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class LeadMatch(BaseModel):
    email_match: bool | None = None
    phone_match: bool | None = None
    success: bool | None = None


class FieldError(BaseModel):
    field: str
    message: str


class LeadAnswer(BaseModel):
    """What a vendor is told about a lead (POST /leads, GET /leads/{lead_id})."""

    lead_id: str | None = Field(default=None, description="Our id for the lead (the TrustedForm reference).")
    vendor_lead_id: str | None = Field(default=None, description="The vendor's own lead_id, if given.")
    status: Status | None = Field(
        default=None, description="None when there is no lead (a lookup that found none) or none known (503)."
    )
    reason: Reason | None = None
    detail: str | dict[str, Any] | None = Field(
        default=None, description="Why: a sentence for bad input; the failing facts of a rule (e.g. the age)."
    )
    cert_id: str | None = Field(default=None, description="The TrustedForm certificate; null: the lead carries none.")
    certificate_url: str | None = None
    leadid_token: str | None = Field(default=None, description="The lead's Jornaya LeadiD token, if given.")
    kept_on: list[ConsentRecord] | None = Field(default=None, description="When retained: the records it is kept on")
    masked: bool | None = Field(default=None, description="Whether the certificate is a masked copy.")
    masked_cert_url: str | None = None
    expires_at: str | None = Field(default=None, description="When TrustedForm stops serving the cert to the API.")
    previously_retained: bool | None = None
    lead_match: LeadMatch | None = None
    received_at: str | None = None
    errors: list[FieldError] | None = None

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# The read routes' models (GET /leads/{lead_id}, .../contactable) build their validators when first used:
# a container that only takes POST /leads never pays for them at cold start.
_READ_ROUTES_ONLY = ConfigDict(defer_build=True)


class HistoryEvent(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    at: str
    event: str


class LeadView(LeadAnswer):
    """GET /leads/{lead_id}: the answer plus what happened, in order."""

    model_config = _READ_ROUTES_ONLY

    history: list[HistoryEvent] = Field(default_factory=list)
    history_next: str | None = Field(
        default=None, description="More history: GET again with ?history_after=<this> (pages of up to 100 events)."
    )


class GateReason(StrEnum):
    """Why GET /leads/{lead_id}/contactable answers no: the first check the lead fails, in the gate's order."""

    PENDING = "pending"  # not decided yet (TrustedForm is being retried): ask again later
    NOT_RETAINED = "not_retained"  # rejected or expired: the certificate was not retained for this lead
    LEAD_NOT_MATCHED = "lead_not_matched"  # TrustedForm did not match the lead's email/phone
    MASKED_NOT_ACCEPTED = "masked_not_accepted"  # a masked certificate, and the buyer refuses masked ones
    RULES_NOT_PASSED = "rules_not_passed"  # a buyer's rule (enforced) refused the lead
    EVIDENCE_MISSING = "evidence_missing"  # the retaining TrustedForm exchange is not in the store
    CONSENT_REVOKED = "consent_revoked"  # the consumer withdrew consent (the revocation ledger)
    CONTACT_NOT_GIVEN = "contact_not_given"  # no phone on the lead for a call or text, no email for an email
    LOCATION_UNKNOWN = "location_unknown"  # no state, ZIP or US area code: the calling hours cannot be known
    OUTSIDE_CALLING_HOURS = "outside_calling_hours"  # not now at the consumer's location: next_allowed_at
    CONTACT_LIMIT_REACHED = "contact_limit_reached"  # the state's frequency cap: next_allowed_at
    # the number's screens, re-checked when their last answer is too old (call_screens.py): a call or a text
    ON_DNC_LIST = "on_dnc_list"  # on the national, a state or the buyer's internal Do-Not-Call list
    LITIGATOR = "litigator"  # a known TCPA litigator's number
    NUMBER_REASSIGNED = "number_reassigned"  # disconnected since consent was given: someone else's now
    SCREEN_UNAVAILABLE = "screen_unavailable"  # a screen could not be asked (fail_closed): ask again later


class ScreenCheck(BaseModel):
    """One screen the call gate acted on (its answer's ``facts["screens"]``): the answer it used (when, from which
    provider) and its verdict."""

    model_config = _READ_ROUTES_ONLY

    rule: str = Field(description="The buyer's rule: dnc, litigator or reassigned_number.")
    screen: str = Field(description="The screen that answered it: dnc, litigator or reassigned_number.")
    provider: str | None = None
    checked_at: str | None = Field(default=None, description="When the provider answered.")
    consent_date: str | None = Field(default=None, description="reassigned_number: the consent date asked about.")
    passed: bool | None = Field(default=None, description="None: the screen could not judge the number.")
    detail: str | None = None

    @classmethod
    def of(cls, rule: str, result: Any, passed: bool | None) -> ScreenCheck:
        return cls(
            rule=rule,
            screen=str(result.screen),
            provider=str(result.provider),
            checked_at=result.checked_at,
            consent_date=result.consent_date,
            passed=passed,
        )


class ContactableAnswer(BaseModel):
    """GET /leads/{lead_id}/contactable: may the buyer's dialer or CRM contact this lead now, on this channel?"""

    model_config = _READ_ROUTES_ONLY

    lead_id: str = Field(description="Our id for the lead.")
    vendor_lead_id: str | None = Field(default=None, description="The vendor's own lead_id, if given.")
    contactable: bool = Field(
        description="True only when the consumer has not withdrawn consent, the certificate is retained, the lead "
        "matched (or the certificate is masked and masked certificates are accepted), the buyer's rules passed, "
        "the evidence is stored, the lead gave a contact for the channel, the law of the hour allows it now, and "
        "for a call or a text the number's enforced screens (Do-Not-Call, litigator, reassigned) are current and clean."
    )
    reason: GateReason | None = Field(default=None, description="When not contactable: the first check that failed.")
    detail: str = Field(description="The answer in words.")
    next_allowed_at: str | None = Field(
        default=None,
        description="When not contactable and waiting helps (calling hours, a frequency cap): the earliest moment "
        "every enforced calling rule allows. Null when waiting does not help, or not known.",
    )
    channel: Channel = Field(default="call", description="The channel asked about (call, text or email).")
    brand: str | None = Field(default=None, description="The brand asked about, if any.")
    facts: dict[str, Any] | None = Field(
        default=None,
        description="What decided: the revocation that closed the gate; the lead's location, the calling rules' "
        "version and the verdicts of the rules that failed (shadow ones included); the number's screens the gate "
        "acted on (screens: each rule's answer, its provider and date, the consent date a reassigned-number check "
        "asked about, and whether it passed).",
    )
    status: Status = Field(description="The lead's status (received is answered as pending).")
    lead_reason: Reason | None = Field(default=None, description="The lead's own reason, as GET /leads/{lead_id}.")
    checked_at: str = Field(description="When the checks ran: a pending lead may become contactable later.")
