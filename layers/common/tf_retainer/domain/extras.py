"""What is kept of a vendor's extra lead fields: the buyer's allow-list in clear unless a value is shaped
like personal data, contact details only as the consumer key's tokens, nothing else.

* a contact-like name (``Email``, ``phone_number``, ``mobile``, ...): its value normalised as intake
  normalises the lead's own email and phone, then concealed (intake passes the keyring's consumer token:
  the same name the consumer index gives that contact, never the reversible SHA-1);
* an allow-listed name: kept as sent, unless the value holds an email, a card number, an SSN or a phone
  number (``personal_data.kind_of``): then the value is dropped, as any other field's is;
* anything else dropped: its name recorded only when it is a plain identifier that is not itself personal
  data (``personal_data.safe_name``); the others are counted in one ``(N unnamed)`` entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tf_retainer.domain import personal_data
from tf_retainer.domain.contacts import normalise_email, normalise_phone

# Field names that carry an email address or a phone number (compared lower-case, letters and digits only).
EMAIL_NAMES = frozenset({"email", "emailaddress", "mail", "email2", "altemail"})
PHONE_NAMES = frozenset(
    {"phone", "phonenumber", "phone1", "phone2", "mobile", "mobilephone", "cell", "cellphone", "telephone"}
    | {"tel", "homephone", "workphone", "altphone"}
)
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
CONCEALED_PREFIX = "token:"  # a contact as the consumer index names it

# (kind "email" | "phone", the normalised value) -> what is stored for it
Conceal = Callable[[str, str], str]


@dataclass
class ScreenedExtras:
    kept: dict[str, Any] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def screen(extras: dict[str, Any], allowed: tuple[str, ...], conceal: Conceal) -> ScreenedExtras:
    allowed_names = {name.lower() for name in allowed}
    screened = ScreenedExtras()
    unnamed = 0
    for name, value in extras.items():
        plain = _NOT_ALNUM.sub("", name.lower())
        if plain in EMAIL_NAMES or plain in PHONE_NAMES:
            kind, normalise = ("email", normalise_email) if plain in EMAIL_NAMES else ("phone", normalise_phone)
            screened.kept[name] = conceal(kind, normalise(str(value))) if value not in (None, "") else None
        elif name.lower() in allowed_names and personal_data.kind_of(value) is None:
            screened.kept[name] = value
        elif personal_data.safe_name(name):
            screened.dropped.append(name)
        else:
            unnamed += 1
    screened.dropped.sort()
    if unnamed:
        screened.dropped.append(f"({unnamed} unnamed)")
    return screened
