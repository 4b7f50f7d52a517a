"""A consumer's contact details as the service keeps them: normalised, then fingerprinted.

The fingerprint is SHA-1 of the normalised value, the form TrustedForm's lead matching accepts, so an
email or phone number never leaves (or is stored) in clear. Pseudonymous, not anonymous: a phone
number's fingerprint can be reversed by brute force.
"""

from __future__ import annotations

import hashlib
from typing import Literal

# How a consumer is contacted (the call gate, contact reports, a revocation's scope).
Channel = Literal["call", "text", "email"]
CHANNELS: tuple[Channel, ...] = ("call", "text", "email")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    return "".join(ch for ch in phone if ch not in " -.()[]")


def sha1_hex(value: str) -> str:
    # SHA-1 is what TrustedForm's lead matching accepts, not a security control.
    return hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()


def lead_fingerprints(email: str | None, phone: str | None) -> dict[str, str]:
    """match_lead values: SHA-1 of the normalised email/phone, so no contact detail leaves in clear."""
    fingerprints = {}
    if email:
        fingerprints["email"] = sha1_hex(normalise_email(email))
    if phone:
        fingerprints["phone"] = sha1_hex(normalise_phone(phone))
    return fingerprints


def phone_spellings(phone: str) -> list[str]:
    """The normalised spellings of one North American number a vendor may have sent, the given one first:
    TrustedForm's rule keeps a "+1" or a leading 1, so "+1 512 555 1212", "1-512-555-1212" and
    "(512) 555-1212" are three fingerprints. Any other number: its own spelling only."""
    normalised = normalise_phone(phone)
    digits = "".join(ch for ch in normalised if ch.isdigit())
    national = digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
    if len(national) != 10:
        return [normalised]
    return list(dict.fromkeys([normalised, national, "1" + national, "+1" + national]))


def consumer_fingerprints(email: str | None, phone: str | None) -> dict[str, list[str]]:
    """Every fingerprint a consumer's leads may carry (``lead_fingerprints`` of each spelling of the phone),
    by kind, the given spelling's first: what finds all of a consumer's leads, whoever spelt the number."""
    found: dict[str, list[str]] = {}
    if email and normalise_email(email):
        found["email"] = [lead_fingerprints(email, None)["email"]]
    if phone and normalise_phone(phone):
        found["phone"] = [lead_fingerprints(None, spelling)["phone"] for spelling in phone_spellings(phone)]
    return found
