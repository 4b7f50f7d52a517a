"""US federal holidays, computed by rule (never a table that runs out), business days, and the date by which a
consumer's revocation of consent must be honoured.

The holidays are the eleven of 5 U.S.C. 6103(a) (https://www.law.cornell.edu/uscode/text/5/6103). A holiday on
a Saturday is observed on the Friday before (5 U.S.C. 6103(b)), one on a Sunday on the Monday after (Executive
Order 11582, section 3(a)), as OPM publishes them
(https://www.opm.gov/policy-data-oversight/pay-leave/federal-holidays/). Days an Executive Order closes offices
once (e.g. 24 and 26 December 2025) are not statutory holidays and are not included: counting them as
business days can only make a deadline earlier, never later.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

# FCC: 47 CFR 64.1200(a)(10) as amended by the Report and Order FCC 24-24 (in force 11 April 2025).
REVOCATION_SOURCE = "https://www.law.cornell.edu/cfr/text/47/64.1200"
REVOCATION_BUSINESS_DAYS = 10


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th given weekday (Monday 0) of a month; n = -1 for the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = (date(year, month + 1, 1) if month < 12 else date(year + 1, 1, 1)) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    if day.weekday() == 5:  # Saturday: the Friday before
        return day - timedelta(days=1)
    if day.weekday() == 6:  # Sunday: the Monday after
        return day + timedelta(days=1)
    return day


def _actual(year: int) -> dict[str, date]:
    """Each holiday's own date in a year (before any weekend shift)."""
    monday, thursday = 0, 3
    return {
        "New Year's Day": date(year, 1, 1),
        "Birthday of Martin Luther King, Jr.": _nth_weekday(year, 1, monday, 3),
        "Washington's Birthday": _nth_weekday(year, 2, monday, 3),
        "Memorial Day": _nth_weekday(year, 5, monday, -1),
        # Juneteenth National Independence Day: a federal holiday since 17 June 2021.
        **({"Juneteenth National Independence Day": date(year, 6, 19)} if year >= 2021 else {}),
        "Independence Day": date(year, 7, 4),
        "Labor Day": _nth_weekday(year, 9, monday, 1),
        "Columbus Day": _nth_weekday(year, 10, monday, 2),
        "Veterans Day": date(year, 11, 11),
        "Thanksgiving Day": _nth_weekday(year, 11, thursday, 4),
        "Christmas Day": date(year, 12, 25),
    }


@lru_cache(maxsize=64)
def observed_holidays(year: int) -> dict[date, str]:
    """The days federal offices close in a calendar year, as OPM lists them. New Year's Day of the next year,
    when it falls on a Saturday, is observed on 31 December of this one (e.g. Friday 31 December 2027)."""
    found = {_observed(day): name for name, day in _actual(year).items() if _observed(day).year == year}
    following = _observed(date(year + 1, 1, 1))
    if following.year == year:
        found[following] = "New Year's Day"
    return dict(sorted(found.items()))


def is_federal_holiday(day: date) -> bool:
    """An observed federal holiday (the day offices close)."""
    return day in observed_holidays(day.year)


def is_holiday_either_way(day: date) -> bool:
    """The holiday's own date or its observed day: for no-call rules, both are kept free of calls."""
    return is_federal_holiday(day) or day in _actual(day.year).values()


def is_business_day(day: date) -> bool:
    """Monday to Friday, and not an observed US federal holiday."""
    return day.weekday() < 5 and not is_federal_holiday(day)


def add_business_days(start: date, count: int) -> date:
    """The ``count``-th business day after ``start`` (``start`` itself never counts)."""
    day, left = start, count
    while left > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            left -= 1
    return day


def honor_by(expressed_at: datetime) -> datetime:
    """When a revocation of consent expressed at ``expressed_at`` must be in force (an exclusive bound).

    The FCC's rule (47 CFR 64.1200(a)(10), as amended by FCC 24-24, in force 11 April 2025;
    https://www.law.cornell.edu/cfr/text/47/64.1200) requires a revocation to be honoured within a reasonable
    time not exceeding ten business days from its receipt. Counted here as a deadline is under Federal Rule
    of Civil Procedure 6(a)(1): the day of expression (the calendar date of ``expressed_at`` in its own time
    zone) is day zero and never counts, whatever the hour and whether or not it is a business day; days one
    to ten are the next ten business days (Monday to Friday, less observed US federal holidays); the deadline
    is the end of the tenth. The answer is the first instant after it: midnight starting the next calendar day,
    in ``expressed_at``'s time zone. A revocation honoured before that instant is on time.

    Example: expressed on Friday 19 December 2025 at 15:00 (Christmas, Thursday 25 December, is a holiday):
    the ten business days are 22, 23, 24, 26, 29, 30, 31 December, 2, 5 and 6 January; ``honor_by`` is
    Wednesday 7 January 2026 at 00:00.
    """
    if expressed_at.tzinfo is None or expressed_at.utcoffset() is None:
        raise ValueError("expressed_at must be an aware datetime")
    tenth = add_business_days(expressed_at.date(), REVOCATION_BUSINESS_DAYS)
    return datetime.combine(tenth + timedelta(days=1), time(0), tzinfo=expressed_at.tzinfo)
