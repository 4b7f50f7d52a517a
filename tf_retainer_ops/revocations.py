"""Revocations of consent an operator records: one from the command line, or a file of them (an SMS platform's
export of STOP replies, a CRM's opt-outs), each through the use case the API uses (``leads.revocations``), so
the consumer is tokenized as the consumer index does and every lead of theirs is closed the same way.

A file is CSV with a header, or JSON Lines (``.jsonl``/``.ndjson``: one object a line), with the API's fields:
``id``, ``phone``, ``email``, ``expressed_at``, ``via``, ``brand``, ``channels`` (CSV: ``call text`` or
``call,text``), ``message``. Every row is checked before anything is recorded: one bad row, nothing written.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tf_retainer.api.parsing import validation_errors
from tf_retainer.domain.consent import RevocationRequest
from tf_retainer.domain.revocation import Revocation

from .target import OpsError

JSON_LINES = (".jsonl", ".ndjson")
MAX_ROWS = 100_000


class RevocationsInvalid(Exception):
    """A file with rows that do not validate: one line per error, naming the row and the field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def request(data: dict[str, Any]) -> RevocationRequest:
    """One revocation as the API takes it; RevocationsInvalid naming each field that is wrong."""
    try:
        return RevocationRequest.model_validate(data)
    except ValidationError as exc:
        raise RevocationsInvalid([f"{e.field}: {e.message}" for e in validation_errors(exc)]) from exc


def read_requests(path: Path) -> list[RevocationRequest]:
    """Every row of the file, validated (all of them, or RevocationsInvalid with every error)."""
    requests, errors = [], []
    for where, row in _rows(path):
        try:
            requests.append(request(row))
        except RevocationsInvalid as invalid:
            errors += [f"{where}: {error}" for error in invalid.errors]
    if errors:
        raise RevocationsInvalid(errors)
    if not requests:
        raise OpsError(f"{path}: no revocation in it")
    return requests


def _rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OpsError(f"cannot read {path}: {exc}") from exc
    if path.suffix.lower() in JSON_LINES:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise RevocationsInvalid([f"line {number}: not JSON ({exc})"]) from exc
            if not isinstance(data, dict):
                raise RevocationsInvalid([f"line {number}: not a JSON object"])
            rows.append((f"line {number}", data))
        return rows[:MAX_ROWS]
    try:
        reader = csv.DictReader(text.splitlines())
        rows = [(f"row {number}", _csv_row(row)) for number, row in enumerate(reader, start=2)]
    except csv.Error as exc:
        raise OpsError(f"{path}: not CSV ({exc})") from exc
    return rows[:MAX_ROWS]


def _csv_row(row: dict[str | None, Any]) -> dict[str, Any]:
    """A CSV row as the API's object: empty cells left out, channels split on commas or spaces."""
    data: dict[str, Any] = {str(name).strip(): value for name, value in row.items() if name and value not in (None, "")}
    if isinstance(data.get("channels"), str):
        data["channels"] = [part for part in data["channels"].replace(",", " ").split() if part]
    return data


def brief(revocation: Revocation) -> dict[str, Any]:
    """What `revocations list` shows of one (the consumer's tokens and words: `show`)."""
    return {
        "revocation_id": revocation.revocation_id,
        "id": revocation.client_id,
        "expressed_at": revocation.expressed_at,
        "via": revocation.via,
        "brand": revocation.scope.brand,
        "channels": list(revocation.scope.channels),
        "recorded_by": revocation.recorded_by.label,
        "recorded_at": revocation.recorded_at,
        "honor_by": revocation.honor_by,
        "honored_at": revocation.honored_at,
        "leads": revocation.lead_count if revocation.honored_at else None,
    }
