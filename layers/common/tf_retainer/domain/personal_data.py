"""Values shaped like personal data, whatever the field they came in: an email address, a payment card
number (13 to 19 digits that pass the Luhn check), a US Social Security number (ddd-dd-dddd), a North
American phone number. A vendor's `utm_source` can hold an email as easily as its `email` field can."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)")
# A field name kept when its field is dropped: a plain identifier, nothing a value could hide in.
_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-\[\]]{0,63}")


def kind_of(value: object) -> str | None:
    """ "email", "card", "ssn" or "phone" when the value (a string or an integer) holds one, else None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    if _EMAIL.search(text):
        return "email"
    if any(_luhn(re.sub(r"[ -]", "", found.group())) for found in _CARD.finditer(text)):
        return "card"
    if _SSN.search(text):
        return "ssn"
    if _PHONE.search(text):
        return "phone"
    return None


def safe_name(name: str) -> bool:
    """Whether a field's name may be recorded: an identifier that is not itself personal data."""
    return _SAFE_NAME.fullmatch(name) is not None and kind_of(name) is None


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
