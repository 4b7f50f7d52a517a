"""Find by consumer: every lead (any vendor) that carried an email or phone, and its evidence exported.

A demand letter names a phone number or an email, not our lead id. The table holds contact details only
as the SHA-1 fingerprints TrustedForm matched against (``match_lead``), so the clear value given here is
fingerprinted exactly as intake does (``tf_retainer.domain.contacts.lead_fingerprints``) and then dropped:
nothing here writes or prints it. Leads are found through the consumer indexes (gsi3 email, gsi4
phone), never a Scan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tf_retainer.domain.contacts import lead_fingerprints, normalise_email, normalise_phone, phone_spellings
from tf_retainer.domain.lead import Lead
from tf_retainer.runtime.clock import iso
from tf_retainer.store.lead_table import LeadTable

from . import __version__
from .bundle import EXPORT_FORMAT, Signer, content_digest, render
from .evidence import Archive, build_evidence
from .target import OpsError

MANIFEST = "manifest.json"
FINGERPRINT_METHOD = (
    "SHA-1 (hex) of the normalised value, as sent to TrustedForm in match_lead: "
    "email trimmed and lower-cased; phone without spaces, dashes, dots and brackets"
)
BRIEF = ("lead_id", "vendor", "vendor_lead_id", "status", "reason", "received_at", "final_at", "cert_id")


@dataclass(frozen=True)
class Spelling:
    """One way a consumer's contact may have been sent, by its shape (never its digits), and what the
    consumer index holds for it."""

    kind: str  # "email" or "phone", as in match_lead
    label: str  # e.g. "10 digits", "+1 and 10 digits (as given)"
    fingerprint: str


# What each usual spelling of a North American number is called (``contacts.phone_spellings`` makes them:
# TrustedForm's normalisation keeps a "+1" or a leading 1, so each is a fingerprint of its own), by what
# comes before its 10 digits.
NANP_LABELS = {"": "10 digits", "1": "1 and 10 digits", "+1": "+1 and 10 digits"}


def spellings(*, email: str | None, phone: str | None) -> list[Spelling]:
    """Every fingerprint `evidence find` searches and `hold set` covers for a contact: the value as given,
    normalised as intake does, then (a North American number) its other usual spellings. Each goes through
    intake's own fingerprinting (``lead_fingerprints``; the consumer index holds each fingerprint's keyed
    token, ``Keyring.consumer``, which the store derives when it looks), here only: the clear values go no
    further."""
    if (email is not None and not normalise_email(email)) or (phone is not None and not normalise_phone(phone)):
        raise OpsError("the email or phone given is empty once normalised: nothing to look for")
    if email is not None:
        return [Spelling("email", "as given", _indexed("email", normalise_email(email)))]
    if phone is None:
        raise OpsError("give --phone or --email")
    given, *others = phone_spellings(phone)
    usual = _nanp_label(given) if others else None
    found = [Spelling("phone", f"{usual} (as given)" if usual else "as given", _indexed("phone", given))]
    return found + [
        Spelling("phone", _nanp_label(spelt) or "another spelling", _indexed("phone", spelt)) for spelt in others
    ]


def _nanp_label(spelt: str) -> str | None:
    """The name of a usual North American spelling (10 digits after "", "1" or "+1"), else None."""
    national, before = spelt[-10:], spelt[:-10]
    return NANP_LABELS.get(before) if len(spelt) >= 10 and national.isdigit() else None


def _indexed(kind: str, value: str) -> str:
    email, phone = (value, None) if kind == "email" else (None, value)
    return lead_fingerprints(email, phone)[kind]


def fingerprint_query(*, email: str | None, phone: str | None) -> dict[str, str]:
    """The fingerprint of the contact as given (the first of its spellings)."""
    first = spellings(email=email, phone=phone)[0]
    return {first.kind: first.fingerprint}


def other_spellings(phone: str | None) -> dict[str, list[str]]:
    """Fingerprints of the same North American number spelt the other usual ways ("+1 512 555 1212",
    "1-512-555-1212" and "(512) 555-1212" are three fingerprints)."""
    if phone is None:
        return {}
    others = spellings(email=None, phone=phone)[1:]
    return {"phone": sorted(spelling.fingerprint for spelling in others)} if others else {}


@dataclass
class Match:
    lead: Lead
    matched_on: list[str] = field(default_factory=list)  # which of the query's fingerprints the lead carries

    def brief(self) -> dict[str, Any]:
        data = self.lead.model_dump(mode="json")
        return {**{name: data.get(name) for name in BRIEF}, "matched_on": self.matched_on}


def find_leads(store: LeadTable, query: dict[str, str], also: dict[str, list[str]] | None = None) -> list[Match]:
    """Every lead carrying any of the query's fingerprints (or ``also``'s: other spellings of the same
    contact), once each, oldest first (Query only)."""
    matches: dict[str, Match] = {}
    searched = [(kind, fingerprint) for kind, fingerprint in query.items()]
    searched += [(kind, fingerprint) for kind, fingerprints in (also or {}).items() for fingerprint in fingerprints]
    for kind, fingerprint in searched:
        for lead in store.index.consumer_leads(kind, fingerprint):
            found = matches.setdefault(lead.lead_id, Match(lead)).matched_on
            if kind not in found:
                found.append(kind)
    return sorted(matches.values(), key=lambda match: (match.lead.received_at, match.lead.lead_id))


def export(
    store: LeadTable,
    query: dict[str, str],
    matches: list[Match],
    directory: Path,
    *,
    signer: Signer | None,
    now: datetime | None = None,
    archive: Archive | None = None,
    also: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """One evidence bundle per lead (the `evidence` command's, signed alike) and a manifest naming each
    file and its digests, written to an empty ``directory``. Returns the manifest."""
    now = now or datetime.now(UTC)
    if directory.exists() and any(directory.iterdir()):
        raise OpsError(f"{directory} is not empty: export into a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    listed = []
    for match in matches:
        document = build_evidence(store, match.lead.lead_id, now=now, archive=archive)
        if signer:
            signer(document)
        name = f"evidence-{match.lead.lead_id}.json"
        text = render(document)
        (directory / name).write_text(text, encoding="utf-8")
        listed.append(
            {
                **match.brief(),
                "file": name,
                "content_sha256": document["content_sha256"],  # what `tf-retainer verify` recomputes
                "file_sha256": hashlib.sha256(text.encode()).hexdigest(),  # what sha256sum prints
                "signed": "signature" in document,
            }
        )
    manifest: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "generated_at": iso(now),
        "generated_by": {"tool": "tf-retainer", "version": __version__},
        "query": {"fingerprints": query, "other_spellings": also or {}, "method": FINGERPRINT_METHOD},
        "leads": listed,
    }
    manifest["content_sha256"] = content_digest(manifest)
    if signer:
        signer(manifest)
    (directory / MANIFEST).write_text(render(manifest), encoding="utf-8")
    return manifest
