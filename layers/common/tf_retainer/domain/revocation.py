"""A consumer's withdrawal of consent, as the revocation ledger keeps it.

The consumer is named only by the consumer index's keyed tokens (``Keyring.consumer`` of the SHA-1
fingerprint of every spelling of the phone, ``contacts.consumer_fingerprints``, and of the email): never in
clear, never as a bare fingerprint (an unkeyed SHA-1 of a phone number is reversed by brute force). A
revocation says when the consumer expressed it, how it came (a STOP text, an email, an agent...), what it
covers (every brand or one, and which contact channels), who recorded it, the raw message where there is one
(evidence: never logged, stored sealed, anchored in each lead's chain by a keyed digest), by when it must be
honoured and when it was.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tf_retainer.domain.contacts import CHANNELS, Channel
from tf_retainer.domain.keyring import Keyring

Via = Literal["sms", "email", "web", "agent", "phone", "mail", "other"]
Role = Literal["vendor", "buyer", "operator"]
ALL_BRANDS = "all"
# The leads a revocation names on its record (the rest are counted): a consumer has a handful.
MAX_LISTED_LEADS = 100


class Recorder(BaseModel):
    """Who recorded a revocation: a vendor (for a consumer of its own leads), the buyer's systems, an operator."""

    model_config = ConfigDict(frozen=True)

    role: Role
    name: str

    @property
    def label(self) -> str:
        return f"{self.role}:{self.name}"


class Scope(BaseModel):
    """What a revocation covers: every brand (``all``) or one brand or advertiser, on some channels."""

    model_config = ConfigDict(frozen=True)

    brand: str = ALL_BRANDS
    channels: tuple[Channel, ...] = CHANNELS


class Notice(BaseModel):
    """What the call gate reads of a revocation, under each of the consumer's tokens."""

    model_config = ConfigDict(frozen=True)

    revocation_id: str
    expressed_at: str
    scope: Scope
    recorded_at: str


class Revocation(BaseModel):
    model_config = ConfigDict(frozen=True)

    revocation_id: str
    client_id: str = Field(description="The recorder's own id for it: recording it again changes nothing.")
    consumer: dict[str, list[str]] = Field(
        description="The consumer index's tokens by kind (email, phone), one per spelling of the phone."
    )
    expressed_at: str
    via: Via
    scope: Scope
    recorded_by: Recorder
    recorded_at: str
    message: str | None = None
    keyword: bool | None = None  # the message is one of the words that revoke consent by themselves
    message_digest: str | None = None  # the message's keyed digest (``message_digest``): what the chains carry
    honor_by: str
    honored_at: str | None = None
    leads: list[str] = Field(default_factory=list)  # the leads it was applied to (the first MAX_LISTED_LEADS)
    lead_count: int = 0
    content_hash: str = ""

    @property
    def notice(self) -> Notice:
        return Notice(
            revocation_id=self.revocation_id,
            expressed_at=self.expressed_at,
            scope=self.scope,
            recorded_at=self.recorded_at,
        )


def consumer_tokens(keyring: Keyring, fingerprints: dict[str, list[str]]) -> dict[str, list[str]]:
    """The consumer index's tokens of a consumer's fingerprints (``contacts.consumer_fingerprints``), by kind,
    in the same order: each spelling of the phone its own token, as intake indexes each lead's."""
    return {
        kind: [keyring.consumer(kind, fingerprint) for fingerprint in found] for kind, found in fingerprints.items()
    }


def lead_tokens(keyring: Keyring, match_lead: dict[str, str]) -> dict[str, str]:
    """The consumer index's token of each of one lead's fingerprints (its ``match_lead``), by kind: what the
    lead is indexed under, and what the ledger is read by for it."""
    return {kind: keyring.consumer(kind, fingerprint) for kind, fingerprint in match_lead.items()}


def message_digest(keyring: Keyring, revocation_id: str, message: str) -> str:
    """What a lead's chain keeps of a revocation's words: keyed, so a short message naming a phone number
    cannot be found again by hashing guesses; with the key, it proves the ledger's copy unaltered."""
    return keyring.token("revocation-message", revocation_id, message)


def revocation_id(recorder: Recorder, client_id: str) -> str:
    """Ours for a recorder's own id: two recorders' ids never meet."""
    return hashlib.sha256(f"{recorder.label}\n{client_id}".encode()).hexdigest()[:32]


def content_hash(consumer: dict[str, list[str]], expressed_at: str, via: str, scope: Scope, message: str | None) -> str:
    """What makes a repeat the same revocation (the same id with other content is a conflict). Over the
    consumer's tokens (keyed): the digest stored with the revocation names no one."""
    document = {
        "consumer": consumer,
        "expressed_at": expressed_at,
        "via": via,
        "scope": scope.model_dump(mode="json"),
        "message": message,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
