"""The evidence record: everything kept about one lead, one pydantic model. What the archive stores (a
canonical JSON line each), what the evidence bundle is built from and what the operator CLI shows, so a
bundle built from the archive equals the one built from the table.

The lead's state, its raw exchanges and its certificate's claim stay the JSON-ready dicts they were
stored as: an archived record is evidence, read back as written, whatever this version's models say.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from tf_retainer.domain import chain
from tf_retainer.domain.lead import CertificateRecord, HistoryItem, Lead
from tf_retainer.ports.leads import LeadReader

ARCHIVE_FORMAT = "tf-retainer-archive/1"


class _Evidence(BaseModel):
    # A field this version does not know (an archive written by a later one) is kept, never dropped.
    model_config = ConfigDict(extra="allow")


class HistoryEvent(_Evidence):
    """One history event, as the bundle and `lead show` print it."""

    at: str
    type: str
    actor: str | None = None
    lead_id: str | None = None
    cert_id: str | None = None
    detail: dict[str, Any] = {}

    @classmethod
    def of(cls, item: HistoryItem) -> HistoryEvent:
        return cls.model_validate(item.as_dict())


class ChainLink(_Evidence):
    """A stored entry of the lead's chain: content as hashed, hash as stored (``chain.verify`` checks them)."""

    seq: int
    hash: str
    content: str

    @classmethod
    def of(cls, link: chain.Link) -> ChainLink:
        return cls(seq=link.seq, hash=link.stored_hash, content=link.content.decode())


class CertificateEvidence(_Evidence):
    """The lead's certificate: who holds it (its claim) and the history of every lead that came with it. A lead
    without a certificate (kept on its LeadiD token alone): its token's claim (``cert_id`` None)."""

    cert_id: str | None
    leadid_token: str | None = None
    claim: dict[str, Any] | None = None
    history: list[HistoryEvent] = []

    @classmethod
    def of(
        cls, cert_id: str | None, certificate: CertificateRecord | None, *, leadid_token: str | None = None
    ) -> CertificateEvidence:
        claim = certificate.claim if certificate else None
        return cls(
            cert_id=cert_id,
            leadid_token=leadid_token,
            claim=claim.model_dump(mode="json", exclude_none=True) if claim else None,
            history=[HistoryEvent.of(event) for event in certificate.history] if certificate else [],
        )


class EvidenceRecord(_Evidence):
    format: str = ARCHIVE_FORMAT
    lead_id: str
    vendor: str
    received_at: str
    state: dict[str, Any]
    history: list[HistoryEvent]
    exchanges: list[dict[str, Any]]
    # The stored chain the history and exchanges were read from, so an archived lead's evidence can be
    # verified link by link as the table's can (chain.verify).
    chain: list[ChainLink] = []
    certificate: CertificateEvidence
    # A lead with a certificate that claims its LeadiD token too (``Lead.leadid_claim``): the token's claim.
    leadid: CertificateEvidence | None = None

    def archive_line(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): equal records give equal bytes, so a rerun over the same
        leads writes the same part. The LeadiD claims only where a lead has one: a lead without them archives
        as it did before they existed."""
        unclaimed: dict[str, Any] = {"leadid": True} if self.leadid is None else {}
        if self.certificate.leadid_token is None:
            unclaimed["certificate"] = {"leadid_token"}
        data = self.model_dump(mode="json", exclude=unclaimed or None)
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def in_archive_lines(cls, lines: Iterable[bytes], lead_id: str) -> EvidenceRecord | None:
        """The lead's record among an archived part's lines (only its own line is validated)."""
        for line in lines:
            data = json.loads(line)
            if data.get("lead_id") == lead_id:
                return cls.model_validate(data)
        return None

    def followed_by(self, current: EvidenceRecord, *, archived_at: str) -> EvidenceRecord:
        """This archived record with what the table recorded since it was archived (an operator's note, a
        hold): the later history events, and the chain entries holding them, which follow the head the
        table kept, so the whole chain still verifies."""
        later = [event for event in current.history if event.at > archived_at and event not in self.history]
        last = max((link.seq for link in self.chain), default=0)
        newer = [link for link in current.chain if link.seq > last]
        return self.model_copy(update={"history": self.history + later, "chain": self.chain + newer})


def lead_state(lead: Lead) -> dict[str, Any]:
    """The lead's state as evidence: the attempt lease is the retry worker's bookkeeping, not evidence."""
    return lead.model_dump(mode="json", exclude_none=True, exclude={"lease_until"})


def evidence_record(reader: LeadReader, lead_id: str) -> EvidenceRecord | None:
    """Everything kept about the lead and its certificate, or its LeadiD token's claim (None: no such lead)."""
    record = reader.read_lead(lead_id)
    if record is None:
        return None
    cert_id, token = record.lead.cert_id, record.lead.leadid_token
    claimed = token if token and (cert_id is None or record.lead.leadid_claim) else None
    leadid = CertificateEvidence.of(None, reader.read_leadid(claimed), leadid_token=claimed) if claimed else None
    if cert_id is None:
        certificate, leadid = leadid or CertificateEvidence.of(None, None), None
    else:
        certificate = CertificateEvidence.of(cert_id, reader.read_certificate(cert_id))
    return EvidenceRecord(
        lead_id=lead_id,
        vendor=record.lead.vendor,
        received_at=record.lead.received_at,
        state=lead_state(record.lead),
        history=[HistoryEvent.of(event) for event in record.history],
        exchanges=record.exchanges,
        chain=[ChainLink.of(link) for link in record.chain],
        certificate=certificate,
        leadid=leadid,
    )
