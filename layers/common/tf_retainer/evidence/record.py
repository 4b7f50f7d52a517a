"""The evidence record: everything kept about one lead, as JSON-ready data. What the evidence bundle is built
from and what the archive stores, line by line, so a bundle built from the archive equals the one built
from the table."""

from __future__ import annotations

from typing import Any

from tf_retainer.domain import chain
from tf_retainer.domain.lead import Lead
from tf_retainer.ports.leads import LeadReader

ARCHIVE_FORMAT = "tf-retainer-archive/1"


def lead_state(lead: Lead) -> dict[str, Any]:
    """The lead's state as evidence: the attempt lease is the retry worker's bookkeeping, not evidence."""
    return lead.model_dump(mode="json", exclude_none=True, exclude={"lease_until"})


def evidence_record(reader: LeadReader, lead_id: str) -> dict[str, Any] | None:
    """Everything the evidence bundle is built from, as JSON-ready data (None: no such lead)."""
    record = reader.read_lead(lead_id)
    if record is None:
        return None
    cert_id = record.lead.cert_id
    certificate = reader.read_certificate(cert_id) if cert_id else None
    return {
        "format": ARCHIVE_FORMAT,
        "lead_id": lead_id,
        "vendor": record.lead.vendor,
        "received_at": record.lead.received_at,
        "state": lead_state(record.lead),
        "history": [event.as_dict() for event in record.history],
        "exchanges": record.exchanges,
        # The stored chain the history and exchanges were read from, so an archived lead's evidence can
        # be verified link by link as the table's can (chain.verify): content as hashed, hash as stored.
        "chain": [chain_link(link) for link in record.chain],
        "certificate": {
            "cert_id": cert_id,
            "claim": certificate.claim.model_dump(mode="json", exclude_none=True)
            if certificate and certificate.claim
            else None,
            "history": [event.as_dict() for event in certificate.history] if certificate else [],
        },
    }


def chain_link(link: chain.Link) -> dict[str, Any]:
    return {"seq": link.seq, "hash": link.stored_hash, "content": link.content.decode()}
