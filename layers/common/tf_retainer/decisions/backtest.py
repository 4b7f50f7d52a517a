"""Replay past contacts through a candidate calling rule set: which would have been refused, and why (pure;
the operator CLI reads the contacts from the store and prints the report).

Each contact is judged at its own time, with the lead's earlier contacts (every one that happened, refused
or not: they were made) as its history for the frequency caps.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from tf_retainer.decisions.calling import CallingRules, Channel
from tf_retainer.decisions.contact import ContactReason, ContactVerdict, PastContact, check_contact
from tf_retainer.decisions.location import Location


class HistoricContact(BaseModel):
    """One contact that was made: which lead, where the lead was, when, how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str
    location: Location | None
    at: datetime
    channel: Channel


class Replayed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    contact: HistoricContact
    verdict: ContactVerdict

    @property
    def shadow_refusals(self) -> list[str]:
        return [v.rule for v in self.verdict.verdicts if not v.passed and v.mode == "shadow"]


class BacktestReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    contacts: int
    refused: int  # by an enforced rule
    shadow_refused: int  # allowed, but a shadow rule would have refused
    by_reason: dict[str, int]  # enforced refusals by reason
    by_rule: dict[str, int]  # failures (enforced or shadow) by rule, e.g. "FL.cap"
    flagged: list[Replayed]  # every contact that was refused or shadow-refused, in time order


def backtest(rules: CallingRules, contacts: list[HistoricContact]) -> BacktestReport:
    ordered = sorted(contacts, key=lambda contact: (contact.at, contact.lead_id))
    history: dict[str, list[PastContact]] = {}
    flagged: list[Replayed] = []
    by_reason: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    refused = shadow = 0
    for contact in ordered:
        past = [p for p in history.get(contact.lead_id, []) if p.at < contact.at]
        verdict = check_contact(rules, contact.location, contact.at, contact.channel, past)
        history.setdefault(contact.lead_id, []).append(PastContact(contact.at, contact.channel))
        failed = [v for v in verdict.verdicts if not v.passed and v.mode != "off"]
        by_rule.update(v.rule for v in failed)
        if not verdict.allowed:
            refused += 1
            by_reason[(verdict.reason or ContactReason.LOCATION_UNKNOWN).value] += 1
        elif failed:
            shadow += 1
        if failed or not verdict.allowed:
            flagged.append(Replayed(contact=contact, verdict=verdict))
    return BacktestReport(
        version=rules.version,
        contacts=len(ordered),
        refused=refused,
        shadow_refused=shadow,
        by_reason=dict(sorted(by_reason.items())),
        by_rule=dict(sorted(by_rule.items())),
        flagged=flagged,
    )
