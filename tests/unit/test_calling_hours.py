"""The law of the hour (decisions/contact.py): calling windows at their edges, zones, DST, Sundays, holidays,
frequency caps, modes, overrides and unknown locations. Fixed clocks, no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tf_retainer.decisions.backtest import HistoricContact, backtest
from tf_retainer.decisions.calling import Channel, RulesRefused, default_rules, parse_override
from tf_retainer.decisions.contact import ContactReason, ContactVerdict, PastContact, check_contact
from tf_retainer.decisions.location import Location, locate

EASTERN, CENTRAL = ZoneInfo("America/New_York"), ZoneInfo("America/Chicago")
RULES = default_rules()
NEW_YORK = locate("NY", "10001", None)
MIAMI = locate("FL", "33101", None)
HOUSTON = locate("TX", "77002", None)
BIRMINGHAM = locate("AL", "35203", None)


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def check(location: Location | None, now: datetime, channel: str = "call", contacts=(), rules=RULES) -> ContactVerdict:
    return check_contact(rules, location, now, channel, list(contacts))  # type: ignore[arg-type]


def refused(verdict: ContactVerdict, reason: ContactReason, next_allowed_at: datetime) -> None:
    assert not verdict.allowed
    assert verdict.reason is reason
    assert verdict.next_allowed_at == next_allowed_at


def test_the_federal_window_ends_at_nine_local():
    assert check(NEW_YORK, at(EASTERN, 2026, 5, 12, 20, 59)).allowed
    refused(
        check(NEW_YORK, at(EASTERN, 2026, 5, 12, 21, 0)),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(EASTERN, 2026, 5, 13, 8, 0),
    )
    assert check(NEW_YORK, at(EASTERN, 2026, 5, 12, 8, 0)).allowed
    refused(
        check(NEW_YORK, at(EASTERN, 2026, 5, 12, 7, 59)),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(EASTERN, 2026, 5, 12, 8, 0),
    )


def test_the_window_is_the_called_partys_local_time_whatever_the_clocks_zone():
    # 00:59 UTC on 13 May is 20:59 in New York; 01:00 UTC is 21:00.
    assert check(NEW_YORK, datetime(2026, 5, 13, 0, 59, tzinfo=UTC)).allowed
    verdict = check(NEW_YORK, datetime(2026, 5, 13, 1, 0, tzinfo=UTC))
    refused(verdict, ContactReason.OUTSIDE_CALLING_HOURS, datetime(2026, 5, 13, 12, 0, tzinfo=UTC))
    assert verdict.next_allowed_at is not None and verdict.next_allowed_at.tzinfo == UTC


def test_a_florida_lead_at_eight_in_the_evening_is_refused():
    assert check(MIAMI, at(EASTERN, 2026, 5, 12, 19, 59)).allowed
    verdict = check(MIAMI, at(EASTERN, 2026, 5, 12, 20, 0))
    refused(verdict, ContactReason.OUTSIDE_CALLING_HOURS, at(EASTERN, 2026, 5, 13, 8, 0))
    failed = [v for v in verdict.verdicts if not v.passed]
    assert [v.rule for v in failed] == ["FL.hours"] and failed[0].source.startswith("https://")
    assert {v.rule for v in verdict.verdicts if v.passed} == {"federal.hours", "FL.cap"}


def test_a_texas_sunday_opens_at_noon_and_a_texas_weekday_at_nine():
    sunday = (2026, 3, 15)
    refused(
        check(HOUSTON, at(CENTRAL, *sunday, 11, 59)), ContactReason.OUTSIDE_CALLING_HOURS, at(CENTRAL, *sunday, 12, 0)
    )
    assert check(HOUSTON, at(CENTRAL, *sunday, 12, 0)).allowed
    refused(
        check(HOUSTON, at(CENTRAL, 2026, 3, 16, 8, 59)),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(CENTRAL, 2026, 3, 16, 9, 0),
    )
    # Saturday night after nine: Sunday's window, not the weekday one, is the next.
    refused(
        check(HOUSTON, at(CENTRAL, 2026, 3, 14, 21, 0)),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(CENTRAL, *sunday, 12, 0),
    )


def test_an_area_code_spanning_two_zones_allows_only_what_both_allow():
    kentucky = locate(None, None, "(270) 555-0100")  # Eastern and Central
    assert kentucky is not None and set(kentucky.zones) == {"America/New_York", "America/Chicago"}
    # 08:30 Eastern is 07:30 Central: wait for 08:00 Central.
    refused(
        check(kentucky, at(EASTERN, 2026, 5, 12, 8, 30)),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(EASTERN, 2026, 5, 12, 9, 0),
    )
    assert check(kentucky, at(EASTERN, 2026, 5, 12, 9, 0)).allowed
    # 21:00 Eastern is 20:00 Central: closed in the Eastern part.
    assert check(kentucky, at(EASTERN, 2026, 5, 12, 20, 59)).allowed
    verdict = check(kentucky, at(EASTERN, 2026, 5, 12, 21, 0))
    refused(verdict, ContactReason.OUTSIDE_CALLING_HOURS, at(EASTERN, 2026, 5, 13, 9, 0))
    assert list(verdict.verdicts[0].detail["closed"]) == ["America/New_York"]


def test_daylight_saving_time_moves_the_window_with_the_local_clock():
    # Spring forward (8 March 2026): 12:00 UTC is 08:00 EDT, no longer 07:00 EST.
    refused(
        check(NEW_YORK, datetime(2026, 3, 8, 11, 59, tzinfo=UTC)),
        ContactReason.OUTSIDE_CALLING_HOURS,
        datetime(2026, 3, 8, 12, 0, tzinfo=UTC),
    )
    assert check(NEW_YORK, datetime(2026, 3, 8, 12, 0, tzinfo=UTC)).allowed
    # Refused on Saturday night before the change: the next opening is 08:00 EDT (12:00 UTC), not 13:00 UTC.
    refused(
        check(NEW_YORK, at(EASTERN, 2026, 3, 7, 21, 30)),
        ContactReason.OUTSIDE_CALLING_HOURS,
        datetime(2026, 3, 8, 12, 0, tzinfo=UTC),
    )
    # Fall back (1 November 2026): Saturday night's next opening is 08:00 EST = 13:00 UTC.
    refused(
        check(NEW_YORK, at(EASTERN, 2026, 10, 31, 21, 0)),
        ContactReason.OUTSIDE_CALLING_HOURS,
        datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
    )
    assert not check(NEW_YORK, datetime(2026, 11, 1, 12, 59, tzinfo=UTC)).allowed  # 07:59 EST


def test_no_calls_on_sunday_in_alabama_louisiana_and_mississippi():
    sunday = (2026, 5, 17)
    for location in (BIRMINGHAM, locate("LA", "70112", None), locate("MS", "39201", None)):
        verdict = check(location, at(CENTRAL, *sunday, 14, 0))
        refused(verdict, ContactReason.OUTSIDE_CALLING_HOURS, at(CENTRAL, 2026, 5, 18, 8, 0))
        assert any("Sunday" in why for v in verdict.verdicts for why in v.detail.get("closed", {}).values())
    assert check(NEW_YORK, at(EASTERN, *sunday, 14, 0)).allowed


def test_a_holiday_after_a_sunday_pushes_the_next_call_to_tuesday_in_alabama():
    # Sunday 18 January 2026, then Monday 19 January: Birthday of Martin Luther King, Jr.
    refused(
        check(BIRMINGHAM, at(CENTRAL, 2026, 1, 18, 10, 0)),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(CENTRAL, 2026, 1, 20, 8, 0),
    )
    # Alabama ends at 20:00; Mississippi (no holiday rule since 2024) calls on the holiday until 21:00.
    assert not check(BIRMINGHAM, at(CENTRAL, 2026, 1, 20, 20, 0)).allowed
    assert check(locate("MS", "39201", None), at(CENTRAL, 2026, 1, 19, 20, 30)).allowed


BALTIMORE, OKLAHOMA_CITY = locate("MD", "21201", None), locate("OK", "73102", None)


@pytest.mark.parametrize(
    ("location", "zone", "before", "from_day"),
    [
        (BALTIMORE, EASTERN, (2023, 12, 31), (2024, 1, 1)),  # Stop the Spam Calls Act, in force 1 January 2024
        (OKLAHOMA_CITY, CENTRAL, (2022, 10, 31), (2022, 11, 1)),  # Telephone Solicitation Act of 2022
        (MIAMI, EASTERN, (2021, 6, 30), (2021, 7, 1)),  # SB 1120 (ch. 2021-185), in force 1 July 2021
    ],
    ids=["MD", "OK", "FL"],
)
def test_a_state_window_and_cap_govern_contacts_only_from_the_day_the_law_came_into_force(
    location, zone, before, from_day
):
    # A backtest replays contacts at their own time: the day before, 20:30 local is the federal window's.
    assert check(location, at(zone, *before, 20, 30)).allowed
    assert check(location, at(zone, *before, 20, 30), channel="text").allowed
    refused(
        check(location, at(zone, *from_day, 20, 30)),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(zone, *from_day) + timedelta(days=1, hours=8),
    )
    three = [PastContact(at(zone, *before, hour), "call") for hour in (9, 10, 11)]
    assert check(location, at(zone, *before, 12), contacts=three).allowed
    three = [PastContact(at(zone, *from_day, hour), "call") for hour in (9, 10, 11)]
    assert check(location, at(zone, *from_day, 12), contacts=three).reason is ContactReason.CONTACT_LIMIT_REACHED


def test_a_texas_text_follows_the_texas_window_only_since_sb_140():
    # Sunday 31 August 2025, 10:00 in Houston: a call waits for noon; a text (SB 140 not yet in force) is allowed.
    refused(
        check(HOUSTON, at(CENTRAL, 2025, 8, 31, 10)), ContactReason.OUTSIDE_CALLING_HOURS, at(CENTRAL, 2025, 8, 31, 12)
    )
    assert check(HOUSTON, at(CENTRAL, 2025, 8, 31, 10), channel="text").allowed
    # From Monday 1 September 2025 a text keeps Texas's hours: 08:30 waits for 09:00, and on Sunday for noon.
    refused(
        check(HOUSTON, at(CENTRAL, 2025, 9, 1, 8, 30), channel="text"),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(CENTRAL, 2025, 9, 1, 9),
    )
    refused(
        check(HOUSTON, at(CENTRAL, 2025, 9, 7, 10), channel="text"),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(CENTRAL, 2025, 9, 7, 12),
    )


def test_the_third_contact_in_24_hours_is_allowed_and_the_fourth_refused_until_the_first_leaves():
    now = at(EASTERN, 2026, 5, 12, 15, 0)
    first, second, third = (now - timedelta(hours=h) for h in (20, 5, 1))
    assert check(MIAMI, now, "text", [PastContact(first, "call"), PastContact(second, "text")]).allowed
    verdict = check(
        MIAMI, now, "call", [PastContact(first, "call"), PastContact(second, "text"), PastContact(third, "call")]
    )
    refused(verdict, ContactReason.CONTACT_LIMIT_REACHED, first + timedelta(hours=24))
    cap = next(v for v in verdict.verdicts if v.rule == "FL.cap")
    assert cap.detail == {"counted": 3, "max_contacts": 3, "per_hours": 24}
    # Emails, contacts of 24 hours ago or more, and later ones (a backtest's future) are not counted.
    others = [
        PastContact(now - timedelta(hours=24), "call"),
        PastContact(now, "email"),
        PastContact(now + timedelta(hours=1), "call"),
    ]
    assert check(MIAMI, now, "call", [PastContact(second, "text"), PastContact(third, "call"), *others]).allowed
    assert check(NEW_YORK, now, "call", [PastContact(t, "call") for t in (first, second, third)]).allowed  # no cap


def test_when_the_cap_frees_a_contact_outside_the_window_the_next_one_waits_for_morning():
    yesterday = [PastContact(at(EASTERN, 2026, 5, 11, hour, 0), "call") for hour in (9, 12, 19)]
    assert check(MIAMI, at(EASTERN, 2026, 5, 12, 10, 0), contacts=yesterday).allowed  # 09:00 has left the 24 h
    afternoon = [PastContact(at(EASTERN, 2026, 5, 12, hour, 30), "call") for hour in (16, 17, 18)]
    refused(
        check(MIAMI, at(EASTERN, 2026, 5, 12, 19, 0), contacts=afternoon),
        ContactReason.CONTACT_LIMIT_REACHED,
        at(EASTERN, 2026, 5, 13, 16, 30),
    )
    # Three late calls (made elsewhere, or before the rules): freed at 20:30 tomorrow, after Florida's 20:00.
    late = [PastContact(at(EASTERN, 2026, 5, 12, 20, minute), "call") for minute in (30, 40, 50)]
    refused(
        check(MIAMI, at(EASTERN, 2026, 5, 13, 12, 0), contacts=late),
        ContactReason.CONTACT_LIMIT_REACHED,
        at(EASTERN, 2026, 5, 14, 8, 0),
    )
    # Outside the hours too: the reason is the hours, the next moment satisfies both.
    refused(
        check(MIAMI, at(EASTERN, 2026, 5, 13, 20, 15), contacts=late),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(EASTERN, 2026, 5, 14, 8, 0),
    )


def test_email_is_not_subject_to_calling_hours_or_caps():
    calls = [PastContact(at(EASTERN, 2026, 5, 12, 22, m), "call") for m in (1, 2, 3)]
    verdict = check(MIAMI, at(EASTERN, 2026, 5, 12, 23, 30), "email", calls)
    assert verdict.allowed and verdict.verdicts == []
    assert check(None, at(EASTERN, 2026, 5, 12, 23, 30), "email").allowed


def test_shadow_refusals_are_recorded_and_allowed_enforced_ones_refuse():
    shadow = RULES.over(parse_override({"label": "acme@1", "modes": {"state_hours": "shadow"}}))
    verdict = check(MIAMI, at(EASTERN, 2026, 5, 12, 20, 30), rules=shadow)
    assert verdict.allowed and verdict.reason is None and verdict.next_allowed_at is None
    florida = next(v for v in verdict.verdicts if v.rule == "FL.hours")
    assert (florida.mode, florida.passed, florida.reason) == ("shadow", False, ContactReason.OUTSIDE_CALLING_HOURS)
    assert verdict.version == f"{RULES.version}+acme@1"
    assert not check(MIAMI, at(EASTERN, 2026, 5, 12, 21, 30), rules=shadow).allowed  # federal still enforced
    off = RULES.over(parse_override({"modes": {"frequency_caps": "off"}}))
    assert all(v.rule != "FL.cap" for v in check(MIAMI, at(EASTERN, 2026, 5, 12, 12, 0), rules=off).verdicts)


def test_a_buyer_overrides_a_state_row_or_the_federal_window():
    override = parse_override(
        {
            "federal": {
                "hours": {"default": {"start": "09:00", "end": "20:00"}, "source": "https://example.com/policy"}
            },
            "states": {
                "FL": {"cap": None},
                "GA": {"hours": {"default": {"start": "10:00", "end": "18:00"}, "source": "https://example.com/ga"}},
                "AL": None,
            },
        }
    )
    rules = RULES.over(override)
    assert "cap" not in rules.states["FL"].model_dump(exclude_none=True) and rules.states["FL"].hours is not None
    refused(
        check(NEW_YORK, at(EASTERN, 2026, 5, 12, 8, 30), rules=rules),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(EASTERN, 2026, 5, 12, 9, 0),
    )
    atlanta = locate("GA", "30303", None)
    refused(
        check(atlanta, at(EASTERN, 2026, 5, 12, 18, 0), rules=rules),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(EASTERN, 2026, 5, 13, 10, 0),
    )
    assert check(BIRMINGHAM, at(CENTRAL, 2026, 5, 17, 14, 0), rules=rules).allowed  # Alabama's row removed
    dated = RULES.over(
        parse_override(
            {
                "states": {
                    "LA": {
                        "hours": {**RULES.states["LA"].hours.model_dump(mode="json"), "no_call_dates": ["2026-02-17"]}
                    }
                }
            }
        )
    )
    refused(
        check(locate("LA", "70112", None), at(CENTRAL, 2026, 2, 17, 12, 0), rules=dated),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(CENTRAL, 2026, 2, 18, 8, 0),
    )


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (
            {"states": {"FL": {"cap": {"max_calls": 3, "source": "https://x"}}}},
            "states.FL.cap.max_calls: unknown field",
        ),
        ({"states": {"ZZ": None}}, "not a US state code: ZZ"),
        ({"modes": {"state_hours": "loud"}}, "modes.state_hours"),
        (
            {"federal": {"hours": {"default": {"start": "21:00", "end": "08:00"}, "source": "https://x"}}},
            "start must be before end",
        ),
        (
            {"federal": {"hours": {"default": {"start": "08:00", "end": "21:00"}, "source": "a memo"}}},
            "federal.hours.source",
        ),
        ({"window": {}}, "window: unknown field"),
        (
            {
                "states": {
                    "TX": {
                        "cap": {
                            "max_contacts": 3,
                            "channels": ["call"],
                            "since": {"text": "2025-09-01"},
                            "source": "https://x",
                        }
                    }
                }
            },
            "since names a channel the row does not govern: text",
        ),
    ],
)
def test_a_bad_override_is_refused_naming_the_field(data, named):
    with pytest.raises(RulesRefused, match=named.replace(".", r"\.")):
        parse_override(data)


def test_a_lead_we_cannot_locate_is_refused_unless_the_buyer_says_otherwise():
    assert locate(None, None, "800-555-0100") is None  # toll-free
    assert locate(None, None, "+1 204 555 0100") is None  # Manitoba
    assert locate("XX", "ABCDE", "+44 20 7946 0958") is None
    verdict = check(None, at(EASTERN, 2026, 5, 12, 12, 0))
    assert (verdict.allowed, verdict.reason, verdict.next_allowed_at) == (False, ContactReason.LOCATION_UNKNOWN, None)
    shadow = RULES.over(parse_override({"modes": {"location": "shadow"}}))
    # Shadow: the federal window in every continental zone (12:00 Eastern is 09:00 Pacific).
    verdict = check(None, at(EASTERN, 2026, 5, 12, 12, 0), rules=shadow)
    assert verdict.allowed and verdict.verdicts[0].rule == "location" and not verdict.verdicts[0].passed
    refused(
        check(None, at(EASTERN, 2026, 5, 12, 10, 0), rules=shadow),
        ContactReason.OUTSIDE_CALLING_HOURS,
        at(EASTERN, 2026, 5, 12, 11, 0),
    )


def test_every_refusal_carries_its_reason_and_when_to_ask_again():
    moments = [
        at(EASTERN, 2026, month, day, hour, 0)
        for month, day in ((1, 18), (3, 8), (5, 16), (12, 25))
        for hour in range(0, 24, 2)
    ]
    calls = [PastContact(at(EASTERN, 2026, 5, 16, 8, 10 * m), "call") for m in range(3)]
    locations = [
        NEW_YORK,
        MIAMI,
        HOUSTON,
        BIRMINGHAM,
        locate(None, None, "907-555-0100"),
        locate(None, None, "928 555 0100"),
    ]
    for location in locations:
        for now in moments:
            verdict = check(location, now, contacts=calls)
            if not verdict.allowed:
                assert verdict.reason in (ContactReason.OUTSIDE_CALLING_HOURS, ContactReason.CONTACT_LIMIT_REACHED)
                assert verdict.next_allowed_at is not None and verdict.next_allowed_at > now
                assert check(location, verdict.next_allowed_at, contacts=calls).allowed


def test_a_backtest_replays_contacts_through_candidate_rules():
    def contact(
        lead: str, location: Location | None, hour: int, minute: int = 0, channel: Channel = "call"
    ) -> HistoricContact:
        return HistoricContact(
            lead_id=lead, location=location, at=at(EASTERN, 2026, 5, 12, hour, minute), channel=channel
        )

    history = [
        *(contact("a", MIAMI, 9, m) for m in (0, 10, 20, 30)),  # the fourth breaks Florida's cap
        contact("a", MIAMI, 20, 30),  # after Florida's 20:00 (and a fifth in 24 h)
        contact("b", NEW_YORK, 20, 30),
        contact("c", None, 12),
        contact("d", MIAMI, 23, channel="email"),
    ]
    report = backtest(RULES, history)
    assert (report.contacts, report.refused, report.shadow_refused) == (8, 3, 0)
    assert report.by_reason == {"contact_limit_reached": 1, "location_unknown": 1, "outside_calling_hours": 1}
    assert report.by_rule == {"FL.cap": 2, "FL.hours": 1, "location": 1}
    assert [r.contact.at.hour for r in report.flagged] == [9, 12, 20]
    candidate = RULES.over(parse_override({"label": "candidate", "modes": {"frequency_caps": "shadow"}}))
    shadowed = backtest(candidate, history)
    assert (shadowed.refused, shadowed.shadow_refused, shadowed.version) == (2, 1, f"{RULES.version}+candidate")
