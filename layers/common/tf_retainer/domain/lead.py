"""A lead as the service keeps it: its state, what TrustedForm said about its certificate, its history.

Typed models the store reads and writes; only the store knows how they become DynamoDB items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tf_retainer.domain.models import ConsentRecord, LeadAnswer, LeadMatch, Reason, Status
from tf_retainer.domain.screens import ScreenResult
from tf_retainer.runtime.clock import parse_iso


class CertificateFacts(BaseModel):
    """What TrustedForm told us about the certificate (errors tell nothing: all optional)."""

    model_config = ConfigDict(extra="ignore")

    retained: bool | None = None
    masked: bool | None = None
    masked_cert_url: str | None = None
    expires_at: str | None = None
    previously_retained: bool | None = None
    lead_match: LeadMatch | None = None
    tf_outcome: str | None = None
    tf_reason: str | None = None
    created_at: str | None = None

    def facts(self) -> dict[str, Any]:
        """The facts that are known, ready for ``model_copy(update=...)`` of a lead or a claim."""
        return {name: getattr(self, name) for name in CertificateFacts.model_fields if getattr(self, name) is not None}


class Place(BaseModel):
    """Where the consumer is, for the law of the hour (the call gate): the vendor's ``state`` and ``zip``
    fields as validated at intake (a USPS code, five digits), and the phone's area code. Never the number."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: str | None = None
    zip: str | None = None
    area_code: str | None = None


class Lead(CertificateFacts):
    """The lead's state item: one per lead, changed only by conditional writes."""

    lead_id: str
    vendor: str
    vendor_lead_id: str | None = None
    # SHA-256 of what the vendor posted under its lead_id (a repeat with other content is a conflict).
    payload_hash: str | None = None
    status: Status
    reason: Reason | None = None
    # The TrustedForm certificate; None: the lead carries none (kept on its LeadiD token alone, which only an
    # enforced consent_records rule of ``jornaya`` or ``either`` lets in). Never an empty string.
    cert_id: str | None = None
    cert_kind: str | None = None
    certificate_url: str | None = None
    # The second consent record, when the vendor sent one: its Jornaya LeadiD token (domain/leadid.py), and
    # whether the lead claims it (one lead per token) beside its certificate: when its vendor's consent_records
    # rule relies on tokens. A lead without a certificate always claims its token.
    leadid_token: str | None = None
    leadid_claim: bool | None = None
    received_at: str
    deadline: str
    attempts: int = 0
    burned_attempts: int = 0
    # Contact details only as the SHA-1 fingerprints TrustedForm matches against (stored sealed: the
    # store never keeps them readable, see domain/keyring.py).
    match_lead: dict[str, str] = Field(default_factory=dict)
    # Where the consumer is (state, ZIP, area code), derived at intake; None for leads stored before.
    place: Place | None = None
    # The vendor's extra fields the buyer allows, as received (contact-like ones as fingerprints), and
    # the names of those dropped (see extras.py).
    lead: dict[str, Any] = Field(default_factory=dict)
    dropped_fields: list[str] | None = None
    updated_at: str | None = None
    final_at: str | None = None
    next_attempt_at: str | None = None
    last_pending_reason: str | None = None
    lease_until: str | None = None
    # While open: when to look again if nothing happened by then (the sweeper's cue).
    check_after: str | None = None
    # A refused reuse: the lead that holds the certificate. A shared one: the lead it was shared from.
    owner_lead_id: str | None = None
    shared_with_lead_id: str | None = None
    # The buyer's rules: which stored versions decided, each rule's verdict, whether the lead passed
    # (decide_first retains it without asking again), the failing facts of a refusal.
    rule_version: str | None = None
    verdicts: list[dict[str, Any]] | None = None
    rules_passed: bool | None = None
    refusal_detail: dict[str, Any] | None = None
    # TrustedForm operations billed for this lead (insights count per property returned).
    tf_operations: int = 0
    # The screens of its phone number (domain/screens.py), by screen: the last result of each. The number
    # itself only as the key of the per-number results, and sealed (KMS) for a screen asked again later.
    screens: dict[str, ScreenResult] | None = None
    number_key: str | None = None
    sealed_phone: str | None = None
    # The number of the last entry of the lead's evidence chain that this state reflects (0: none yet),
    # and that entry's hash (hex; None before the first).
    applied: int = 0
    head: str | None = None

    def consent_records(self) -> dict[str, Any]:
        """The lead's consent records as the call gate reports them: its certificate, and its LeadiD token with
        Jornaya's last audit of it (None: not audited, no rule of the vendor read it)."""
        audit = (self.screens or {}).get("leadid")
        jornaya: dict[str, Any] = {"token": self.leadid_token, "audit": None}
        if audit is not None:
            found = audit.findings
            jornaya["audit"] = {
                "checked_at": audit.checked_at,
                "answered": audit.answered,
                "authentic": found.get("authentic"),
                "result": found.get("result"),
                "failing": found.get("failing"),
                "call_id": audit.call_id,
            }
        retained = self.status is Status.RETAINED
        trustedform = {"cert_id": self.cert_id, "retained": retained and self.cert_id is not None}
        return {"trustedform": trustedform, "jornaya": jornaya, "kept_on": self.kept_on()}

    def token_vouched(self) -> bool:
        """Jornaya's last audit of the lead's token vouched for it (authentic) and is not red."""
        audit = (self.screens or {}).get("leadid")
        if self.leadid_token is None or audit is None or not audit.answered:
            return False
        found = audit.findings
        return found.get("authentic") is True and found.get("result") in ("green", "yellow")

    def kept_on(self) -> list[ConsentRecord] | None:
        """The consent records a retained lead is kept on: ``trustedform`` (its certificate retained),
        ``jornaya`` (its LeadiD token, vouched for and not red). None: the lead is not retained."""
        if self.status is not Status.RETAINED:
            return None
        records: list[ConsentRecord] = ["trustedform"] if self.cert_id is not None else []
        return records + (["jornaya"] if self.token_vouched() else [])

    def as_reserved(self) -> bool:
        """Still as its intake reserved it: received, no step recorded (in no open index)."""
        return self.status is Status.RECEIVED and self.applied == 0

    @property
    def deadline_at(self) -> datetime:
        return parse_iso(self.deadline)

    def answer(self) -> LeadAnswer:
        """What the vendor is told about this lead."""
        return LeadAnswer(
            lead_id=self.lead_id,
            vendor_lead_id=self.vendor_lead_id,
            status=Status.PENDING if self.status is Status.RECEIVED else self.status,
            reason=self.reason,
            detail=self.refusal_detail,
            cert_id=self.cert_id,
            certificate_url=self.certificate_url,
            leadid_token=self.leadid_token,
            kept_on=self.kept_on(),
            masked=self.masked,
            masked_cert_url=self.masked_cert_url,
            expires_at=self.expires_at,
            previously_retained=self.previously_retained,
            lead_match=self.lead_match,
            received_at=self.received_at,
        )


class Claim(CertificateFacts):
    """Who holds a certificate: one lead per certificate, ever."""

    lead_id: str | None = None
    vendor: str | None = None
    claimed_at: str | None = None
    status: Status | None = None
    # Leads that came with the certificate while this lead held it (the first ones named).
    reuse_attempts: int = 0
    last_reuse_at: str | None = None
    reused_by: list[str] = Field(default_factory=list)
    # Leads that held it before and were refused or expired (retained nothing), oldest first.
    previous_holders: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Event:
    """One history event to write (under the lead and, when it concerns it, the certificate)."""

    type: str
    actor: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One history event as stored."""

    at: str
    type: str
    actor: str | None
    lead_id: str | None
    cert_id: str | None
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "type": self.type,
            "actor": self.actor,
            "lead_id": self.lead_id,
            "cert_id": self.cert_id,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class LeadRecord:
    """Everything kept about one lead, in time order: what GET /leads/{id} and the evidence read.

    ``chain``: the stored entries the history and exchanges were read from (``store.chain.Link``), for
    whoever must prove them unaltered. ``consumer``: the keyed tokens the lead's email and phone are indexed
    under (``Keyring.consumer``), by kind: what the revocation ledger is keyed by (never the fingerprints)."""

    lead: Lead
    history: list[HistoryItem]
    exchanges: list[dict[str, Any]]
    chain: list[Any] = field(default_factory=list)
    consumer: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """A consent record's claim and the history of the leads that came with it: a certificate's (``cert_id``)
    or, for leads without one, a LeadiD token's (``leadid_token``)."""

    cert_id: str | None
    claim: Claim | None
    history: list[HistoryItem] = field(default_factory=list)
    leadid_token: str | None = None
