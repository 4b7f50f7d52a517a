"""A consumer's contact details as the service keeps them: normalised, then fingerprinted.

The fingerprint is SHA-1 of the normalised value, the form TrustedForm's lead matching accepts, so an
email or phone number never leaves (or is stored) in clear. Pseudonymous, not anonymous: a phone
number's fingerprint can be reversed by brute force.
"""

from __future__ import annotations

import hashlib


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
