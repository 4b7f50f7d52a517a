"""The FCC Reassigned Numbers Database rule the DNC.com and Twilio simulators both answer from.

The RND answers, for a number and a date (the day consent was given), whether the number has been
permanently disconnected since: yes, no, or no data. Its data starts on 27 January 2021, so a date before
that has no answer. A subject's fact ``reassigned_on`` (an ISO date or None) is when the number was
permanently disconnected (and so open to reassignment); ``rnd_no_data`` forces "no data" whatever the
date (a number the database does not cover).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

RND_DATA_START = date(2021, 1, 27)


def parse_date(value: str, formats: tuple[str, ...]) -> date:
    """The date in one of ``formats`` (strptime); ValueError otherwise."""
    for fmt in formats:
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date in {', '.join(formats)}")


def is_iso_date_or_none(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, str) and bool(date.fromisoformat(value))
    except ValueError:
        return False


def reassigned_since(
    consent: date, reassigned_on: str | None, *, no_data: bool = False, data_start: date = RND_DATA_START
) -> bool | None:
    """True when the number was disconnected on or after the consent date (consent given that day may
    have come from the previous subscriber: the safe answer is yes), False when not, None without data."""
    if no_data or consent < data_start:
        return None
    return reassigned_on is not None and date.fromisoformat(reassigned_on) >= consent
