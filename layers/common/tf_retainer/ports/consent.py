"""Ports of consent: the revocation ledger (store/revocations.py) and the calling rules in force
(``decisions.calling.CallingBook`` over store/calling_rules.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from tf_retainer.domain.revocation import Notice, Revocation

if TYPE_CHECKING:
    from tf_retainer.decisions.calling import CallingRules


class RevocationLedger(Protocol):
    def record(self, revocation: Revocation) -> tuple[Revocation, bool]:
        """Put a new revocation and its notices under every token of its consumer, all or nothing.
        Returns the revocation stored under its id and whether it is this one (False: recorded before)."""
        ...

    def get(self, revocation_id: str) -> Revocation | None: ...

    def notices(self, tokens: dict[str, str], *, consistent: bool = True) -> list[Notice]:
        """Every revocation recorded under any of these consumer tokens (a lead's ``LeadRecord.consumer``), read
        strongly consistent: a revocation acknowledged before the call is in the answer. ``consistent=False``
        (half the read units) for a reader that something else backs up for the moment just after."""
        ...

    def mark_honoured(self, revocation_id: str, *, honored_at: str, leads: list[str], lead_count: int) -> bool:
        """The revocation was applied to every lead of its consumer; False when it was marked before."""
        ...

    def add_leads(self, revocation_id: str, lead_ids: list[str]) -> None:
        """Leads an honoured revocation reached later (``apply_late``, ``reach_taken_after``): counted, and listed
        while the list has room."""
        ...

    def unhonoured(self, *, recorded_before: datetime | None = None, limit: int | None = None) -> list[Revocation]:
        """Revocations not yet applied to every lead, oldest first."""
        ...

    def listed(self, *, since: datetime, until: datetime | None = None) -> list[Revocation]:
        """Every revocation recorded in a period, honoured or not, oldest first."""
        ...


class CallingRulesSource(Protocol):
    """The calling rules in force: the shipped ones under the buyer's override."""

    def __call__(self) -> CallingRules: ...
