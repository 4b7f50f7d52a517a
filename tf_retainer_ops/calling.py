"""The law of the hour for an operator: the buyer's calling override (read from a file, families' modes
flipped), the rules in force shown row by row, and the backtest of a candidate (`calling test`): the contacts
reported for the leads received in a period, replayed through it (``decisions.backtest``; nothing is called)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tf_retainer.decisions.backtest import BacktestReport, HistoricContact
from tf_retainer.decisions.calling import CallingOverride, CallingRules, Hours, Row, RulesRefused, parse_override
from tf_retainer.decisions.location import locate_place
from tf_retainer.domain.consent import CONTACT_EVENT
from tf_retainer.runtime.clock import parse_iso

from .target import OpsError

if TYPE_CHECKING:
    from tf_retainer.store.lead_table import LeadTable

FAMILIES = ("federal_hours", "state_hours", "frequency_caps", "location")
MODES = ("enforce", "shadow", "off")


def read_override(source: str, *, stdin: Any = None) -> CallingOverride:
    """A buyer's override from a JSON file (or ``-``); OpsError naming every field that is wrong."""
    name = "standard input" if source == "-" else source
    try:
        text = (stdin or sys.stdin).read() if source == "-" else Path(source).read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise OpsError(f"cannot read {name}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise OpsError(f"{name}: not valid JSON ({exc})") from exc
    try:
        return parse_override(data)
    except RulesRefused as exc:
        raise OpsError(f"{name}: {exc}") from exc


def parse_family_mode(text: str) -> tuple[str, str]:
    import argparse

    family, sep, mode = text.partition("=")
    if not sep or family.strip() not in FAMILIES or mode.strip() not in MODES:
        raise argparse.ArgumentTypeError(
            f"expected FAMILY=MODE, FAMILY one of {', '.join(FAMILIES)}; MODE {'|'.join(MODES)}"
        )
    return family.strip(), mode.strip()


def with_modes(override: CallingOverride | None, changes: list[tuple[str, str]]) -> CallingOverride:
    data = override.model_dump(mode="json", exclude_unset=True) if override else {}
    data["modes"] = {**data.get("modes", {}), **dict(changes)}
    return parse_override(data)


def rule_lines(rules: CallingRules) -> list[str]:
    """One line per row: where, what, its mode and its source."""
    lines = [f"  location unknown     {rules.location_mode}"]
    lines.append(_hours_line("federal", rules.federal.hours))
    for code, row in sorted(rules.states.items()):
        if row.hours is not None:
            lines.append(_hours_line(code, row.hours))
        if row.cap is not None:
            cap = row.cap
            what = f"at most {cap.max_contacts} {'/'.join(cap.channels)} in {cap.per_hours} h" + _since(cap)
            lines.append(f"  {code + ' cap':<20} {cap.mode:<8} {what:<40} {cap.source}")
    return lines


def _since(row: Row) -> str:
    """When the row's channels came under it, where known: `` since call/text 2024-01-01``."""
    days: dict[str, list[str]] = {}
    for channel, day in row.since.items():
        days.setdefault(day.isoformat(), []).append(channel)
    return "".join(f" since {'/'.join(channels)} {day}" for day, channels in sorted(days.items()))


def _hours_line(where: str, hours: Hours) -> str:
    days = {day: (f"{w.start:%H:%M}-{w.end:%H:%M}" if w else "none") for day, w in hours.days.items()}
    what = f"{hours.default.start:%H:%M}-{hours.default.end:%H:%M}" + "".join(f" {d}:{w}" for d, w in days.items())
    if hours.holidays != "none":
        what += " no federal holidays"
    if hours.no_call_dates:
        what += " no calls " + ",".join(day.isoformat() for day in hours.no_call_dates)
    what += _since(hours)
    return f"  {where + ' hours':<20} {hours.mode:<8} {what:<40} {hours.source}"


def historic_contacts(
    store: LeadTable, vendors: list[str], *, since: datetime, until: datetime | None
) -> list[HistoricContact]:
    """Every contact reported for the leads the vendors sent in the period, with where each lead is."""
    contacts = []
    for vendor in vendors:
        for lead in store.index.vendor_leads(vendor, since=since, until=until):
            record = store.reader.read_lead(lead.lead_id)
            if record is None:
                continue
            location = locate_place(lead.place)
            contacts += [
                HistoricContact(
                    lead_id=lead.lead_id,
                    location=location,
                    at=parse_iso(event.detail["at"]),
                    channel=event.detail["channel"],
                )
                for event in record.history
                if event.type == CONTACT_EVENT
            ]
    return contacts


def report_dict(report: BacktestReport, *, show: int) -> dict[str, Any]:
    return {
        "version": report.version,
        "contacts": report.contacts,
        "refused": report.refused,
        "shadow_refused": report.shadow_refused,
        "by_reason": report.by_reason,
        "by_rule": report.by_rule,
        "flagged": [
            {
                "lead_id": replayed.contact.lead_id,
                "at": replayed.contact.at.isoformat(),
                "channel": replayed.contact.channel,
                "allowed": replayed.verdict.allowed,
                "reason": replayed.verdict.reason.value if replayed.verdict.reason else None,
                "shadow": replayed.shadow_refusals,
            }
            for replayed in report.flagged[:show]
        ],
    }
