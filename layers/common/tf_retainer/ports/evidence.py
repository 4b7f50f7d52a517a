"""Ports of the evidence use cases: legal holds (which leads a hold covers, a held lead's items kept from
expiry) and the archive's marks on a lead's items. Implemented by ``store/legal_holds.py`` and
``store/archive_marks.py``. ``ItemKey`` and ``ItemExpiry`` name stored items for the store that gave them:
the use cases pass them back, never look inside."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel

from tf_retainer.domain.lead import Lead
from tf_retainer.runtime.clock import iso

HOLD_SCOPES = ("lead", "email", "phone", "vendor")


class Hold(BaseModel):
    hold_id: str
    scope: str  # one of HOLD_SCOPES
    value: str  # the lead id, the contact's keyed token (never the clear value) or the vendor
    # A consumer's hold: the keyed tokens of the same contact's other spellings (a phone number with or
    # without its country code), covered alike.
    also: list[str] = []
    # A consumer hold's values are the consumer index's keyed tokens (LeadIndex.consumer_token): nothing
    # reversible is kept. False: a hold set before, whose values are the SHA-1 fingerprints themselves.
    tokens: bool = False
    reason: str
    set_by: str
    set_at: str
    active: bool = True
    leads: int = 0  # leads covered so far
    applied_at: str | None = None  # the last time matching leads were looked for (the next look starts before)
    released_by: str | None = None
    released_at: str | None = None
    release_reason: str | None = None


class Member(BaseModel):
    """One lead a hold covers, with what finds its items again."""

    lead_id: str
    cert_id: str | None  # None: a lead without a certificate, its LeadiD token's claim held instead
    leadid_token: str | None = None
    vendor: str
    vendor_lead_id: str | None = None
    covered_at: str
    swept_at: str | None = None  # the last time every item of the lead was checked held
    lead_open: bool = False  # still received/pending then: it will get new items (attempts, outcome)
    released_at: str | None = None

    @classmethod
    def of(cls, lead: Lead, now: datetime) -> Member:
        return cls(
            lead_id=lead.lead_id,
            cert_id=lead.cert_id,
            leadid_token=lead.leadid_token if lead.cert_id is None or lead.leadid_claim else None,
            vendor=lead.vendor,
            vendor_lead_id=lead.vendor_lead_id,
            covered_at=iso(now),
            lead_open=not lead.status.is_final,
        )


@dataclass(frozen=True, slots=True)
class LeadStanding:
    open: bool
    archived_to: str | None  # the s3:// address of its archived object, once archived


@dataclass(frozen=True)
class ItemKey:
    pk: str
    sk: str


@dataclass(frozen=True)
class ItemExpiry:
    pk: str
    sk: str
    ttl: int | None


@dataclass(frozen=True)
class ArchiveMark:
    """A lead's archive bookkeeping, read with the expiry of each item it may expire early (``items``:
    its chain entries but the head) and whether a legal hold covers any of its items."""

    archived_to: str | None
    held: bool
    archived_at: str | None = None
    items: list[ItemExpiry] = field(default_factory=list)


class Holds(Protocol):
    def put_hold(self, hold: Hold) -> None: ...

    def get_hold(self, hold_id: str) -> Hold | None: ...

    def active_holds(self) -> list[Hold]: ...

    def mark_applied(self, hold_id: str, now: datetime) -> None: ...

    def release(self, hold_id: str, *, actor: str, reason: str | None, now: datetime, ttl: int) -> bool: ...

    def members(self, hold_id: str) -> list[Member]: ...

    def add_member(self, hold_id: str, member: Member) -> bool: ...

    def mark_swept(self, hold_id: str, lead_id: str, *, lead_open: bool, now: datetime) -> None: ...

    def mark_member_released(self, hold_id: str, lead_id: str, *, now: datetime, ttl: int) -> None: ...

    def standing(self, lead_id: str) -> LeadStanding | None: ...

    def hold_items(self, member: Member, hold_id: str) -> int: ...

    def release_items(self, member: Member, hold_id: str, *, now: datetime, grace: timedelta) -> int: ...


class Marked(enum.Enum):
    """What marking a lead archived did: nothing (already marked, or gone), or marked it, held or not."""

    NOT_MARKED = "not_marked"
    MARKED = "marked"
    HELD = "held"  # a legal hold covers the lead as of the marking: its archive object must be held too


class ArchiveMarkStore(Protocol):
    def read(self, lead_id: str) -> ArchiveMark | None: ...

    def mark(self, lead_id: str, *, archived_to: str, archived_at: str) -> Marked: ...

    def expire_early(self, item: ItemExpiry, ttl: int) -> bool: ...


class ArchiveBucket(Protocol):
    """Where archived parts go (aws/archive_bucket.py): written once, named by their content. A part is
    lines, one evidence record's JSON each (``EvidenceRecord.archive_line``); a part is named by its URI."""

    def put_part(self, vendor: str, day: date, lines: Iterable[bytes]) -> str: ...

    def read_part(self, uri: str) -> list[bytes]: ...

    def parts(self, vendor: str, day: date) -> list[str]:
        """The parts of a vendor's day, oldest first."""
        ...

    def legal_hold(self, uri: str) -> None: ...
