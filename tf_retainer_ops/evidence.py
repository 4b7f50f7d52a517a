"""Reading a lead and its certificate back out of the table, and the evidence file built from them.

Everything here reads what the service stored: contact details are SHA-1 fingerprints there, and
raw exchanges already have the TrustedForm API key redacted (tf_retainer.trustedform).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tf_retainer.store import LeadStore, iso

from . import __version__

# Storage bookkeeping, not evidence.
INTERNAL_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "ttl", "lease_until")
EVIDENCE_FORMAT = "tf-retainer-evidence/1"


class NotFound(LookupError):
    pass


@dataclass
class LeadRecord:
    state: dict[str, Any]
    history: list[dict[str, Any]]
    exchanges: list[dict[str, Any]]


@dataclass
class CertificateRecord:
    cert_id: str
    claim: dict[str, Any] | None
    history: list[dict[str, Any]]


def _clean(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in INTERNAL_KEYS}


def _event(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": item.get("at"),
        "type": item.get("type"),
        "actor": item.get("actor"),
        "lead_id": item.get("lead_id"),
        "cert_id": item.get("cert_id"),
        "detail": item.get("detail") or {},
    }


def _by_time(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    # Sort keys already carry the ISO time (and a sequence): keep that order, time first.
    return sorted(items, key=lambda item: (str(item.get(key) or ""), item.get("sk", "")))


def load_lead(store: LeadStore, lead_id: str) -> LeadRecord:
    items = store.lead_items(lead_id)
    state = next((item for item in items if item["sk"] == "STATE"), None)
    if state is None:
        raise NotFound(f"no lead {lead_id}")
    history = [_event(item) for item in _by_time([i for i in items if i["sk"].startswith("EVENT#")], "at")]
    exchanges = [_clean(item) for item in _by_time([i for i in items if i["sk"].startswith("EXCHANGE#")], "started_at")]
    return LeadRecord(state=_clean(state), history=history, exchanges=exchanges)


def load_certificate(store: LeadStore, cert_id: str) -> CertificateRecord:
    items = store.certificate_items(cert_id)
    if not items:
        raise NotFound(f"no certificate {cert_id}")
    claim = next((_clean(item) for item in items if item["sk"] == "CLAIM"), None)
    history = [_event(item) for item in _by_time([i for i in items if i["sk"].startswith("EVENT#")], "at")]
    return CertificateRecord(cert_id=cert_id, claim=claim, history=history)


RETAIN_FIELDS = (
    "status",
    "reason",
    "attempts",
    "burned_attempts",
    "retained",
    "tf_outcome",
    "tf_reason",
    "expires_at",
    "previously_retained",
    "shared_with_lead_id",
    "owner_lead_id",
    "created_at",
    "final_at",
    "next_attempt_at",
    "last_pending_reason",
)


def build_evidence(store: LeadStore, lead_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """One self-contained document proving what happened to a lead and its certificate."""
    lead = load_lead(store, lead_id)
    state = lead.state
    cert_id = state.get("cert_id")
    certificate: CertificateRecord | None = None
    if cert_id:
        try:
            certificate = load_certificate(store, cert_id)
        except NotFound:
            certificate = None
    document: dict[str, Any] = {
        "format": EVIDENCE_FORMAT,
        "generated_at": iso(now or datetime.now(UTC)),
        "generated_by": {"tool": "tf-retainer", "version": __version__},
        "lead_id": lead_id,
        "vendor": state.get("vendor"),
        "vendor_lead_id": state.get("vendor_lead_id"),
        "received_at": state.get("received_at"),
        "lead": {
            # As received: the vendor's extra fields; email/phone only as the SHA-1 fingerprints
            # TrustedForm matched against (match_lead).
            "fields": state.get("lead") or {},
            "contact_fingerprints": state.get("match_lead") or {},
        },
        "certificate": {
            "cert_id": cert_id,
            "kind": state.get("cert_kind"),
            "certificate_url": state.get("certificate_url"),
            "masked": state.get("masked"),
            "masked_cert_url": state.get("masked_cert_url"),
            "retain_deadline": state.get("deadline"),
        },
        "retain": {name: state[name] for name in RETAIN_FIELDS if name in state},
        "lead_match": state.get("lead_match"),
        "exchanges": lead.exchanges,
        "history": lead.history,
        "certificate_record": {
            "claim": certificate.claim if certificate else None,
            "history": certificate.history if certificate else [],
        },
        "state": state,
    }
    document["content_sha256"] = content_digest(document)
    return document


def content_digest(document: dict[str, Any]) -> str:
    """SHA-256 of the document without this field (canonical JSON): shows the file was not edited."""
    body = {k: v for k, v in document.items() if k != "content_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
