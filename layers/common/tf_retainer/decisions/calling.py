"""The buyer's calling rules, the law of the hour, as data: the federal window, each state's window (per
weekday, no-call days, holidays) and frequency caps, every row with its source. The defaults ship in
``decisions/data/calling_rules.json``; a buyer's override replaces rows and sets modes, like the intake rules.

Each row is ``enforce`` (refuse the contact), ``shadow`` (record "would have refused", allow) or ``off``.
The families, for setting many rows at once: ``federal_hours``, ``state_hours`` (windows, Sundays, holidays),
``frequency_caps`` and ``location`` (a lead we cannot locate: contact.py).

Channels: hours and caps name the channels they govern (``call`` and ``text`` in every shipped row: the TCPA
treats a text as a call, and the state laws shipped count texts as calls or solicitations). ``email`` is in no
shipped row: no time-of-day or frequency law is known for it (CAN-SPAM sets none), so an email is always
allowed by these rules, and it is not counted against a call/text cap. A row's ``since`` names the day each channel
came under it (a law's effective date): a contact before that day, as a backtest replays it, is not governed by it.
"""

from __future__ import annotations

import threading
import time as monotonic_time
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tf_retainer.decisions.location import load, states
from tf_retainer.domain.contacts import Channel

Mode = Literal["enforce", "shadow", "off"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Family = Literal["federal_hours", "state_hours", "frequency_caps", "location"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_STRICT = ConfigDict(extra="forbid", frozen=True)


def _calls_and_texts() -> list[Channel]:
    return ["call", "text"]


class Window(BaseModel):
    """Local time at the called party's location: ``start`` allowed, ``end`` not (21:00 means up to 20:59:59)."""

    model_config = _STRICT
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class Row(BaseModel):
    model_config = _STRICT
    mode: Mode = "enforce"
    channels: list[Channel] = Field(default_factory=_calls_and_texts, min_length=1)
    since: dict[Channel, date] = Field(
        default_factory=dict,
        description="The day a channel came under the rule (the called party's local date; a contact before it is "
        "not governed by this row: backtests replay contacts at their own time). A channel not named: always.",
    )
    source: str = Field(pattern=r"^https?://", description="Where the rule is stated (a public URL).")
    note: str | None = None

    @model_validator(mode="after")
    def _since_its_channels(self) -> Row:
        stray = sorted(set(self.since) - set(self.channels))
        if stray:
            raise ValueError(f"since names a channel the row does not govern: {', '.join(stray)}")
        return self

    def governs(self, channel: Channel, day: date) -> bool:
        """Whether this row, not off, applies to a contact on ``channel`` on ``day`` (local date)."""
        start = self.since.get(channel)
        return self.mode != "off" and channel in self.channels and (start is None or day >= start)


class Hours(Row):
    """When contacts are allowed: ``default`` every day, unless ``days`` names the weekday (``None``: no
    contact that day); never on ``no_call_dates``, nor on US federal holidays when ``holidays`` says so."""

    default: Window
    days: dict[Weekday, Window | None] = Field(default_factory=dict)
    holidays: Literal["none", "us_federal"] = "none"
    no_call_dates: list[date] = Field(default_factory=list)

    def window(self, weekday: int) -> Window | None:
        name = WEEKDAYS[weekday]
        return self.days.get(name, self.default)


class FrequencyCap(Row):
    """At most ``max_contacts`` on ``channels`` in any rolling ``per_hours`` hours."""

    max_contacts: int = Field(gt=0)
    per_hours: int = Field(default=24, gt=0)


class StateRules(BaseModel):
    model_config = _STRICT
    hours: Hours | None = None
    cap: FrequencyCap | None = None


class FederalRules(BaseModel):
    model_config = _STRICT
    hours: Hours


def _check_states(value: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(code for code in value if code not in states())
    if unknown:
        raise ValueError(f"not a US state code: {', '.join(unknown)}")
    return value


class CallingRules(BaseModel):
    """A complete rule set: what ``check_contact`` evaluates."""

    model_config = _STRICT
    version: str = Field(min_length=1)
    federal: FederalRules
    states: dict[str, StateRules] = Field(default_factory=dict)
    location_mode: Mode = "enforce"
    description: str | None = None
    not_modelled: str | None = None

    @field_validator("states")
    @classmethod
    def _known_states(cls, value: dict[str, StateRules]) -> dict[str, StateRules]:
        return _check_states(value)

    def over(self, override: CallingOverride) -> CallingRules:
        """This rule set with a buyer's override applied: family modes first, then the replaced rows."""
        federal, rows, location_mode = self.federal, dict(self.states), self.location_mode
        modes = override.modes
        if "federal_hours" in modes:
            federal = FederalRules(hours=federal.hours.model_copy(update={"mode": modes["federal_hours"]}))
        for code, row in rows.items():
            update: dict[str, Any] = {}
            if row.hours is not None and "state_hours" in modes:
                update["hours"] = row.hours.model_copy(update={"mode": modes["state_hours"]})
            if row.cap is not None and "frequency_caps" in modes:
                update["cap"] = row.cap.model_copy(update={"mode": modes["frequency_caps"]})
            rows[code] = row.model_copy(update=update)
        location_mode = modes.get("location", location_mode)
        if override.federal is not None:
            federal = override.federal
        for code, patch in override.states.items():
            if patch is None:
                rows.pop(code, None)
                continue
            base = rows.get(code, StateRules())
            rows[code] = base.model_copy(update={name: getattr(patch, name) for name in patch.model_fields_set})
        label = f"{self.version}+{override.label}" if override.label else self.version
        return CallingRules(
            version=label, federal=federal, states=rows, location_mode=location_mode, not_modelled=self.not_modelled
        )


class CallingOverride(BaseModel):
    """A buyer's changes: family modes, a replaced federal row, replaced (or, with null, removed) state rows.
    Within a state, only the named parts (``hours``, ``cap``) are replaced; ``"cap": null`` removes the cap."""

    model_config = _STRICT
    label: str | None = Field(default=None, description="Names the override in the verdict's version.")
    modes: dict[Family, Mode] = Field(default_factory=dict)
    federal: FederalRules | None = None
    states: dict[str, StateRules | None] = Field(default_factory=dict)

    @field_validator("states")
    @classmethod
    def _known_states(cls, value: dict[str, StateRules | None]) -> dict[str, StateRules | None]:
        return _check_states(value)


class RulesRefused(ValueError):
    """A rule set or override that does not parse; the message names every offending field."""


def parse_override(data: Any) -> CallingOverride:
    return _parse(CallingOverride, data)


def parse_rules(data: Any) -> CallingRules:
    return _parse(CallingRules, data)


def _parse(model: type[Any], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in issue['loc']) or '(top)'}: "
            + ("unknown field" if issue["type"] == "extra_forbidden" else issue["msg"])
            for issue in error.errors()
        ]
        raise RulesRefused("; ".join(problems)) from None


@lru_cache(maxsize=1)
def default_rules() -> CallingRules:
    """The shipped rule set (``decisions/data/calling_rules.json``)."""
    rules: CallingRules = parse_rules(load("calling_rules.json"))
    return rules


class OverrideVersions(Protocol):
    """Where the buyer's active calling override is read from (store/calling_rules.py)."""

    def active(self) -> StoredOverride | None: ...


@dataclass(frozen=True, slots=True)
class StoredOverride:
    """One immutable version of the buyer's calling override, as published."""

    version: int
    override: CallingOverride
    created_at: str
    actor: str

    @property
    def label(self) -> str:
        return f"buyer@{self.version}"


class CallingBook:
    """The calling rules in force (the shipped rules under the buyer's active override), read again at most
    every ``cache_seconds`` (the gate asks on every check)."""

    def __init__(self, versions: OverrideVersions, cache_seconds: float) -> None:
        self._versions, self._cache_seconds = versions, cache_seconds
        self._cached: tuple[float, CallingRules] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> CallingRules:
        now = monotonic_time.monotonic()
        with self._lock:
            cached = self._cached
        if cached and now - cached[0] < self._cache_seconds:
            return cached[1]
        rules = in_force(self._versions.active())
        with self._lock:
            self._cached = (now, rules)
        return rules


def in_force(stored: StoredOverride | None) -> CallingRules:
    """The shipped rules, under a stored override if there is one (its version named in the rules')."""
    if stored is None:
        return default_rules()
    label = f"{stored.label}+{stored.override.label}" if stored.override.label else stored.label
    return default_rules().over(stored.override.model_copy(update={"label": label}))
