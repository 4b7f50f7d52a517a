"""The table's key layout: the only place that spells a partition or sort key.

| item             | pk                                  | sk                               |
|------------------|-------------------------------------|----------------------------------|
| lead state       | LEAD#<lead id>                      | STATE                            |
| evidence entry   | LEAD#<lead id>                      | ENTRY#<n, 6 digits>              |
| certificate claim| CERT#<cert id>                      | CLAIM                            |
| LeadiD token claim| LEADID#<token> (a lead without a certificate) | CLAIM                   |
| vendor key       | VENDORKEY#<sha256 of key>           | VENDOR                           |
| vendor callback  | VENDORCALLBACK#<vendor>             | CALLBACK                         |
| rule set         | RULES#<vendor or *>                 | ACTIVE, and V#<version> (each)   |
| screen result    | SCREEN#<screen>#<number key>[#<date>]| RESULT                           |

Four indexes:
- gsi1 (VENDOR#<vendor> / <received at>#<lead id>), KEYS_ONLY, on every lead state: a vendor's leads by
  date (keys only: the state's updates never write it; readers get the states with BatchGetItem);
- gsi2, sparse: open leads with a step recorded (OPEN#<shard> / <check after>#<lead id>), so the sweeper
  finds the overdue ones with a query, and vendor keys (VENDORKEYS / <vendor>#<key hash>), so listing
  vendors needs no Scan. A lead enters gsi2 with its first step (pending, or requeued) and leaves it when it
  becomes final: a lead kept or refused at once never enters it (issue 22: two write units a lead). A lead
  still as it was reserved is found by the sweeper through gsi1, from the received-leads watermark
  (SWEEP#RECEIVED / MARK: up to when every such lead was looked at).
- gsi3 (EMAIL#<token> / gsi1sk) and gsi4 (PHONE#<token> / gsi1sk), KEYS_ONLY, on lead states with that
  contact: a consumer's leads, any vendor. The token is keyed (``Keyring.consumer``: HMAC of the SHA-1
  fingerprint under the deployment's consumer key), so the index names no one to a reader of the table.
  Set once with the lead, never changed.

A vendor's own lead id has no item: it names the lead (``Keyring.vendor_lead``).
"""

from __future__ import annotations

import hashlib
from typing import Any

STATE = "STATE"
CLAIM = "CLAIM"
VENDOR = "VENDOR"
EVENT_PREFIX = "EVENT#"  # a vendor key's events
ENTRY_PREFIX = "ENTRY#"  # a lead's evidence chain: its history events and raw exchanges
VENDOR_KEY_PREFIX = "VENDORKEY#"
VENDOR_CALLBACK_PREFIX = "VENDORCALLBACK#"
CALLBACK = "CALLBACK"
VENDOR_INDEX = "gsi1"
LIST_INDEX = "gsi2"
# Open leads are spread over a few partitions of gsi2 (a busy day's writes stay under one partition's
# limit each); the sweeper queries every shard.
OPEN_SHARDS = 4
VENDOR_KEYS_LIST = "VENDORKEYS"
# The consumer indexes: one per kind of contact fingerprint in a lead's match_lead (a GSI key holds one
# value, and a lead may carry both). KEYS_ONLY and keyed on values that never change, so a lead's later
# updates write nothing to them.
CONTACT_INDEXES = {"email": "gsi3", "phone": "gsi4"}
CONTACT_INDEX_KEYS = {"email": "gsi3pk", "phone": "gsi4pk"}
# Storage bookkeeping on items, never evidence.
BOOKKEEPING = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi4pk", "ttl"})


def lead_pk(lead_id: str) -> str:
    return f"LEAD#{lead_id}"


def lead_id_of(pk: str) -> str:
    """The lead id in a lead's partition key (what a KEYS_ONLY index returns)."""
    return pk.removeprefix("LEAD#")


def cert_pk(cert_id: str) -> str:
    return f"CERT#{cert_id}"


def leadid_pk(token: str) -> str:
    return f"LEADID#{token}"


def claim_pk(cert_id: str | None, leadid_token: str | None = None) -> str:
    """The claim a lead holds: its certificate's; a lead without one (kept on its LeadiD token alone), its
    token's: one lead per certificate, one lead per token."""
    if cert_id is not None:
        return cert_pk(cert_id)
    if leadid_token is None:
        raise ValueError("a lead carries a certificate or a LeadiD token")
    return leadid_pk(leadid_token)


def vendor_index_pk(vendor: str) -> str:
    return f"VENDOR#{vendor}"


def vendor_index_sk(received_at: str, lead_id: str) -> str:
    return f"{received_at}#{lead_id}"


def contact_index_pk(kind: str, token: str) -> str:
    """The consumer index key of one contact's keyed token (``kind``: "email" or "phone")."""
    return f"{kind.upper()}#{token}"


def contact_token_of(kind: str, index_pk: str) -> str:
    """The token in a consumer index key (``contact_index_pk``)."""
    return index_pk.removeprefix(f"{kind.upper()}#")


def contact_index_keys(tokens: dict[str, str]) -> dict[str, str]:
    """The consumer index keys of a lead: one per contact token it carries (sorted by gsi1sk, its date)."""
    return {
        CONTACT_INDEX_KEYS[kind]: contact_index_pk(kind, token)
        for kind, token in tokens.items()
        if kind in CONTACT_INDEX_KEYS and token
    }


def open_shards() -> list[str]:
    return [f"OPEN#{shard}" for shard in range(OPEN_SHARDS)]


# The sweeper's watermark over the vendor index: every lead received before it was looked at.
RECEIVED_MARK = ("SWEEP#RECEIVED", "MARK")


def open_index_keys(lead_id: str, check_after: str | None) -> dict[str, str | None]:
    """gsi2 keys of a lead: set while it is open and has a time to be checked, None (removed) otherwise."""
    if check_after is None:
        return {"gsi2pk": None, "gsi2sk": None}
    shard = int(hashlib.sha256(lead_id.encode()).hexdigest(), 16) % OPEN_SHARDS
    return {"gsi2pk": f"OPEN#{shard}", "gsi2sk": f"{check_after}#{lead_id}"}


ACTIVE = "ACTIVE"


def rules_pk(scope: str) -> str:
    return f"RULES#{scope}"


RULES_VERSION_PREFIX = "V#"


def rules_version_sk(version: int) -> str:
    return f"{RULES_VERSION_PREFIX}{version:06d}"


def key_hash(api_key: str) -> str:
    """What identifies a vendor key in the table (the key itself is never stored)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def vendor_key_pk(digest: str) -> str:
    return VENDOR_KEY_PREFIX + digest


def vendor_callback_pk(vendor: str) -> str:
    return VENDOR_CALLBACK_PREFIX + vendor


def event_sk(stamp: str, seq: int, writer: str) -> str:
    """Time, then the writer's own sequence (events of one transaction keep their order), then the
    writer: two containers writing at the same microsecond never share a key (a Put would replace)."""
    return f"{EVENT_PREFIX}{stamp}#{seq:06d}#{writer}"


def entry_sk(seq: int) -> str:
    return f"{ENTRY_PREFIX}{seq:06d}"


def entry_seq(sk: str) -> int:
    return int(sk.removeprefix(ENTRY_PREFIX))


def key(pk: str, sk: str) -> dict[str, str]:
    return {"pk": pk, "sk": sk}


def is_state(item: dict[str, Any]) -> bool:
    return item.get("sk") == STATE


def is_claim(item: dict[str, Any]) -> bool:
    return item.get("sk") == CLAIM


def is_event(item: dict[str, Any]) -> bool:
    return str(item.get("sk", "")).startswith(EVENT_PREFIX)


def is_entry(item: dict[str, Any]) -> bool:
    return str(item.get("sk", "")).startswith(ENTRY_PREFIX)


def without_bookkeeping(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in BOOKKEEPING}


# --- legal holds (store/holds.py) -------------------------------------------------------------
# A hold is HOLD#<hold id> / HOLD; each lead it covers is HOLD#<hold id> / LEAD#<lead id>. Active holds
# are listed in gsi2 (HOLDS / <set at>#<hold id>), like vendor keys: a released hold leaves the list.
# On a held lead's items, `holds` (the ids of the holds covering the item) and `held_ttl` (the expiry
# the item had, restored at release) are storage bookkeeping, never evidence.
HOLD = "HOLD"
HOLDS_LIST = "HOLDS"
HOLD_ATTRIBUTES = frozenset({"holds", "held_ttl"})
BOOKKEEPING = BOOKKEEPING | HOLD_ATTRIBUTES


def hold_pk(hold_id: str) -> str:
    return f"HOLD#{hold_id}"


def hold_member_sk(lead_id: str) -> str:
    return lead_pk(lead_id)


def hold_list_keys(set_at: str, hold_id: str) -> dict[str, str]:
    return {"gsi2pk": HOLDS_LIST, "gsi2sk": f"{set_at}#{hold_id}"}


# --- screen results (store/screen_results.py) -------------------------------------------------------
# The last answer about a number, shared by every lead that carries it: SCREEN#<screen>#<number key>
# (#<consent date> for a reassigned-number check) / RESULT, with the lease of whoever is asking now.
SCREEN_RESULT = "RESULT"


def screen_result_pk(screen: str, number_key: str, consent_date: str | None) -> str:
    return f"SCREEN#{screen}#{number_key}" + (f"#{consent_date}" if consent_date else "")


# --- consent (store/revocations.py, store/calling_rules.py) -------------------------------------
# A revocation is REVOCATION#<id> / REVOCATION, listed in gsi2 by the time it was recorded (REVOCATIONS#OPEN
# until it is honoured, then REVOCATIONS#HONOURED). Under each token of its consumer, the notice the call gate
# reads: REVOKED#<that token's consumer index key> / <expressed at>#<id>, so a lead's revocations are one
# strongly consistent Query per contact, under the same keyed tokens as the consumer index.
REVOCATION = "REVOCATION"
REVOCATIONS_OPEN = "REVOCATIONS#OPEN"
REVOCATIONS_HONOURED = "REVOCATIONS#HONOURED"
# The buyer's calling override (the law of the hour): CALLING / ACTIVE, and V#<version> for each version.
CALLING_RULES = "CALLING"


def revocation_pk(revocation_id: str) -> str:
    return f"REVOCATION#{revocation_id}"


def revoked_pk(kind: str, token: str) -> str:
    return f"REVOKED#{contact_index_pk(kind, token)}"


def revoked_sk(expressed_at: str, revocation_id: str) -> str:
    return f"{expressed_at}#{revocation_id}"


def revocation_list_keys(recorded_at: str, revocation_id: str, *, honoured: bool) -> dict[str, str]:
    return {
        "gsi2pk": REVOCATIONS_HONOURED if honoured else REVOCATIONS_OPEN,
        "gsi2sk": f"{recorded_at}#{revocation_id}",
    }
