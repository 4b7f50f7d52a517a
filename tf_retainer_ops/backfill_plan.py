"""A backfill's file (`tf-retainer backfill leads.csv --vendor V`), read and sorted before anything is sent:
invalid rows (reported by line) and rows whose certificate's window has closed are never sent; the rest
go most urgent first (web certificates still inside their 72 hours, by deadline), then every other one
still inside 90 days.

Why the row must carry a date: a certificate's creation time is encrypted in its id, and TrustedForm
tells it only through a billed insights call. The lead's date bounds it from above (the certificate
was made before the form was submitted), so a lead older than the longest window (90 days) cannot be
retained, and a web certificate's lead younger than 72 hours is urgent.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tf_retainer.domain.models import LeadSubmission, Reason
from tf_retainer.providers.trustedform.certificates import (
    CertificateKind,
    CertificateRef,
    InvalidCertificateUrl,
    parse_certificate_url,
)
from tf_retainer.runtime.settings import Settings

from .target import OpsError

# Longest a certificate stays claimable (mobile, Meta, and web ones a form submit extended): older
# leads are not sent. Web certificates younger than the short window are the urgent ones.
LONGEST_WINDOW = timedelta(days=90)
# A lead dated further ahead than this is a mistake in the file, not clock skew.
FUTURE_TOLERANCE = timedelta(hours=1)

# Header names accepted for each column (compared lower-cased, spaces and dashes as underscores).
COLUMNS: dict[str, tuple[str, ...]] = {
    "certificate_url": ("trustedform_cert_url", "xxtrustedformcerturl", "certificate_url", "cert_url"),
    "email": ("email", "email_address"),
    "phone": ("phone", "phone_number"),
    "lead_id": ("lead_id", "vendor_lead_id"),
    "lead_date": ("lead_date", "created_at", "submitted_at", "received_at", "date"),
}


def _header_key(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


@dataclass(frozen=True)
class Row:
    line: int
    lead_id: str
    submission: LeadSubmission
    cert: CertificateRef
    lead_date: datetime


@dataclass(frozen=True)
class Invalid:
    line: int
    lead_id: str | None
    reason: str


@dataclass
class Plan:
    rows: int = 0
    invalid: list[Invalid] = field(default_factory=list)
    closed: list[tuple[Row, str]] = field(default_factory=list)
    urgent: list[Row] = field(default_factory=list)  # web certificates inside their short window
    later: list[Row] = field(default_factory=list)  # the rest, inside 90 days

    @property
    def to_send(self) -> list[Row]:
        return self.urgent + self.later


def read_plan(path: Path, *, now: datetime, settings: Settings) -> Plan:
    """Read, validate and sort the file. Raises OpsError when the file itself is unusable."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's BOM is not part of the first name
    except (OSError, UnicodeDecodeError) as exc:
        raise OpsError(f"cannot read {path}: {exc}") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    records = _records(reader, path)
    header = next(records, None)
    if header is None:
        raise OpsError(f"{path} is empty: expected a header row naming the columns")
    columns = _columns(header, path)
    plan = Plan()
    seen: dict[str, int] = {}
    for cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        plan.rows += 1
        parsed = _row(reader.line_num, cells, header, columns, now)
        if isinstance(parsed, Invalid):
            plan.invalid.append(parsed)
            continue
        if parsed.lead_id in seen:
            first = seen[parsed.lead_id]
            plan.invalid.append(Invalid(parsed.line, parsed.lead_id, f"lead id repeated (first on line {first})"))
            continue
        seen[parsed.lead_id] = parsed.line
        _sort_in(plan, parsed, now, settings)
    # In each group every window has the same length: the oldest lead's closes first.
    plan.urgent.sort(key=lambda row: (row.lead_date, row.line))
    plan.later.sort(key=lambda row: (row.lead_date, row.line))
    return plan


def _records(reader: Any, path: Path) -> Iterator[list[str]]:
    """The file's records; the csv module's own refusal (a field over its limit) as one line naming where."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # csv counts the line it stopped on; a field over the limit is not a lead's (a URL, an email).
            line = reader.line_num
            if "field limit" in str(exc):
                limit = csv.field_size_limit()
                raise OpsError(f"{path}, line {line}: a field is longer than {limit} characters (csv's limit)") from exc
            raise OpsError(f"{path}, line {line}: not readable as CSV ({exc})") from exc
        yield cells


def _columns(header: list[str], path: Path) -> dict[str, int]:
    keys = [_header_key(name) for name in header]
    found: dict[str, int] = {}
    for column, names in COLUMNS.items():
        for index, key in enumerate(keys):
            if key in names:
                found.setdefault(column, index)
    missing = [column for column in ("certificate_url", "lead_id", "lead_date") if column not in found]
    if "email" not in found and "phone" not in found:
        missing.append("email and/or phone")
    if missing:
        accepted = "; ".join(f"{column}: {' | '.join(names)}" for column, names in COLUMNS.items())
        raise OpsError(
            f"{path}: the header row has no {', '.join(missing)} column (header names accepted, any order: {accepted})"
        )
    return found


def _row(line: int, cells: list[str], header: list[str], columns: dict[str, int], now: datetime) -> Row | Invalid:
    def cell(column: str) -> str:
        index = columns.get(column)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    lead_id = cell("lead_id") or None
    if lead_id is None:
        return Invalid(line, None, "missing lead id (it is what makes a rerun skip the lead)")
    if not (cell("email") or cell("phone")):
        return Invalid(line, lead_id, f"{Reason.MISSING_CONTACT.value}: neither email nor phone")
    try:
        cert = parse_certificate_url(cell("certificate_url"))
    except InvalidCertificateUrl as exc:
        return Invalid(line, lead_id, f"{Reason.INVALID_CERTIFICATE_URL.value}: {exc.detail}")
    lead_date = _lead_date(cell("lead_date"))
    if lead_date is None:
        return Invalid(line, lead_id, "lead date missing or not ISO 8601 (e.g. 2026-11-20T14:03:00Z or 2026-11-20)")
    if lead_date > now + FUTURE_TOLERANCE:
        return Invalid(line, lead_id, f"lead date {lead_date.isoformat()} is in the future")
    known = set(columns.values())
    # Other columns go in as a vendor's extra fields would: intake keeps, fingerprints or drops them.
    extras = {
        name.strip(): cells[index].strip()
        for index, name in enumerate(header)
        if index not in known and index < len(cells) and name.strip() and cells[index].strip()
    }
    try:
        submission = LeadSubmission.model_validate(
            {
                **extras,
                "trustedform_cert_url": cert.url,
                "email": cell("email") or None,
                "phone": cell("phone") or None,
                "lead_id": lead_id,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "row"
        return Invalid(line, lead_id, f"{where}: {first['msg']}")
    return Row(line, lead_id, submission, cert, lead_date)


def _lead_date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if len(text) == 10:  # a day only: the lead may be from its last second (closes latest)
        return datetime.combine(date.fromisoformat(text), datetime.max.time(), tzinfo=UTC).replace(microsecond=0)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _sort_in(plan: Plan, row: Row, now: datetime, settings: Settings) -> None:
    age = now - row.lead_date
    if age >= LONGEST_WINDOW:
        plan.closed.append((row, f"retain_window_closed: lead dated {row.lead_date:%Y-%m-%d}, {age.days} days ago"))
    elif row.cert.kind is CertificateKind.WEB and age < timedelta(hours=settings.retain_window_hours):
        plan.urgent.append(row)
    else:
        plan.later.append(row)
