"""The evidence file (bundle) of one evidence record: a self-contained JSON document proving what happened to
a lead and its certificate, its content digest, its KMS signature, and the check of all three and of its
evidence chain (`tf-retainer verify`).

Everything here is what the service stored: contact details are SHA-1 fingerprints there, and raw
exchanges already have the TrustedForm API key redacted (tf_retainer.providers.trustedform.client).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tf_retainer.domain import chain
from tf_retainer.evidence.record import EvidenceRecord
from tf_retainer.runtime.clock import iso
from tf_retainer.store.items import history_item

from . import __version__

EVIDENCE_FORMAT = "tf-retainer-evidence/1"
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
        "vendor": state.get("vendor"),
        "vendor_lead_id": state.get("vendor_lead_id"),
        "received_at": state.get("received_at"),
        "lead": {
            # As received: the vendor's extra fields; email/phone only as the SHA-1 fingerprints
            # TrustedForm matched against (match_lead), as the raw requests sent them.
            "fields": state.get("lead") or {},
            "contact_fingerprints": matched_fingerprints(record.exchanges),
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
        "exchanges": record.exchanges,
        "history": [event.model_dump(mode="json") for event in record.history],
        # The lead's evidence chain as stored (content as hashed, hash as stored): `tf-retainer verify`
        # recomputes it link by link and checks history and exchanges above are exactly what it holds.
        "chain": [link.model_dump(mode="json") for link in record.chain],
        "certificate_record": {
            "claim": record.certificate.claim,
            "history": [event.model_dump(mode="json") for event in record.certificate.history],
        },
        "state": state,
    }
    document["content_sha256"] = content_digest(document)
    return document


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


@dataclass
class Verification:
    digest_ok: bool
    signed: bool
    signature_ok: bool | None  # None: unsigned, or no key access to check it
    chain_ok: bool | None = None  # None: the file carries no chain (made before it had one)
    chain_problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.digest_ok and self.signature_ok is not False and self.chain_ok is not False

    def describe(self) -> str:
        if self.chain_ok is False:
            return f"EDITED: {self.chain_problem}"
        if not self.digest_ok:
            return "EDITED: the content does not match content_sha256"
        if not self.signed:
            return "content matches content_sha256, but the file is unsigned: an editor could have recomputed it"
        if self.signature_ok is None:
            return "content matches content_sha256; the signature could not be checked (no access to its KMS key)"
        return "valid: content matches and the KMS signature verifies" if self.signature_ok else "FORGED: bad signature"


def verified_chain(record: dict[str, Any]) -> list[chain.Entry]:
    """The entries of an evidence record's or file's chain (``lead_id``, ``state``, ``chain``), each link
    recomputed from the lead's identity on. Raises chain.BrokenChain (the first link that fails), or
    ValueError when the chain cannot be read at all."""
    state = record.get("state") or {}
    try:
        links = [
            chain.Link(int(link["seq"]), str(link["content"]).encode(), str(link["hash"])) for link in record["chain"]
        ]
        first = chain.genesis(
            str(record["lead_id"]), str(state["vendor"]), str(state["cert_id"]), str(state["received_at"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the evidence chain is unreadable ({exc})") from exc
    return chain.verify(links, first)


def chain_problem(document: dict[str, Any]) -> str | None:
    """What is wrong with the file's evidence chain, or None: every link recomputed from its content and
    the lead's identity, and the file's history and exchanges exactly what the chain holds."""
    try:
        entries = verified_chain(document)
    except ValueError as exc:
        return str(exc)
    except chain.BrokenChain as broken:
        return f"the evidence chain breaks at entry {broken.seq}: {broken.why}"
    compared = ("at", "type", "actor", "detail")
    held = [
        {name: shown[name] for name in compared}
        for entry in entries
        for shown in (history_item(event, entry, str(document["lead_id"]), None).as_dict() for event in entry.events)
    ]
    shown = [
        {name: event.get(name) for name in ("at", "type", "actor")} | {"detail": event.get("detail") or {}}
        for event in document.get("history") or []
    ]
    if shown != held:
        at = next((i for i, (a, b) in enumerate(zip(shown, held, strict=False)) if a != b), min(len(shown), len(held)))
        return f"history event {at + 1} is not what the evidence chain holds"
    if (document.get("exchanges") or []) != [exchange for entry in entries for exchange in entry.exchanges]:
        return "the raw exchanges are not what the evidence chain holds"
    return None


def verify(document: dict[str, Any], kms: Any | None) -> Verification:
    digest_ok = document.get("content_sha256") == content_digest(document)
    problem = chain_problem(document) if document.get("chain") else None
    chain_ok = None if not document.get("chain") else problem is None
    verification = _verify_signature(document, kms, digest_ok)
    verification.chain_ok, verification.chain_problem = chain_ok, problem
    return verification


def _verify_signature(document: dict[str, Any], kms: Any | None, digest_ok: bool) -> Verification:
    signature = document.get("signature")
    if not isinstance(signature, dict):
        return Verification(digest_ok, signed=False, signature_ok=None)
    if kms is None or not digest_ok:
        return Verification(digest_ok, signed=True, signature_ok=None)
    try:
        out = kms.verify_mac(
            KeyId=signature["key_id"],
            MacAlgorithm=signature["algorithm"],
            Message=str(document["content_sha256"]).encode(),
            Mac=base64.b64decode(signature["mac"]),
        )
        valid = bool(out.get("MacValid"))
    except kms.exceptions.KMSInvalidMacException:
        valid = False
    return Verification(digest_ok, signed=True, signature_ok=valid)
