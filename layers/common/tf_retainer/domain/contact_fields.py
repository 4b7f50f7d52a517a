"""A consumer's email and phone as the API takes them (a lead, a revocation): one shape check each, and an
empty value taken as not given."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StrictStr

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_PHONE_ALLOWED = re.compile(r"[0-9+()\-. ]+")
MIN_PHONE_DIGITS = 7


def _email(value: str | None) -> str | None:
    if value and not _EMAIL.fullmatch(value):
        raise ValueError("not an email address")
    return value or None


def _phone(value: str | None) -> str | None:
    if value and (not _PHONE_ALLOWED.fullmatch(value) or sum(c.isdigit() for c in value) < MIN_PHONE_DIGITS):
        raise ValueError("not a phone number")
    return value or None


# Optional fields: give them ``Field(default=None, max_length=...)``.
EmailAddress = Annotated[StrictStr | None, AfterValidator(_email)]
PhoneNumber = Annotated[StrictStr | None, AfterValidator(_phone)]
