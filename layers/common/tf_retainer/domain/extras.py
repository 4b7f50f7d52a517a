"""What is kept of a vendor's extra lead fields: the buyer's allow-list in clear, contact details only
as fingerprints, nothing else (the names of dropped fields are kept, never their values).

Contact details are stored only as SHA-1 fingerprints, the form TrustedForm matches on. They are
pseudonymous, not anonymous: a phone number's fingerprint is reversible by brute force in hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tf_retainer.domain.contacts import normalise_email, normalise_phone, sha1_hex

# Field names that carry an email address or a phone number (compared lower-case, letters and digits only).
EMAIL_NAMES = frozenset({"email", "emailaddress", "mail", "email2", "altemail"})
PHONE_NAMES = frozenset(
    {"phone", "phonenumber", "phone1", "phone2", "mobile", "mobilephone", "cell", "cellphone", "telephone"}
    | {"tel", "homephone", "workphone", "altphone"}
)
FINGERPRINT_PREFIX = "sha1:"
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


@dataclass
class ScreenedExtras:
    kept: dict[str, Any] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def screen(extras: dict[str, Any], allowed: tuple[str, ...]) -> ScreenedExtras:
    """Allowed names (case-insensitive) kept as sent; contact-like names fingerprinted; the rest dropped."""
    allowed_names = {name.lower() for name in allowed}
    screened = ScreenedExtras()
    for name, value in extras.items():
        plain = _NOT_ALNUM.sub("", name.lower())
        if plain in EMAIL_NAMES or plain in PHONE_NAMES:
            normalise = normalise_email if plain in EMAIL_NAMES else normalise_phone
            screened.kept[name] = (
                FINGERPRINT_PREFIX + sha1_hex(normalise(str(value))) if value not in (None, "") else None
            )
        elif name.lower() in allowed_names:
            screened.kept[name] = value
        else:
            screened.dropped.append(name)
    screened.dropped.sort()
    return screened
