"""The leads API's OpenAPI description, generated from the routes of the functions behind the API (Powertools:
the intake function's, then the consent function's, merged into one), and the browsable page the local stack
serves for it.

``python -m local.openapi`` (``make openapi``) writes ``docs/openapi.json``; ``--check`` exits 1 when the
file differs from what the code generates (tests/integration/service/test_openapi.py does the same in
``make test``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi import swagger_ui

from local.functions import load_module

PUBLISHED = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
# Swagger UI as Powertools ships it, served from this machine: the page needs no network.
SWAGGER_UI = Path(swagger_ui.__file__).parent
DOCS_PATH = "/docs"
ASSETS = {
    f"{DOCS_PATH}/swagger-ui-bundle.min.js": ("swagger-ui-bundle.min.js", "text/javascript; charset=utf-8"),
    f"{DOCS_PATH}/swagger-ui.min.css": ("swagger-ui.min.css", "text/css; charset=utf-8"),
}


# The functions behind the API, in the order their routes are described; the first one's title, security and
# description head the whole.
API_FUNCTIONS = ("IntakeFunction", "ConsentFunction")


def generate() -> str:
    """The description as the functions' code declares it (JSON, as committed)."""
    merged: dict[str, Any] | None = None
    for logical_id in API_FUNCTIONS:
        _, module = load_module(logical_id)
        description = json.loads(module.app.get_openapi_json_schema())
        if merged is None:
            merged = description
            continue
        merged["paths"].update(description["paths"])
        schemas = merged.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in description.get("components", {}).get("schemas", {}).items():
            if schemas.setdefault(name, schema) != schema:
                raise ValueError(f"{logical_id} describes the schema {name} otherwise than {API_FUNCTIONS[0]}")
    assert merged is not None
    merged["paths"] = dict(sorted(merged["paths"].items()))
    merged["components"]["schemas"] = dict(sorted(merged["components"]["schemas"].items()))
    return json.dumps(merged, indent=2) + "\n"


def docs_page(description: str) -> str:
    """Swagger UI over ``description`` (embedded), its script and style from ``DOCS_PATH``."""
    js, css = ASSETS
    return swagger_ui.generate_swagger_html(
        spec=description, swagger_js=js, swagger_css=css, swagger_base_url=DOCS_PATH, oauth2_config=None
    )


def asset(path: str) -> tuple[bytes, str] | None:
    """A Swagger UI file the page loads: (content, content type), or None for any other path."""
    if path not in ASSETS:
        return None
    name, content_type = ASSETS[path]
    return (SWAGGER_UI / name).read_bytes(), content_type


def main(argv: list[str]) -> int:
    generated = generate()
    if argv == ["--check"]:
        if PUBLISHED.read_text(encoding="utf-8") != generated:
            print(f"{PUBLISHED.name} differs from the code: run make openapi and commit it", file=sys.stderr)
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    PUBLISHED.write_text(generated, encoding="utf-8")
    description = json.loads(generated)
    print(f"wrote {PUBLISHED} ({len(description['paths'])} paths, OpenAPI {description['openapi']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
