"""The composition root's part for consent (``builders.build_deps`` puts these into the lead use cases'
Deps): the revocation ledger and the calling rules in force, on the lead store's table and client."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from tf_retainer.runtime.settings import Settings

if TYPE_CHECKING:
    from tf_retainer.decisions.calling import CallingBook, CallingRules
    from tf_retainer.store.calling_rules import CallingRuleStore
    from tf_retainer.store.revocations import DynamoRevocations
    from tf_retainer.store.table import Table


def build_revocations(settings: Settings, table: Table) -> DynamoRevocations:
    from tf_retainer.store.revocations import DynamoRevocations

    return DynamoRevocations(table, retention_days=settings.evidence_retention_days)


def build_calling_rules(table: Table) -> CallingRuleStore:
    from tf_retainer.store.calling_rules import CallingRuleStore

    return CallingRuleStore(table)


class LazyCallingBook:
    """The calling rules in force, read again at most every RULES_CACHE_SECONDS; built on the first call (the
    gate's): the retry worker and the sweeper never load them."""

    def __init__(self, settings: Settings, table: Table) -> None:
        self._settings, self._table = settings, table
        self._book: CallingBook | None = None
        self._building = threading.Lock()

    def __call__(self) -> CallingRules:
        if self._book is None:
            with self._building:
                if self._book is None:
                    from tf_retainer.decisions.calling import CallingBook

                    self._book = CallingBook(build_calling_rules(self._table), self._settings.rules_cache_seconds)
        return self._book()


def build_calling_book(settings: Settings, table: Table) -> LazyCallingBook:
    return LazyCallingBook(settings, table)
