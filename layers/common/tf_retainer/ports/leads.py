"""The lead store's ports, by job (writing a lead's steps, reading a lead, finding leads), and the values
that cross them. Implemented by ``store/`` (DynamoDB); faked in ``tests/support/fakes.py``."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tf_retainer.domain.lead import CertificateRecord, Claim, Event, HistoryItem, Lead, LeadRecord

# --- what the lead store answers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reserved:
    pass


@dataclass(frozen=True, slots=True)
class DuplicateLead:
    """The vendor already sent this lead_id (it names the same lead): ``lead_id``, and whether the first
    post had the same content."""

    lead_id: str
    same_payload: bool


@dataclass(frozen=True, slots=True)
class CertificateTaken:
    """Another lead holds the certificate (``leadid``: the lead's LeadiD token): ``claim`` as the intake decides
    on it, ``holder`` the lead itself."""

    claim: Claim
    holder: Lead | None = None
    leadid: bool = False


class StaleAttempt(Exception):
    """The lead moved on (another delivery recorded this attempt first): nothing was written."""


class StoreUnavailable(RuntimeError):
    """The table stayed throttled, unavailable or unreachable past the store's own retries. What was written
    before (a reservation, a call's request) stands; the write that failed was not applied, or (its answer
    lost) was: either way the lead is where a crash at that point leaves it, and the sweeper finds it again."""


class InvalidCursor(ValueError):
    """A history cursor the store did not give."""


class Recovery(enum.Enum):
    """What a sweep did with one overdue lead."""

    REQUEUED = "requeued"
    ROLLED_FORWARD = "rolled_forward"  # its state was behind its chain: brought up to it, nothing to retry
    SKIPPED = "skipped"  # it moved on, or an attempt holds it


@dataclass(frozen=True, slots=True)
class Revisit:
    """A lead still as reserved that the sweeper failed to requeue, passed by its watermark all the same: tried
    again by every sweep until it is requeued or no longer as reserved."""

    lead_id: str
    received: datetime


@dataclass(frozen=True, slots=True)
class UnreadableLead:
    """A lead state the store found but cannot decode (a malformed item, a layout the code no longer reads):
    named rather than raised, so that one such item does not fail every read of the leads around it."""

    lead_id: str
    received: datetime


@dataclass(frozen=True, slots=True)
class SweepMark:
    """The sweeper's place over the leads still as reserved: every one received before ``until`` was looked at
    (None: never yet) and handled, but those in ``revisit``. ``version`` counts the saves (0: none read):
    a save is conditioned on it, so that two sweeps at once lose neither's changes."""

    until: datetime | None = None
    revisit: tuple[Revisit, ...] = ()
    version: int = 0


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Up to a page of a lead's history events, oldest first, and the cursor of the next page (opaque)."""

    events: list[HistoryItem]
    next_cursor: str | None


# --- the lead store, by job ---------------------------------------------------------------------------


class LeadWriter(Protocol):
    """A lead's steps, each an entry of its evidence chain written once, then its state brought up to it."""

    def reserve(self, lead: Lead, *, actor: str, now: datetime) -> Reserved | DuplicateLead | CertificateTaken: ...

    def record_refusal(self, lead: Lead, *, events: list[Event], now: datetime) -> DuplicateLead | None: ...

    def begin_attempt(self, lead_id: str, *, attempt: int, now: datetime, lease_seconds: float) -> Lead: ...

    def record_outcome(
        self, before: Lead, after: Lead, *, events: list[Event], exchanges: list[dict[str, Any]], now: datetime
    ) -> None: ...

    def record_recovery(self, before: Lead, after: Lead, *, events: list[Event], now: datetime) -> Recovery: ...

    def move_check_after(self, lead: Lead, *, check_after: str) -> bool: ...

    def add_history(
        self,
        lead: Lead,
        events: list[Event],
        *,
        now: datetime,
        exchanges: list[dict[str, Any]] | None = None,
        calls: list[dict[str, Any]] | None = None,
        publish: bool = False,
    ) -> None:
        """History that changes nothing else; ``publish``: its event stands alone and is published
        (``consent_revoked``), though the entry does not hold the lead."""
        ...


class LeadReader(Protocol):
    """A lead as stored: its state, its whole record, its history a page at a time."""

    def get_lead(self, lead_id: str) -> Lead | None: ...

    def find_vendor_lead(self, vendor: str, vendor_lead_id: str) -> str | None: ...

    def read_lead(self, lead_id: str) -> LeadRecord | None: ...

    def history_page(
        self, lead_id: str, *, cursor: str | None, limit: int, hidden: frozenset[str] = frozenset()
    ) -> HistoryPage: ...

    def exchanges(self, lead_id: str) -> list[dict[str, Any]]: ...

    def unapplied_events(self, lead: Lead) -> list[dict[str, Any]]:
        """The history events of the entries written after the step ``lead`` reflects, oldest first: what an
        attempt recorded before its writer died (a screen's answer, a call's request), its step never
        recorded. Empty for a lead whose last attempt ended. One strongly consistent query."""
        ...

    def read_certificate(self, cert_id: str) -> CertificateRecord | None: ...

    def read_leadid(self, token: str) -> CertificateRecord | None:
        """The claim of a LeadiD token held by a lead without a certificate."""
        ...


class LeadIndex(Protocol):
    """Leads found by something other than their id."""

    def open_leads(self, *, overdue_at: datetime | None = None, limit: int | None = None) -> list[Lead]:
        """Open leads with a step recorded (the open index), by time to be checked."""
        ...

    def unstepped_leads(self, *, received_from: datetime, received_until: datetime) -> list[Lead | UnreadableLead]:
        """Leads still as reserved (received, no step recorded) that arrived in the period, oldest first; and the
        states of the period that could not be decoded (whether they are as reserved is unknown)."""
        ...

    def sweep_mark(self) -> SweepMark:
        """The sweeper's mark as stored (strongly consistent); ``SweepMark()`` before the first save."""
        ...

    def save_sweep_mark(self, mark: SweepMark, *, read: SweepMark) -> bool:
        """Put ``until`` and ``revisit`` of ``mark`` (the next version of ``read``) if the stored mark is still
        ``read``; False, nothing written, if another sweep saved it since."""
        ...

    def vendor_leads(
        self, vendor: str, *, since: datetime, until: datetime | None = None, limit: int | None = None
    ) -> list[Lead]: ...

    def consumer_leads(self, kind: str, fingerprint: str) -> list[Lead]:
        """Every lead (any vendor) with this contact fingerprint (SHA-1, as TrustedForm gets it), oldest first."""
        ...

    def consumer_leads_by_token(self, kind: str, token: str) -> list[Lead]:
        """The same by the fingerprint's keyed token (``Keyring.consumer``), as the revocation ledger keeps it."""
        ...

    def consumer_token(self, kind: str, fingerprint: str) -> str:
        """The keyed token the consumer index holds for a contact fingerprint: what is kept of a consumer
        (a revocation, a hold) instead of the reversible fingerprint."""
        ...


class Leads(Protocol):
    """The three jobs together, for a use case that needs more than one (legal hold, the archive)."""

    @property
    def writer(self) -> LeadWriter: ...

    @property
    def reader(self) -> LeadReader: ...

    @property
    def index(self) -> LeadIndex: ...
