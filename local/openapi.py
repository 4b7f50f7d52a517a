"""The leads API's OpenAPI description, generated from the intake function's routes (Powertools), and the
browsable page the local stack serves for it.

``python -m local.openapi`` (``make openapi``) writes ``docs/openapi.json``; ``--check`` exits 1 when the
file differs from what the code generates (tests/integration/service/test_openapi.py does the same in
``make test``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

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


def generate() -> str:
    """The description as the intake function's code declares it (JSON, as committed)."""
    _, module = load_module("IntakeFunction")
    return module.app.get_openapi_json_schema() + "\n"


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
