"""A lead's state item: what conditions and indexes read, as attributes; the rest packed; nothing that
names a consumer readable without the deployment's consumer key.

One write unit is 1 KB: a lead's state is written at its reservation (in a transaction: twice) and at
every step, so its size is paid many times over. Attributes, by who reads them:

* keys and indexes: ``pk``/``sk``, ``gsi1pk``/``gsi1sk`` (a vendor's leads by date), ``gsi3pk``/``gsi4pk``
  (the consumer indexes: keyed tokens of the email and phone fingerprints, never the fingerprints),
  ``gsi2pk``/``gsi2sk`` (the open index: an open lead's time to be checked), ``ttl``;
* what the conditional writes test: ``status``, ``attempts``, ``applied`` (the last chain entry the state
  reflects), ``lease_until``, ``check_after``; and ``head``, the SHA-256 of entry ``applied`` (the next
  entry's link, and what ``evidence verify`` compares with the chain);
* ``m``: the email and phone SHA-1 fingerprints TrustedForm matches against, sealed (``Keyring.seal``):
  a retry must send them again, nobody else may read them;
* ``s``: the rest of the lead, canonical JSON compressed with a preset dictionary of its field names
  (about 300 bytes for a lead with every answer field set). Not ``b``: that is a chain entry's content,
  which no role may ever update (template.yaml's NoEvidenceEdits);
* others' bookkeeping, left alone here: ``holds``/``held_ttl`` (legal holds), ``archived_to``/``archived_at``.

A state item written before this layout (every field an attribute) is still read.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from tf_retainer.domain.keyring import TOKEN_BYTES, Keyring
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.revocation import lead_tokens
from tf_retainer.store import keys

# The fields kept as attributes: conditions and the sweeper read them without unpacking.
CONDITION_FIELDS = ("status", "attempts", "applied", "lease_until", "check_after")
# Never in the packed body: attributes of their own, or (match_lead) only sealed.
NOT_PACKED = frozenset({*CONDITION_FIELDS, "head", "match_lead"})
FORMAT = 1
# Words every state repeats (field names, statuses, reasons): compression only. Changing it makes format
# 1 bodies unreadable: a new dictionary needs a new format byte.
_DICTIONARY_V1 = (
    b'{"burned_attempts":0,"cert_id":"","cert_kind":"web","certificate_url":"https://cert.trustedform.com/",'
    b'"deadline":"","dropped_fields":[],"expires_at":"","final_at":"","lead":{"utm_source":"","utm_medium":"",'
    b'"utm_campaign":"","sub_id":"","affiliate_id":""},"lead_id":"","lead_match":{"email_match":true,'
    b'"phone_match":true,"success":true},"masked":false,"masked_cert_url":"https://cert.trustedform.com/",'
    b'"next_attempt_at":"","last_pending_reason":"trustedform_unavailable","owner_lead_id":"",'
    b'"payload_hash":"","previously_retained":false,"reason":"certificate_reused","received_at":"",'
    b'"refusal_detail":{},"rule_version":"","rules_passed":true,"shared_with_lead_id":"","tf_operations":3,'
    b'"tf_outcome":"success","tf_reason":"","updated_at":"","vendor":"","vendor_lead_id":"",'
    b'"verdicts":[{"rule":"","mode":"enforce","verdict":"pass"}],"created_at":"","retained":true}'
)


def pack(body: dict[str, Any]) -> bytes:
    content = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, _DICTIONARY_V1)
    return bytes([FORMAT]) + compressor.compress(content) + compressor.flush()


def unpack(blob: bytes) -> dict[str, Any]:
    if not blob or blob[0] != FORMAT:
        raise ValueError(f"unknown lead state format {blob[:1]!r}")
    decompressor = zlib.decompressobj(zlib.MAX_WBITS, _DICTIONARY_V1)
    document: dict[str, Any] = json.loads(decompressor.decompress(blob[1:]) + decompressor.flush())
    return document


class LeadCodec:
    """Lead <-> state item attributes (Python values, before the DynamoDB serializer)."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def attributes(self, lead: Lead) -> dict[str, Any]:
        """Every attribute the lead's state holds (None: not stored, or removed by an update), keys and
        ttl aside. The open index's keys are the caller's (they depend on more than the lead)."""
        body = lead.model_dump(mode="json", exclude_none=True, exclude=set(NOT_PACKED))
        fields = lead.model_dump(mode="json", include=set(CONDITION_FIELDS))
        return {
            **fields,
            "head": bytes.fromhex(lead.head) if lead.head else None,
            "s": pack(body),
        }

    def sealed_match(self, lead: Lead) -> dict[str, bytes]:
        return {kind: self.keyring.seal(lead.lead_id, kind, value) for kind, value in lead.match_lead.items()}

    def consumer_index_keys(self, lead: Lead) -> dict[str, str]:
        """gsi3pk/gsi4pk: keyed tokens of the lead's fingerprints (set once, with the lead)."""
        return keys.contact_index_keys(lead_tokens(self.keyring, lead.match_lead))

    def consumer_tokens(self, item: dict[str, Any]) -> dict[str, str]:
        """The keyed tokens a state item is indexed under (gsi3pk/gsi4pk), by kind: what names the lead's
        consumer to the revocation ledger, read without unsealing anything. An item indexed before the keys
        were tokens holds the bare fingerprint there (40 hex digits, a token has 32): its token is made here."""
        tokens = {}
        for kind, name in keys.CONTACT_INDEX_KEYS.items():
            if not item.get(name):
                continue
            value = keys.contact_token_of(kind, item[name])
            tokens[kind] = value if len(value) == 2 * TOKEN_BYTES else self.keyring.consumer(kind, value)
        return tokens

    def lead(self, item: dict[str, Any], *, with_match: bool = False) -> Lead:
        """The lead a state item holds (deserialized attributes). Its ``match_lead`` only ``with_match`` (for
        whoever sends it to TrustedForm again or compares it): only they need the consumer key."""
        if "s" not in item:  # stored before the packed layout
            lead = Lead.model_validate(item)
            return lead if with_match else lead.model_copy(update={"match_lead": {}})
        fields = {name: item[name] for name in CONDITION_FIELDS if name in item}
        match: dict[str, str] = {}
        if with_match:
            lead_id = keys.lead_id_of(item["pk"])
            sealed = item.get("m") or {}
            match = {kind: self.keyring.unseal(lead_id, kind, bytes(value)) for kind, value in sealed.items()}
        head = bytes(item["head"]).hex() if "head" in item else None
        return Lead.model_validate({**unpack(bytes(item["s"])), **fields, "head": head, "match_lead": match})
