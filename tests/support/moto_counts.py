"""How much of a moto table a Query goes through: the tests of local/motolock.py's and local/motoindex.py's
Query patches count it."""

from __future__ import annotations

from typing import Any

import pytest


def count_candidates(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many items each Query is given from here on (what ``Table.all_items``, as it is now, answers it), in
    order."""
    from moto.dynamodb.models.table import Table

    candidates: list[int] = []
    all_items = Table.all_items

    def counted_all_items(self: Any) -> list[Any]:
        items = all_items(self)
        candidates.append(len(items))
        return items

    monkeypatch.setattr(Table, "all_items", counted_all_items)
    return candidates
