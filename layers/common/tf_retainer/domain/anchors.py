"""Evidence anchors: each chain entry's hash, as the table's stream saw it written, kept outside the table.

A table writer can rewrite a lead's chain so that it verifies link by link (SHA-256 is unkeyed). What it
cannot rewrite is what was anchored when each entry was written: the stream consumer (AnchorFunction)
writes every batch's list of (lead id, entry number, entry hash, how it was written) to the Object-Lock
archive bucket, one document per batch and hour, under a KMS MAC only that function's role can make.

How an entry was written (``kind``): ``new`` (the stream's INSERT: the entry's first write, the only
way the service writes one) or ``overwrite`` (a MODIFY: a put over an existing entry, or an update of
its expiry, which keeps its hash). An entry is anchored under the hour its own content names (``at``), so
`evidence verify` reads the hours of the chain's entries, and the one after the last, and nothing else.

The document is canonical JSON (sorted keys, no spaces); the MAC is over its SHA-256, with a purpose
prefix, so it is one KMS call per document whatever its size (GenerateMac takes 4 KB at most).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

FORMAT = 1
NEW, OVERWRITE = "new", "overwrite"
KINDS = (NEW, OVERWRITE)
HOUR_FORMAT = "%Y-%m-%dT%H"
MAC_PURPOSE = b"tf-retainer evidence anchors v1\n"
# A clock ahead of ours by more than this is a time in the future.
CLOCK_SKEW = timedelta(minutes=5)


class BadAnchor(ValueError):
    """A document that is not an anchor document of this format."""


@dataclass(frozen=True, order=True, slots=True)
class Anchored:
    """One entry as the stream saw it written."""

    lead_id: str
    seq: int
    hash: str  # hex SHA-256 of the entry's content, as the item stored it ("" if it stored none)
    kind: str = NEW

    def row(self) -> list[Any]:
        return [self.lead_id, self.seq, self.hash, self.kind]


@dataclass(frozen=True, slots=True)
class Written:
    """One stream record of a chain entry: what is anchored, and the hour it is anchored under."""

    anchored: Anchored
    hour: str


def hour_of(at: str | datetime) -> str:
    """The anchor hour of a moment (UTC), e.g. ``2026-12-07T07``."""
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(HOUR_FORMAT)


def next_hour(hour: str) -> str:
    return (datetime.strptime(hour, HOUR_FORMAT).replace(tzinfo=UTC) + timedelta(hours=1)).strftime(HOUR_FORMAT)


def document(hour: str, records: list[Anchored]) -> bytes:
    """The canonical bytes of one hour's anchors from one batch (each record once, in order)."""
    rows = [record.row() for record in sorted(set(records))]
    body = {"v": FORMAT, "hour": hour, "entries": rows}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_document(content: bytes) -> tuple[str, list[Anchored]]:
    """The hour and the records of a document; BadAnchor when it is not one of this format."""
    try:
        body = json.loads(content)
        if body["v"] != FORMAT:
            raise BadAnchor(f"unknown anchor format {body['v']!r}")
        hour = str(body["hour"])
        datetime.strptime(hour, HOUR_FORMAT)
        records = [_record(row) for row in body["entries"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadAnchor(f"not an anchor document ({exc})") from exc
    if document(hour, records) != content:
        raise BadAnchor("not in canonical form")
    return hour, records


def _record(row: Any) -> Anchored:
    lead_id, seq, digest, kind = row
    if not isinstance(lead_id, str) or type(seq) is not int or not isinstance(digest, str) or kind not in KINDS:
        raise TypeError(f"bad row {row!r}")
    return Anchored(lead_id, seq, digest, kind)


def mac_message(content: bytes) -> bytes:
    """What the MAC is computed over: the purpose and the document's SHA-256 (under GenerateMac's 4 KB)."""
    return MAC_PURPOSE + hashlib.sha256(content).hexdigest().encode()


def started_document(since: datetime) -> bytes:
    """The record of when anchoring began: entries written before it were never anchored."""
    moment = since.astimezone(UTC).isoformat(timespec="seconds")
    return json.dumps({"v": FORMAT, "since": moment}, sort_keys=True, separators=(",", ":")).encode()


def parse_started(content: bytes) -> datetime:
    try:
        body = json.loads(content)
        since = datetime.fromisoformat(body["since"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadAnchor(f"not a record of when anchoring began ({exc})") from exc
    if body.get("v") != FORMAT or since.tzinfo is None or started_document(since) != content:
        raise BadAnchor("not a record of when anchoring began, in canonical form")
    return since


def by_hour(written: list[Written]) -> dict[str, list[Anchored]]:
    """A batch's records grouped into one document each per hour (almost always one)."""
    grouped: dict[str, list[Anchored]] = {}
    for item in written:
        grouped.setdefault(item.hour, []).append(item.anchored)
    return grouped


# --- the comparison `evidence verify` makes ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainLink:
    """An entry of the chain as the table (or the archive) holds it."""

    seq: int
    hash: str
    at: str


@dataclass
class AnchorCheck:
    """A chain against its anchors: ``problems`` (entry number or None, why) fail the check; entries only
    ``pending`` (written within the lag, not anchored yet) or written ``before`` anchoring began do not."""

    anchored: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    before: list[int] = field(default_factory=list)
    problems: list[tuple[int | None, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def hours_to_read(links: list[ChainLink], now: datetime) -> list[str]:
    """The hours whose anchors can hold the chain's entries: each entry's own, and the hour after the last
    (an entry written after the last one kept, since deleted, is most likely there); none in the future."""
    hours = {hour_of(link.at) for link in links if _parsed(link.at) is not None}
    if links and (last := _parsed(links[-1].at)) is not None:
        hours.add(hour_of(last + timedelta(hours=1)))
    current = hour_of(now)
    return sorted(hour for hour in hours if hour <= current)


def compare(
    lead_id: str,
    links: list[ChainLink],
    found: list[Anchored],
    *,
    now: datetime,
    lag: timedelta,
    since: datetime | None,
) -> AnchorCheck:
    """Each entry against what was anchored for it. A problem: an entry anchored with another hash
    (rewritten), one whose hash was only ever seen overwriting (put over an existing entry), one anchored but
    missing from the chain (deleted), one not anchored although older than ``lag`` (or claiming a future
    time). Entries written before anchoring began (``since``; None: never) are not checked."""
    check = AnchorCheck()
    seen: dict[int, set[tuple[str, str]]] = {}
    for record in found:
        if record.lead_id == lead_id:
            seen.setdefault(record.seq, set()).add((record.hash, record.kind))
    for link in links:
        records = seen.get(link.seq, set())
        others = sorted({digest for digest, _ in records if digest != link.hash})
        if others:
            check.problems.append(
                (link.seq, f"entry {link.seq} was anchored with another hash ({others[0][:16]}…): rewritten")
            )
        elif records and (link.hash, NEW) not in records:
            check.problems.append(
                (link.seq, f"entry {link.seq} was written over an existing entry (anchored only as an overwrite)")
            )
        elif records:
            check.anchored.append(link.seq)
        else:
            _unanchored(check, link, now=now, lag=lag, since=since)
    kept = {link.seq for link in links}
    last = max(kept, default=0)
    for seq in sorted(seq for seq in seen if seq not in kept and seq > last):
        check.problems.append((seq, f"entry {seq} was anchored but is not in the table: deleted"))
    return check


def _unanchored(check: AnchorCheck, link: ChainLink, *, now: datetime, lag: timedelta, since: datetime | None) -> None:
    at = _parsed(link.at)
    if at is None:
        check.problems.append((link.seq, f"entry {link.seq} names no time it was written"))
    elif at > now + CLOCK_SKEW:
        check.problems.append((link.seq, f"entry {link.seq} claims it was written in the future ({link.at})"))
    elif since is None or at < since:
        check.before.append(link.seq)
    elif now - at <= lag:
        check.pending.append(link.seq)
    else:
        check.problems.append(
            (
                link.seq,
                f"entry {link.seq} ({link.at}) is in no anchor of its hour: rewritten with another time, or its "
                "anchoring failed (AnchorFailureQueue)",
            )
        )


def _parsed(at: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
