"""In-memory fakes of the service's ports, for the use cases' unit tests: each type-checks against the
Protocol it stands in for (tf_retainer.ports), so a changed port fails mypy here, not at run time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from tf_retainer.domain.exchange import Exchange
from tf_retainer.domain.keyring import Keyring
from tf_retainer.domain.lead import CertificateRecord, Event, Lead, LeadRecord
from tf_retainer.domain.models import Status
from tf_retainer.domain.retry_message import RetryMessage
from tf_retainer.domain.revocation import Notice, Revocation
from tf_retainer.ports.anchors import StoredAnchor
from tf_retainer.ports.leads import (
    CertificateTaken,
    DuplicateLead,
    HistoryPage,
    Recovery,
    Reserved,
    StaleAttempt,
    StoreUnavailable,
    SweepMark,
    UnreadableLead,
)
from tf_retainer.runtime.clock import iso, parse_iso


@dataclass
class Outcome:
    before: Lead
    after: Lead
    events: list[Event]
    exchanges: list[dict[str, Any]]
    now: datetime


@dataclass
class History:
    """One add_history call: an entry that changes nothing else (a call's request, an operator's action)."""

    lead_id: str
    events: list[Event]
    exchanges: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    now: datetime
    published: bool = False


@dataclass
class Refusal:
    lead: Lead
    events: list[Event]


@dataclass
class FakeStore:
    """The lead store's three ports in memory (the writes the use cases make recorded), one object for all three."""

    reservation: Reserved | DuplicateLead | CertificateTaken = field(default_factory=Reserved)
    refused_first: DuplicateLead | None = None  # record_refusal lost to another delivery of the vendor lead
    stale: bool = False  # begin_attempt raises StaleAttempt (another delivery took the lead)
    leads: dict[str, Lead] = field(default_factory=dict)
    vendor_lead_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    records: dict[str, LeadRecord] = field(default_factory=dict)
    stored_exchanges: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reserved: list[Lead] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    histories: list[History] = field(default_factory=list)
    queued: list[tuple[str, str]] = field(default_factory=list)  # move_check_after: (lead id, its new check_after)
    recoveries: list[Outcome] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)  # leads whose record_recovery fails (a bad item, a 500)
    mark: SweepMark = field(default_factory=SweepMark)  # the sweeper's over leads still as reserved
    # Leads whose stored state cannot be decoded (a malformed item), by id: when each arrived.
    unreadable: dict[str, datetime] = field(default_factory=dict)
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)  # unstepped_leads' periods asked
    fail_history: int = 0  # the next n add_history calls raise StoreUnavailable (a throttled table)
    fail_outcome: bool = False  # record_outcome raises StoreUnavailable
    # Called once per remote call the real store makes for a method (a slow table: advance a clock):
    # at worst (a lost race for the next entry number): record_outcome reads the chain's end, puts the entry,
    # updates the state; add_history reads and puts.
    on_write: Callable[[], None] = lambda: None
    begun: list[dict[str, Any]] = field(default_factory=list)
    # The consumer key the store tokenizes the leads' fingerprints under (the consumer index, a record's consumer).
    keyring: Keyring = field(default_factory=lambda: FakeKeyring())

    def reserve(self, lead: Lead, *, actor: str, now: datetime):
        self.on_write()
        if isinstance(self.reservation, Reserved):
            self.reserved.append(lead)
            self.leads[lead.lead_id] = lead
        return self.reservation

    def record_refusal(self, lead, *, events, now) -> DuplicateLead | None:
        self.on_write()
        if self.refused_first is not None:
            return self.refused_first
        self.refusals.append(Refusal(lead, events))
        self.leads[lead.lead_id] = lead
        return None

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
        self.on_write()
        self.on_write()
        if self.fail_history:
            self.fail_history -= 1
            raise StoreUnavailable("add_history: ProvisionedThroughputExceededException")
        self.histories.append(History(lead.lead_id, events, exchanges or [], calls or [], now, publish))

    def move_check_after(self, lead: Lead, *, check_after: str) -> bool:
        self.on_write()
        self.queued.append((lead.lead_id, check_after))
        return True

    def record_outcome(self, before, after, *, events, exchanges, now) -> None:
        for _ in range(3):
            self.on_write()
        if self.fail_outcome:
            raise StoreUnavailable("record_outcome: ThrottlingException")
        self.outcomes.append(Outcome(before, after, events, exchanges, now))
        self.leads[after.lead_id] = after

    def begin_attempt(self, lead_id: str, *, attempt: int, now: datetime, lease_seconds: float) -> Lead:
        self.on_write()
        self.on_write()
        self.begun.append({"lead_id": lead_id, "attempt": attempt, "now": now, "lease_seconds": lease_seconds})
        if self.stale:
            raise StaleAttempt(lead_id)
        lead = self.leads[lead_id]
        return lead.model_copy(update={"lease_until": iso(now + timedelta(seconds=lease_seconds))})

    def get_lead(self, lead_id: str) -> Lead | None:
        if lead_id in self.unreadable:
            raise ValueError(f"lead {lead_id}: its state cannot be decoded")
        record = self.records.get(lead_id)
        return record.lead if record else self.leads.get(lead_id)

    def history_page(
        self, lead_id: str, *, cursor: str | None, limit: int, hidden: frozenset[str] = frozenset()
    ) -> HistoryPage:
        record = self.records.get(lead_id)
        shown = [event for event in record.history if event.type not in hidden] if record else []
        return HistoryPage(shown[:limit], None)

    def find_vendor_lead(self, vendor: str, vendor_lead_id: str) -> str | None:
        return self.vendor_lead_ids.get((vendor, vendor_lead_id))

    def unapplied_events(self, lead: Lead) -> list[dict[str, Any]]:
        return []

    def read_lead(self, lead_id: str) -> LeadRecord | None:
        """A record as the real store reads it: its consumer's tokens (from its lead's fingerprints) with it."""
        record = self.records.get(lead_id)
        if record is None or record.consumer:
            return record
        return replace(record, consumer=self.tokens(record.lead))

    def tokens(self, lead: Lead) -> dict[str, str]:
        return {kind: self.keyring.consumer(kind, fingerprint) for kind, fingerprint in lead.match_lead.items()}

    def exchanges(self, lead_id: str) -> list[dict[str, Any]]:
        if lead_id in self.stored_exchanges:
            return self.stored_exchanges[lead_id]
        record = self.records.get(lead_id)
        return record.exchanges if record else []

    def record_recovery(self, before: Lead, after: Lead, *, events: list[Event], now: datetime) -> Recovery:
        self.on_write()
        if before.lead_id in self.broken:
            raise StoreUnavailable("record_recovery: InternalServerError")
        self.recoveries.append(Outcome(before, after, events, [], now))
        if before.lead_id in self.leads:  # a step recorded: in the open index from now on
            self.leads[before.lead_id] = after.model_copy(update={"applied": before.applied + 1})
        return Recovery.REQUEUED

    # Not called by the use cases under test here (holds and the CLI's): nothing to fake.

    def read_certificate(self, cert_id: str) -> CertificateRecord | None:
        raise NotImplementedError

    def read_leadid(self, token: str) -> CertificateRecord | None:
        raise NotImplementedError

    def open_leads(self, *, overdue_at: datetime | None = None, limit: int | None = None) -> list[Lead]:
        found = [lead for lead in self.leads.values() if not lead.status.is_final and not lead.as_reserved()]
        due = [lead for lead in found if overdue_at is None or parse_iso(lead.check_after or "") < overdue_at]
        return due[:limit]

    def unstepped_leads(self, *, received_from: datetime, received_until: datetime) -> list[Lead | UnreadableLead]:
        self.windows.append((received_from, received_until))
        found: list[Lead | UnreadableLead] = [
            lead
            for lead in self.leads.values()
            if lead.as_reserved() and received_from <= parse_iso(lead.received_at) <= received_until
        ]
        found += [
            UnreadableLead(lead_id, at)
            for lead_id, at in self.unreadable.items()
            if received_from <= at <= received_until
        ]
        return sorted(
            found,
            key=lambda item: (
                item.received if isinstance(item, UnreadableLead) else parse_iso(item.received_at),
                item.lead_id,
            ),
        )

    def sweep_mark(self) -> SweepMark:
        return self.mark

    def save_sweep_mark(self, mark: SweepMark, *, read: SweepMark) -> bool:
        if self.mark.version != read.version:
            return False
        self.mark = replace(mark, version=read.version + 1)
        return True

    @property
    def watermark(self) -> datetime | None:
        return self.mark.until

    def vendor_leads(
        self, vendor: str, *, since: datetime, until: datetime | None = None, limit: int | None = None
    ) -> list[Lead]:
        raise NotImplementedError

    def consumer_leads(self, kind: str, fingerprint: str) -> list[Lead]:
        return self.consumer_leads_by_token(kind, self.consumer_token(kind, fingerprint))

    def consumer_token(self, kind: str, fingerprint: str) -> str:
        return self.keyring.consumer(kind, fingerprint)

    def consumer_leads_by_token(self, kind: str, token: str) -> list[Lead]:
        found = [lead for lead in self.leads.values() if self.tokens(lead).get(kind) == token]
        return sorted(found, key=lambda lead: (lead.received_at, lead.lead_id))

    @property
    def outcome(self) -> Outcome:
        [only] = self.outcomes
        return only


@dataclass
class FakeSqs:
    on_send: Callable[[], None] = lambda: None  # called at every send (a slow queue: advance a clock)
    fail: bool = False
    sent: list[dict[str, Any]] = field(default_factory=list)

    def send_message(self, **kwargs: Any) -> dict[str, str]:
        self.on_send()
        if self.fail:
            raise RuntimeError("SQS is down")
        self.sent.append(kwargs)
        return {"MessageId": f"msg-{len(self.sent)}"}

    @property
    def messages(self) -> list[RetryMessage]:
        return [RetryMessage.model_validate_json(sent["MessageBody"]) for sent in self.sent]


class UnusedTrustedForm:
    """For a use case that must never call TrustedForm (the call gate, lookup)."""

    def retain(self, cert_id: str, **kwargs: Any) -> Exchange:
        raise AssertionError(f"TrustedForm was called for {cert_id}")

    def close(self) -> None:
        pass


class FakeKeyring(Keyring):
    """A keyring on a fixed key, whose vendors' lead ids name the leads a test chose (others: the real
    derivation), so a use case's test can name its lead."""

    def __init__(self, vendor_leads: dict[tuple[str, str], str] | None = None) -> None:
        super().__init__(lambda: b"unit-test-consumer-key")
        self.vendor_leads = vendor_leads or {}

    def vendor_lead(self, vendor: str, vendor_lead_id: str) -> str:
        return self.vendor_leads.get((vendor, vendor_lead_id)) or super().vendor_lead(vendor, vendor_lead_id)


def received_lead() -> Lead:
    """A web lead as intake reserved it (received 2026-11-22 12:00 UTC), for the decisions' unit tests."""
    return Lead(
        lead_id="L1",
        vendor="v",
        status=Status.RECEIVED,
        cert_id="c" * 40,
        cert_kind="web",
        certificate_url="https://cert.trustedform.com/" + "c" * 40,
        received_at="2026-11-22T12:00:00.000000Z",
        deadline="2026-11-25T11:00:00.000000Z",
    )


@dataclass
class FakeLedger:
    """The revocation ledger in memory."""

    revocations: dict[str, Revocation] = field(default_factory=dict)

    def record(self, revocation: Revocation) -> tuple[Revocation, bool]:
        if revocation.revocation_id in self.revocations:
            return self.revocations[revocation.revocation_id], False
        self.revocations[revocation.revocation_id] = revocation
        return revocation, True

    def get(self, revocation_id: str) -> Revocation | None:
        return self.revocations.get(revocation_id)

    def notices(self, tokens: dict[str, str], *, consistent: bool = True) -> list[Notice]:
        found = [
            revocation.notice
            for revocation in self.revocations.values()
            if any(token in revocation.consumer.get(kind, []) for kind, token in tokens.items())
        ]
        return sorted(found, key=lambda notice: notice.expressed_at)

    def mark_honoured(self, revocation_id: str, *, honored_at: str, leads: list[str], lead_count: int) -> bool:
        current = self.revocations[revocation_id]
        if current.honored_at is not None:
            return False
        update = {"honored_at": honored_at, "leads": leads, "lead_count": lead_count}
        self.revocations[revocation_id] = current.model_copy(update=update)
        return True

    def add_leads(self, revocation_id: str, lead_ids: list[str]) -> None:
        current = self.revocations[revocation_id]
        leads = list(current.leads) + [lead for lead in lead_ids if lead not in current.leads]
        update = {"leads": leads, "lead_count": current.lead_count + len(lead_ids)}
        self.revocations[revocation_id] = current.model_copy(update=update)

    def unhonoured(self, *, recorded_before: datetime | None = None, limit: int | None = None) -> list[Revocation]:
        before = iso(recorded_before) if recorded_before else "~"
        found = [r for r in self.revocations.values() if r.honored_at is None and r.recorded_at < before]
        return sorted(found, key=lambda r: r.recorded_at)[:limit]

    def listed(self, *, since: datetime, until: datetime | None = None) -> list[Revocation]:
        low, high = iso(since), iso(until) if until else "~"
        return sorted(
            (r for r in self.revocations.values() if low <= r.recorded_at <= high), key=lambda r: r.recorded_at
        )


class FakeAnchorStore:
    """The anchor store in memory: documents by hour, and the first record of when anchoring began."""

    def __init__(self) -> None:
        self.hours: dict[str, dict[str, StoredAnchor]] = {}
        self.first: StoredAnchor | None = None
        self.puts = 0

    def put(self, hour: str, content: bytes, mac: bytes) -> str:
        self.puts += 1
        name = f"anchors/hour={hour}/batch-{hashlib.sha256(content).hexdigest()[:32]}.json"
        self.hours.setdefault(hour, {}).setdefault(name, StoredAnchor(name, content, mac))
        return name

    def read_hour(self, hour: str) -> list[StoredAnchor]:
        return list(self.hours.get(hour, {}).values())

    def mark_started(self, content: bytes, mac: bytes) -> None:
        if self.first is None:
            self.first = StoredAnchor("anchors/started.json", content, mac)

    def started(self) -> StoredAnchor | None:
        return self.first


class FakeMac:
    """An HMAC under a key of its own; counts its calls (the anchors cost one per document)."""

    def __init__(self, key: bytes = b"anchor key") -> None:
        self.key = key
        self.generated = 0

    def generate(self, message: bytes) -> bytes:
        self.generated += 1
        return hmac.new(self.key, message, hashlib.sha256).digest()

    def verify(self, message: bytes, mac: bytes) -> bool:
        return hmac.compare_digest(hmac.new(self.key, message, hashlib.sha256).digest(), mac)
