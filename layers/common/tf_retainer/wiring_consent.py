"""The composition root's part for consent (beside ``wiring``, which builds the lead use cases' Deps with
these): the revocation ledger and the calling rules in force, on the lead store's table and client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tf_retainer.runtime.settings import Settings

if TYPE_CHECKING:
    from tf_retainer.decisions.calling import CallingBook
    from tf_retainer.store.calling_rules import CallingRuleStore
    from tf_retainer.store.revocations import DynamoRevocations
    from tf_retainer.store.table import Table


def build_revocations(settings: Settings, table: Table) -> DynamoRevocations:
    from tf_retainer.store.revocations import DynamoRevocations

    return DynamoRevocations(table, retention_days=settings.evidence_retention_days)


def build_calling_rules(table: Table) -> CallingRuleStore:
    from tf_retainer.store.calling_rules import CallingRuleStore

    return CallingRuleStore(table)


def build_calling_book(settings: Settings, table: Table) -> CallingBook:
    """The calling rules in force, read again at most every RULES_CACHE_SECONDS."""
    from tf_retainer.decisions.calling import CallingBook

    return CallingBook(build_calling_rules(table), settings.rules_cache_seconds)
