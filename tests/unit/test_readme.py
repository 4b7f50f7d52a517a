"""The README's module table names every module of the layer, and nothing that is not there: a newcomer
reads the design from it, so it may not drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common" / "tf_retainer"


def table_rows() -> dict[str, str]:
    """The module table's rows under ``layers/common/tf_retainer/``: path (as the row names it) -> text."""
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `  ([a-z_/.]+)` \| (.*) \|$", readme, flags=re.MULTILINE)
    return dict(rows)


def layer_modules() -> set[str]:
    """Every module of the layer, as ``package/module`` (or ``module.py`` at the top)."""
    found = set()
    for path in LAYER.rglob("*.py"):
        if path.name == "__init__.py":
            continue
        relative = path.relative_to(LAYER)
        found.add(str(relative) if len(relative.parts) == 1 else f"{'/'.join(relative.parts[:-1])}/{path.stem}")
    return found


def named_in_table(rows: dict[str, str]) -> set[str]:
    named = set()
    for path, text in rows.items():
        if path.endswith(".py"):
            named.add(path)
        else:  # a package row: its modules are named in backticks, in its text
            named.update(f"{path.rstrip('/')}/{module}" for module in re.findall(r"`([a-z_]+)`", text))
    return named


def test_the_readme_names_every_module_of_the_layer():
    missing = layer_modules() - named_in_table(table_rows())
    assert not missing, f"README's module table does not name: {sorted(missing)}"


def test_every_package_row_of_the_readme_exists():
    for path in table_rows():
        assert (LAYER / path).exists(), f"README names {path}, which is not in the layer"
