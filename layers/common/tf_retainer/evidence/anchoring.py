"""Anchoring the evidence chains outside the table (domain/anchors.py), and checking a chain against them.

``Anchorer.anchor``: what AnchorFunction does with one batch of the table's stream: one document per hour
the batch's entries name (almost always one), each under one MAC (one KMS call), written once to the
anchor store. The first batch of a container also records when anchoring began, if nothing has yet.

``check_chain``: what `tf-retainer evidence verify` adds to the chain's own links: the anchors of the hours
the chain's entries name, each document that mentions the lead authenticated (its MAC, under the
deployment's anchor key, never one a document names), then domain/anchors.py's comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tf_retainer.domain import anchors
from tf_retainer.domain.anchors import AnchorCheck, ChainLink, Written
from tf_retainer.ports.anchors import AnchorStore, Mac

# An entry not anchored this long after the time it names counts as a problem (the stream consumer
# anchors within seconds; its retries, and a batching window, within minutes).
ANCHOR_LAG = timedelta(hours=1)


class Anchorer:
    """Writes each batch's anchors (one per container: it remembers having recorded the start)."""

    def __init__(self, store: AnchorStore, mac: Mac) -> None:
        self.store, self.mac = store, mac
        self._started = False

    def anchor(self, written: list[Written], now: datetime) -> list[str]:
        """The names of the documents written (or found written) for this batch."""
        if not written:
            return []
        if not self._started:
            content = anchors.started_document(now)
            self.store.mark_started(content, self.mac.generate(anchors.mac_message(content)))
            self._started = True
        names = []
        for hour, records in sorted(anchors.by_hour(written).items()):
            content = anchors.document(hour, records)
            names.append(self.store.put(hour, content, self.mac.generate(anchors.mac_message(content))))
        return names


@dataclass
class AnchorVerdict:
    """A chain's check against its anchors, with what was read for it."""

    check: AnchorCheck
    since: datetime | None
    hours: list[str] = field(default_factory=list)
    documents: int = 0  # documents read
    authenticated: int = 0  # documents that mention the lead, their MAC checked

    def summary(self) -> dict[str, object]:
        return {
            "ok": self.check.ok,
            "anchoring_since": self.since.isoformat() if self.since else None,
            "anchored": self.check.anchored,
            "not_anchored_yet": self.check.pending,
            "before_anchoring": self.check.before,
            "problems": [{"entry": seq, "why": why} for seq, why in self.check.problems],
            "hours_read": self.hours,
            "documents_read": self.documents,
        }


def check_chain(
    lead_id: str,
    links: list[ChainLink],
    store: AnchorStore,
    mac: Mac,
    *,
    now: datetime,
    lag: timedelta = ANCHOR_LAG,
) -> AnchorVerdict:
    unreadable: list[tuple[int | None, str]] = []
    since = _since(store, mac, unreadable)
    verdict = AnchorVerdict(check=AnchorCheck(), since=since, hours=anchors.hours_to_read(links, now))
    found: list[anchors.Anchored] = []
    for hour in verdict.hours:
        for stored in store.read_hour(hour):
            verdict.documents += 1
            try:
                named_hour, records = anchors.parse_document(stored.content)
            except anchors.BadAnchor as exc:
                unreadable.append((None, f"anchor {stored.name} is unreadable: {exc}"))
                continue
            mine = [record for record in records if record.lead_id == lead_id]
            if not mine:
                continue
            verdict.authenticated += 1
            if named_hour != hour or not mac.verify(anchors.mac_message(stored.content), stored.mac):
                unreadable.append((None, f"anchor {stored.name} is not authentic (its MAC or its hour is wrong)"))
                continue
            found += mine
    verdict.check = anchors.compare(lead_id, links, found, now=now, lag=lag, since=since)
    verdict.check.problems[:0] = unreadable
    return verdict


def _since(store: AnchorStore, mac: Mac, problems: list[tuple[int | None, str]]) -> datetime | None:
    stored = store.started()
    if stored is None:
        return None
    try:
        since = anchors.parse_started(stored.content)
    except anchors.BadAnchor as exc:
        problems.append((None, f"{stored.name} is unreadable: {exc}"))
        return None
    if not mac.verify(anchors.mac_message(stored.content), stored.mac):
        problems.append((None, f"{stored.name} is not authentic (its MAC is wrong)"))
        return None
    return since
