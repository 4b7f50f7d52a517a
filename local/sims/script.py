"""What a simulator is told to answer: faults and facts kept per subject (a phone number, a token).

Faults: ``ok``, ``server_error`` (500), ``bad_gateway`` (502), ``unavailable`` (503),
``throttled[:<retry-after seconds>]`` (429 + Retry-After), ``slow:<seconds>`` (then the normal answer),
``hang`` (hold the connection, then drop it unanswered), ``drop`` (close at once, unanswered),
``malformed`` (200 and a truncated body). A subject's faults are consumed one per request naming it, the
last one repeating; facts are checked against the simulator's fact table and merged over its defaults.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from typing import Any

FAULT_STATUS = {"server_error": 500, "bad_gateway": 502, "unavailable": 503, "throttled": 429}
SIMPLE_FAULTS = ("ok", "hang", "drop", "malformed", *FAULT_STATUS)
PARAMETERISED_FAULTS = ("slow:<seconds>", "throttled:<retry-after seconds>")
FAULT_NAMES = (*SIMPLE_FAULTS, *PARAMETERISED_FAULTS)

# fact name -> (check, what it must be)
FactTable = dict[str, tuple[Callable[[Any], bool], str]]
# a simulator's own faults: name -> the status it answers (shaped by its fault_answer), or None for a
# behaviour its handler answers itself (it reads req.fault), e.g. a 200 that says "expired"
ExtraFaults = dict[str, int | None]


def parse_fault(name: str, extra: ExtraFaults | None = None) -> tuple[str, float | None]:
    """``(kind, argument)``; ValueError for an unknown fault or a bad argument."""
    kind, sep, arg = name.strip().partition(":")
    if not sep and (kind in SIMPLE_FAULTS or kind in (extra or {})):
        return kind, None
    if sep and kind in ("slow", "throttled"):
        try:
            value = float(arg)
        except ValueError:
            value = -1.0
        if 0 <= value <= 3600:
            return kind, value
    raise ValueError(f"unknown fault {name!r} (known: {', '.join((*FAULT_NAMES, *(extra or {})))})")


class Scripts:
    """Per-subject faults and facts, thread-safe. Keys are normalised by the simulator's rule."""

    def __init__(
        self,
        facts: FactTable,
        defaults: dict[str, Any],
        normalise: Callable[[str], str],
        extra_faults: ExtraFaults | None = None,
    ) -> None:
        self.extra_faults = extra_faults or {}
        self._table = facts
        self._defaults = defaults
        self.normalise = normalise
        self._lock = threading.Lock()
        self._faults: dict[str, list[str]] = {}
        self._facts: dict[str, dict[str, Any]] = {}

    def script(self, key: str, faults: Iterable[str] | str | None = None, facts: dict[str, Any] | None = None) -> None:
        """Faults (None keeps the current ones, a list replaces them) and facts (unnamed ones keep their
        values). ValueError for an unknown fault, an unknown fact or a bad value, changing nothing."""
        names = None if faults is None else [faults] if isinstance(faults, str) else list(faults)
        for name in names or ():
            parse_fault(name, self.extra_faults)
        for name, value in (facts or {}).items():
            check, wanted = self._table.get(name, (None, ""))
            if check is None:
                raise ValueError(f"unknown fact {name!r} (known: {', '.join(self._table)})")
            if not check(value):
                raise ValueError(f"fact {name} must be {wanted}")
        key = self.normalise(key)
        with self._lock:
            if names is not None:
                self._faults[key] = [n.strip() for n in names]
            self._facts.setdefault(key, {}).update(copy.deepcopy(facts or {}))

    def facts(self, key: str) -> dict[str, Any]:
        """The defaults, then what was scripted."""
        with self._lock:
            return copy.deepcopy({**self._defaults, **self._facts.get(self.normalise(key), {})})

    def faults(self, key: str) -> list[str]:
        with self._lock:
            return list(self._faults.get(self.normalise(key), []))

    def consume(self, subjects: Iterable[str]) -> str:
        """One fault from each scripted subject; the first that is not ``ok`` applies."""
        chosen = "ok"
        with self._lock:
            for key in dict.fromkeys(subjects):
                script = self._faults.get(key)
                if script:
                    fault = script.pop(0) if len(script) > 1 else script[0]
                    chosen = fault if chosen == "ok" else chosen
        return chosen

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._facts.clear()


# -- fact checks shared by the simulators ------------------------------------------------------------


def is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def is_str(value: Any) -> bool:
    return isinstance(value, str)


def is_str_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def one_of(*values: Any) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in values), "one of " + ", ".join(map(str, values))


def is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
