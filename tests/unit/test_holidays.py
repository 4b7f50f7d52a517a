"""US federal holidays by rule, against OPM's published lists, and honor_by (10 business days)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from tf_retainer.decisions.holidays import add_business_days, honor_by, is_business_day, observed_holidays

EASTERN = ZoneInfo("America/New_York")

# https://www.opm.gov/policy-data-oversight/pay-leave/federal-holidays/ (observed dates; a Saturday holiday is
# observed on the Friday before, a Sunday one on the Monday after; 1 January 2028, a Saturday, on 31 December 2027).
OPM = {
    2025: ["01-01", "01-20", "02-17", "05-26", "06-19", "07-04", "09-01", "10-13", "11-11", "11-27", "12-25"],
    2026: ["01-01", "01-19", "02-16", "05-25", "06-19", "07-03", "09-07", "10-12", "11-11", "11-26", "12-25"],
    2027: ["01-01", "01-18", "02-15", "05-31", "06-18", "07-05", "09-06", "10-11", "11-11", "11-25", "12-24", "12-31"],
}


@pytest.mark.parametrize("year", sorted(OPM))
def test_the_computed_holidays_are_opms(year):
    assert [f"{day:%m-%d}" for day in observed_holidays(year)] == OPM[year]


def test_juneteenth_is_a_holiday_from_2021_and_2022_lost_new_years_day_to_2021():
    assert date(2021, 6, 18) in observed_holidays(2021) and date(2020, 6, 19) not in observed_holidays(2020)
    assert date(2021, 12, 31) in observed_holidays(2021) and date(2022, 1, 1) not in observed_holidays(2022)


def test_business_days_skip_weekends_and_observed_holidays():
    assert not is_business_day(date(2026, 7, 3))  # Independence Day observed (4 July is a Saturday)
    assert not is_business_day(date(2026, 7, 4)) and is_business_day(date(2026, 7, 6))
    assert add_business_days(date(2026, 7, 2), 1) == date(2026, 7, 6)


def test_honor_by_counts_ten_business_days_after_the_day_of_expression_across_holidays():
    # Friday 19 December 2025: Christmas (25th) and New Year's Day are skipped; the tenth is Tuesday 6 January.
    assert honor_by(datetime(2025, 12, 19, 15, 0, tzinfo=EASTERN)) == datetime(2026, 1, 7, 0, 0, tzinfo=EASTERN)
    # The hour of expression does not matter: the day itself never counts.
    assert honor_by(datetime(2025, 12, 19, 0, 1, tzinfo=EASTERN)) == honor_by(
        datetime(2025, 12, 19, 23, 59, tzinfo=EASTERN)
    )
    # Expressed on a Saturday before Thanksgiving: 24, 25, 26, 28 November, 1-5 and 8 December.
    assert honor_by(datetime(2025, 11, 22, 10, 0, tzinfo=EASTERN)) == datetime(2025, 12, 9, 0, 0, tzinfo=EASTERN)


def test_honor_by_keeps_the_time_zone_of_expression_and_wants_an_aware_time():
    utc = honor_by(datetime(2026, 5, 12, 2, 0, tzinfo=UTC))  # still 11 May in New York, 12 May in UTC
    assert utc == datetime(2026, 5, 28, 0, 0, tzinfo=UTC)  # 13-15, 18-22, 26, 27 May (25th: Memorial Day)
    assert honor_by(datetime(2026, 5, 11, 22, 0, tzinfo=EASTERN)) == datetime(2026, 5, 27, 0, 0, tzinfo=EASTERN)
    with pytest.raises(ValueError, match="aware"):
        honor_by(datetime(2026, 5, 12, 2, 0))
