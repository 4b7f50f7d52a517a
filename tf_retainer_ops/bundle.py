"""The evidence file (bundle) of one evidence record: a self-contained JSON document proving what happened to
a lead and its certificate, its content digest and its KMS signature (checked, with its evidence chain, by
`tf-retainer verify`: bundle_check.py).

Everything here is what the service stored: contact details are SHA-1 fingerprints there, and raw
exchanges already have the TrustedForm API key redacted (tf_retainer.providers.trustedform.client).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tf_retainer.domain import chain
from tf_retainer.domain.lead import Lead
from tf_retainer.evidence.record import CertificateEvidence, EvidenceRecord
from tf_retainer.runtime.clock import iso

from . import __version__

EVIDENCE_FORMAT = "tf-retainer-evidence/1"
# An export's manifest (`evidence find --export`): its files, their digests, signed as a bundle is.
EXPORT_FORMAT = "tf-retainer-consumer-export/1"
# Signs a bundle (or a manifest) in place: adds its ``signature``.
Signer = Callable[[dict[str, Any]], None]

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


def matched_fingerprints(exchanges: list[dict[str, Any]]) -> dict[str, str]:
    """The contact fingerprints sent to TrustedForm (match_lead), from the raw requests: the only place the
    service keeps them readable (the lead's state holds them sealed)."""
    found: dict[str, str] = {}
    for exchange in exchanges:
        try:
            body = json.loads((exchange.get("request") or {}).get("body") or "{}")
        except ValueError:
            continue
        match = body.get("match_lead") if isinstance(body, dict) else None
        if isinstance(match, dict):
            found.update({kind: value for kind, value in match.items() if isinstance(value, str)})
    return found


def evidence_document(record: EvidenceRecord, *, now: datetime | None = None) -> dict[str, Any]:
    """The bundle of one evidence record (tf_retainer.evidence.record), from either place."""
    state = record.state
    document: dict[str, Any] = {
        "format": EVIDENCE_FORMAT,
        "generated_at": iso(now or datetime.now(UTC)),
        "generated_by": {"tool": "tf-retainer", "version": __version__},
        "lead_id": record.lead_id,
        **state_sections(state, record.exchanges),
        "exchanges": record.exchanges,
        "history": [event.model_dump(mode="json") for event in record.history],
        # The lead's evidence chain as stored (content as hashed, hash as stored): `tf-retainer verify`
        # recomputes it link by link and checks history and exchanges above are exactly what it holds.
        "chain": [link.model_dump(mode="json") for link in record.chain],
        # a lead without a certificate: its LeadiD token's claim (one lead per token)
        "certificate_record": _claim_record(record.certificate),
        "state": state,
    }
    if record.leadid is not None:  # a lead with a certificate that claims its LeadiD token too
        document["leadid_record"] = _claim_record(record.leadid)
    document["content_sha256"] = content_digest(document)
    return document


def _claim_record(claimed: CertificateEvidence) -> dict[str, Any]:
    token = {"leadid_token": claimed.leadid_token} if claimed.leadid_token else {}
    return {**token, "claim": claimed.claim, "history": [event.model_dump(mode="json") for event in claimed.history]}


def state_sections(state: dict[str, Any], exchanges: list[dict[str, Any]]) -> dict[str, Any]:
    """The bundle's readable sections, each a view of the lead's state, the contact fingerprints a view of
    the raw exchanges (`verify` rebuilds them from the file's state and the chain's exchanges, and
    compares)."""
    return {
        "vendor": state.get("vendor"),
        "vendor_lead_id": state.get("vendor_lead_id"),
        "received_at": state.get("received_at"),
        "lead": {
            # As received: the vendor's extra fields; email/phone only as the SHA-1 fingerprints
            # TrustedForm matched against (match_lead), as the raw requests sent them.
            "fields": state.get("lead") or {},
            "contact_fingerprints": matched_fingerprints(exchanges),
        },
        "certificate": {
            "cert_id": state.get("cert_id"),
            "kind": state.get("cert_kind"),
            "certificate_url": state.get("certificate_url"),
            "masked": state.get("masked"),
            "masked_cert_url": state.get("masked_cert_url"),
            "retain_deadline": state.get("deadline"),
        },
        "retain": {name: state[name] for name in RETAIN_FIELDS if name in state},
        "lead_match": state.get("lead_match"),
        # A lead with a second consent record (a Jornaya LeadiD token): the token and Jornaya's audit of it
        # as the state keeps it (the audit's raw exchange is among the exchanges, by its call_id).
        "second_consent_record": _second_record(state),
        # A retained lead: the consent records it is kept on (trustedform, jornaya, or both).
        "kept_on": _kept_on(state),
    }


def _kept_on(state: dict[str, Any]) -> list[str] | None:
    try:
        return list(Lead.model_validate(state).kept_on() or []) or None
    except ValueError:  # a state this version cannot read: nothing said about it
        return None


def _second_record(state: dict[str, Any]) -> dict[str, Any] | None:
    token = state.get("leadid_token")
    if not token:
        return None
    return {"provider": "jornaya", "leadid_token": token, "audit": (state.get("screens") or {}).get("leadid")}


def content_digest(document: dict[str, Any]) -> str:
    """SHA-256 of the document's canonical JSON, without the digest and the signature.

    On its own it only shows the file was not damaged: whoever edits the file can recompute it. The
    signature (``sign``) is what shows it was not edited: an HMAC of the digest under a KMS key whose
    secret never leaves KMS, which only holders of kms:GenerateMac on that key can produce.
    """
    body = {k: v for k, v in document.items() if k not in ("content_sha256", "signature")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def render(document: dict[str, Any]) -> str:
    """The file's text (what is written, and what a file digest covers)."""
    return json.dumps(document, indent=2, default=str) + "\n"


MAC_ALGORITHM = "HMAC_SHA_256"


def sign(document: dict[str, Any], kms: Any, key_id: str) -> None:
    """Add a KMS HMAC of the content digest (GenerateMac: the key material never leaves KMS)."""
    out = kms.generate_mac(KeyId=key_id, MacAlgorithm=MAC_ALGORITHM, Message=document["content_sha256"].encode())
    document["signature"] = {
        "algorithm": MAC_ALGORITHM,
        "key_id": out["KeyId"],
        "signed": "content_sha256",
        "mac": base64.b64encode(out["Mac"]).decode(),
    }


def verified_chain(record: dict[str, Any]) -> list[chain.Entry]:
    """The entries of an evidence record's or file's chain (``lead_id``, ``state``, ``chain``), each link
    recomputed from the lead's identity on. Raises chain.BrokenChain (the first link that fails), or
    ValueError when the chain cannot be read at all."""
    state = record.get("state") or {}
    try:
        links = [
            chain.Link(int(link["seq"]), str(link["content"]).encode(), str(link["hash"])) for link in record["chain"]
        ]
        cert_id = state.get("cert_id")  # absent: a lead without a certificate, kept on its LeadiD token
        first = chain.genesis(
            str(record["lead_id"]),
            str(state["vendor"]),
            None if cert_id is None else str(cert_id),
            str(state["received_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the evidence chain is unreadable ({exc})") from exc
    return chain.verify(links, first)
