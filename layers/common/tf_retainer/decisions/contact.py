"""May this lead be contacted now, on this channel? The law of the hour, evaluated (pure: same inputs, same
verdict, so stored contacts replay through a candidate rule set: backtest.py).

What applies: the federal window and, for each of the location's states, its window and its frequency cap;
each only for the channels its row names (calls and texts in the shipped rules; email is governed by none).
Every window is checked in every zone of the location (a lead in an area code or state spanning two zones,
or whose ZIP and state disagree, may be contacted only when every one of them allows it).

A lead we cannot locate (no valid state or ZIP, no US geographic area code): with the ``location`` family
enforced (the default), a call or text is refused with ``location_unknown`` and no ``next_allowed_at`` (waiting
does not help: the lead needs a state, ZIP or US number). Shadow or off: the federal window is applied in
every continental zone (Eastern to Pacific) as the least one can do; shadow also records the refusal.

``next_allowed_at`` is the earliest moment every enforced rule allows: after the cap's counted contacts have
left its rolling window, inside every zone's window, skipping no-call days and holidays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from tf_retainer.decisions.calling import CallingRules, Channel, FrequencyCap, Hours, Mode
from tf_retainer.decisions.holidays import is_holiday_either_way
from tf_retainer.decisions.location import Location

CONTINENTAL = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
HORIZON_DAYS = 400  # no opening within this: next_allowed_at is None (rules that never allow)


class ContactReason(StrEnum):
    """Why a contact is refused (the gate answers these as its reason)."""

    LOCATION_UNKNOWN = "location_unknown"
    OUTSIDE_CALLING_HOURS = "outside_calling_hours"
    CONTACT_LIMIT_REACHED = "contact_limit_reached"


@dataclass(frozen=True, slots=True)
class PastContact:
    at: datetime
    channel: Channel


class RuleVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str  # "federal.hours", "FL.hours", "FL.cap", "location"
    mode: Mode
    passed: bool
    reason: ContactReason | None = None  # when not passed
    next_allowed_at: datetime | None = None  # when not passed: when this rule alone allows
    source: str | None = None
    detail: dict[str, Any] = {}

    @property
    def refuses(self) -> bool:
        return not self.passed and self.mode == "enforce"


class ContactVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: bool
    reason: ContactReason | None
    next_allowed_at: datetime | None
    channel: Channel
    checked_at: datetime
    version: str
    location: Location | None
    verdicts: list[RuleVerdict]


def check_contact(
    rules: CallingRules, location: Location | None, now: datetime, channel: Channel, contacts: list[PastContact]
) -> ContactVerdict:
    """The verdict of every applicable rule; refused when an enforced one fails (a shadow failure is recorded
    and allowed). The reason is the first enforced failure in the order location, hours, cap."""
    _aware(now, "now")
    for contact in contacts:
        _aware(contact.at, "a contact's time")
    verdicts: list[RuleVerdict] = []
    zones: tuple[str, ...]
    state_codes: tuple[str, ...]
    if location is None and _governed(rules, channel):
        missing = RuleVerdict(
            rule="location", mode=rules.location_mode, passed=False, reason=ContactReason.LOCATION_UNKNOWN
        )
        if rules.location_mode == "enforce":
            return _verdict(rules, None, now, channel, [missing])
        if rules.location_mode == "shadow":
            verdicts.append(missing)
        zones, state_codes = CONTINENTAL, ()
    else:
        zones = location.zones if location else ()
        state_codes = location.states if location else ()
    hours = [("federal.hours", rules.federal.hours)] + [
        (f"{code}.hours", row.hours) for code in state_codes if (row := rules.states.get(code)) and row.hours
    ]
    caps = [(f"{code}.cap", row.cap) for code in state_codes if (row := rules.states.get(code)) and row.cap]
    day = _local_day(now, zones)
    for name, rule in hours:
        if rule.governs(channel, day):
            verdicts.append(_hours_verdict(name, rule, zones, now))
    for name, cap in caps:
        if cap.governs(channel, day):
            verdicts.append(_cap_verdict(name, cap, contacts, now))
    return _verdict(rules, location, now, channel, verdicts, hours_in=(hours, zones), caps=caps)


def _verdict(
    rules: CallingRules,
    location: Location | None,
    now: datetime,
    channel: Channel,
    verdicts: list[RuleVerdict],
    hours_in: tuple[list[tuple[str, Hours]], tuple[str, ...]] | None = None,
    caps: list[tuple[str, FrequencyCap]] | None = None,
) -> ContactVerdict:
    order = list(ContactReason)
    refusing = sorted((v for v in verdicts if v.refuses), key=lambda v: order.index(v.reason or order[0]))
    first = refusing[0] if refusing else None
    when = None
    if first is not None and first.reason is not ContactReason.LOCATION_UNKNOWN and hours_in is not None:
        day = _local_day(now, hours_in[1])
        enforced = [rule for _, rule in hours_in[0] if rule.mode == "enforce" and rule.governs(channel, day)]
        release = max(
            (v.next_allowed_at for v in refusing if v.rule.endswith(".cap") and v.next_allowed_at), default=now
        )
        when = _earliest(enforced, hours_in[1], max(now, release))
    return ContactVerdict(
        allowed=first is None,
        reason=first.reason if first else None,
        next_allowed_at=when,
        channel=channel,
        checked_at=now,
        version=rules.version,
        location=location,
        verdicts=verdicts,
    )


def _local_day(now: datetime, zones: tuple[str, ...]) -> date:
    """The date a row's ``since`` is compared with: the latest local date among the location's zones (a law
    in force anywhere the consumer may be applies)."""
    return max((now.astimezone(ZoneInfo(zone)).date() for zone in zones), default=now.date())


def _hours_verdict(name: str, rule: Hours, zones: tuple[str, ...], now: datetime) -> RuleVerdict:
    closed = {zone: why for zone in zones if (why := _closed(rule, zone, now))}
    local = {zone: now.astimezone(ZoneInfo(zone)).isoformat() for zone in zones}
    detail: dict[str, Any] = {"local_times": local}
    if not closed:
        return RuleVerdict(rule=name, mode=rule.mode, passed=True, source=rule.source, detail=detail)
    return RuleVerdict(
        rule=name,
        mode=rule.mode,
        passed=False,
        reason=ContactReason.OUTSIDE_CALLING_HOURS,
        next_allowed_at=_earliest([rule], zones, now),
        source=rule.source,
        detail={**detail, "closed": closed},
    )


def _cap_verdict(name: str, cap: FrequencyCap, contacts: list[PastContact], now: datetime) -> RuleVerdict:
    window = timedelta(hours=cap.per_hours)
    counted = sorted(c.at for c in contacts if c.channel in cap.channels and now - window < c.at <= now)
    detail = {"counted": len(counted), "max_contacts": cap.max_contacts, "per_hours": cap.per_hours}
    if len(counted) < cap.max_contacts:
        return RuleVerdict(rule=name, mode=cap.mode, passed=True, source=cap.source, detail=detail)
    # Allowed again once enough of the counted contacts have left the rolling window.
    release = counted[len(counted) - cap.max_contacts] + window
    return RuleVerdict(
        rule=name,
        mode=cap.mode,
        passed=False,
        reason=ContactReason.CONTACT_LIMIT_REACHED,
        next_allowed_at=release.astimezone(now.tzinfo),
        source=cap.source,
        detail=detail,
    )


def _closed(rule: Hours, zone: str, at: datetime) -> str | None:
    """Why ``rule`` does not allow a contact at ``at`` in ``zone`` (None: it does)."""
    local = at.astimezone(ZoneInfo(zone))
    why = _no_call_day(rule, local.date())
    if why:
        return why
    window = rule.window(local.weekday())
    assert window is not None  # _no_call_day covers a day without a window
    if window.start <= local.time() < window.end:
        return None
    return f"outside {window.start:%H:%M}-{window.end:%H:%M} local"


def _no_call_day(rule: Hours, day: date) -> str | None:
    if rule.window(day.weekday()) is None:
        return f"no contacts on {day:%A}"
    if rule.holidays == "us_federal" and is_holiday_either_way(day):
        return "a US federal holiday"
    if day in rule.no_call_dates:
        return "a no-call date"
    return None


def _earliest(rules: list[Hours], zones: tuple[str, ...], start: datetime) -> datetime | None:
    """The first instant at or after ``start`` that every rule allows in every zone (None: none in reach)."""
    moment = start
    for _ in range(4 * HORIZON_DAYS):
        later = moment
        for rule in rules:
            for zone in zones:
                opening = _opening(rule, zone, moment)
                if opening is None:
                    return None
                later = max(later, opening)
        if later == moment:
            return moment.astimezone(start.tzinfo)
        moment = later
    return None


def _opening(rule: Hours, zone: str, at: datetime) -> datetime | None:
    """The first instant at or after ``at`` that ``rule`` allows in ``zone``."""
    tz = ZoneInfo(zone)
    instant = at.astimezone(UTC)
    first = at.astimezone(tz).date()
    for offset in range(HORIZON_DAYS):
        day = first + timedelta(days=offset)
        window = rule.window(day.weekday())
        if window is None or _no_call_day(rule, day):
            continue
        opens = datetime.combine(day, window.start, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(day, window.end, tzinfo=tz).astimezone(UTC)
        if instant < opens:
            return opens
        if instant < closes:
            return instant
    return None


def _governed(rules: CallingRules, channel: Channel) -> bool:
    """Whether any active row governs the channel (an email, governed by none, needs no location)."""
    rows: list[Hours | FrequencyCap] = [rules.federal.hours]
    for row in rules.states.values():
        rows += [part for part in (row.hours, row.cap) if part is not None]
    return any(row.mode != "off" and channel in row.channels for row in rows)


def _aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime")
