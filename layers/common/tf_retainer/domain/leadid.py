"""A Jornaya LeadiD token: the lead's second consent record, beside its TrustedForm certificate.

Jornaya's script puts the token in the form field ``universal_leadid`` (its input's id is ``leadid_token``);
vendors post it under either name. It is "36 Character LeadiD token" in Jornaya's words: a UUID, upper
case in every example. Only that shape is taken (nothing else is sent to Jornaya under our account), kept
upper case: the spelling the audit answers with and the one a lead's history shows.
"""

from __future__ import annotations

import re
from typing import Any

# The field names vendors send the token under, the form field first (the name the model keeps it under).
TOKEN_FIELDS = ("universal_leadid", "leadid_token")
_TOKEN = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


class InvalidLeadidToken(ValueError):
    """Not a LeadiD token: the message says why, for the vendor."""


def parse_leadid_token(raw: str) -> str:
    """The token as kept (upper case), or InvalidLeadidToken."""
    token = raw.strip()
    if not _TOKEN.fullmatch(token):
        raise InvalidLeadidToken("not a LeadiD token: 36 characters, a UUID (8-4-4-4-12 hexadecimal digits)")
    return token.upper()


def one_token_field(data: Any) -> Any:
    """The token under the name the model keeps (``leadid_token`` is the name of Jornaya's input element);
    both names with different tokens is a contradiction, refused rather than resolved by guessing."""
    if not isinstance(data, dict) or TOKEN_FIELDS[1] not in data:
        return data
    data = dict(data)
    other = data.pop(TOKEN_FIELDS[1])
    given = data.get(TOKEN_FIELDS[0])
    if given not in (None, "") and isinstance(given, str) and isinstance(other, str):
        if given.strip().upper() != other.strip().upper():
            raise ValueError("universal_leadid and leadid_token name different tokens")
    elif other not in (None, ""):
        data[TOKEN_FIELDS[0]] = other
    return data
