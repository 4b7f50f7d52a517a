"""The handlers are thin: each reaches the service through the composition root (tf_retainer.wiring) and the
use cases, never an adapter. (The layer's own map is .importlinter, checked by lint-imports in make test;
the functions are modules named app in folders, which import-linter cannot name, so they are read here.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FUNCTIONS = sorted((Path(__file__).resolve().parents[2] / "functions").glob("*/app.py"))
ADAPTERS = ("tf_retainer.store", "tf_retainer.aws", "tf_retainer.providers")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_function_is_read():
    assert {path.parent.name for path in FUNCTIONS} >= {"intake", "retry", "sweeper", "authorizer", "publisher"}


@pytest.mark.parametrize("app", FUNCTIONS, ids=lambda path: path.parent.name)
def test_a_handler_never_imports_an_adapter(app: Path):
    reached = sorted(name for name in imported_modules(app) if name.startswith(ADAPTERS))
    assert reached == [], f"{app.parent.name} imports {reached}: go through tf_retainer.wiring"
