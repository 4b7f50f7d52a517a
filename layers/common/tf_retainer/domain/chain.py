"""A lead's evidence chain: its history events and raw TrustedForm exchanges, in entries written once
and linked by SHA-256, so an edit, a removal or a reordering of any stored entry shows.

An entry is what one step of the lead wrote (an attempt: its calls, their events and, when it changed the
lead, the lead as it became). A call to TrustedForm is written twice: its request alone (``calls``) in an
entry put before it is sent, then the whole exchange, answer included, in a later entry (``exchanges``,
paired by ``call_id``): a call whose answer never got written still shows, as a request without an answer.

An entry's content is one canonical JSON document (sorted keys, no spaces, nulls left out) that names
the entry's number, time and the hash of the entry before it; the entry's hash is the SHA-256 of those
exact bytes. The first entry's "previous" is the hash of the lead's identity (id, vendor, certificate,
time received), so an entry cannot be moved to another lead either.

Stored compressed (zlib with a fixed preset dictionary: every entry fits in one 1 KB write unit); the bytes
hashed are the decompressed bytes, so what is verified is exactly what is read back. The packing byte in
front names the dictionary, and none may ever change: 1, the words every entry repeats; 2 (what is written
since issue 22), two whole entries as the service writes them (``entry_words``). Both are read.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from tf_retainer.domain.entry_words import DICTIONARY_V2

FORMAT = 1  # the content's ("v", hashed)
PACKING = 2  # the stored bytes' dictionary (below)
# Words entries repeat (JSON keys, header names, event types, TrustedForm's answer). Compression only:
# changing it would make packing 1's entries unreadable, so a new dictionary needs a new packing byte.
_DICTIONARY_V1 = (
    b'"state":{"attempts":1,"burned_attempts":0,"cert_id":"","cert_kind":"standard","certificate_url":'
    b'"https://cert.trustedform.com/","check_after":"","deadline":"","final_at":"","lead":{},"lead_match":'
    b'{"email":true,"phone":null,"success":true},"lead_id":"","masked":false,"match_lead":{"email":"",'
    b'"phone":""},"received_at":"","reason":"","status":"retained","tf_operations":0,"tf_outcome":"success",'
    b'"updated_at":"","vendor":"","expires_at":"","masked_cert_url":"https://cert.trustedform.com/",'
    b'"previously_retained":false,"next_attempt_at":"","rules_passed":true,"verdicts":[]}'
    b'"exchanges":[{"attempt":1,"duration_ms":,"request":{"body":"{\\"match_lead\\":{\\"email\\":\\"'
    b'\\",\\"phone\\":\\"\\"},\\"retain\\":{\\"reference\\":\\"\\",\\"vendor\\":\\"\\"},\\"insights\\":'
    b'{\\"properties\\":[\\"is_masked\\"]}}","headers":{"accept":"application/json","accept-encoding":'
    b'"gzip, deflate","api-version":"4.0","authorization":"Basic [REDACTED]","connection":"keep-alive",'
    b'"content-length":"","content-type":"application/json","host":"cert.trustedform.com","user-agent":'
    b'"tf-retainer/0.1"},"method":"POST","url":"https://cert.trustedform.com/"},"response":{"body":'
    b'"{\\"outcome\\": \\"success\\", \\"reason\\": null, \\"match_lead\\": {\\"email\\": \\"\\", '
    b'\\"result\\": {\\"email_match\\": true, \\"phone_match\\": null, \\"success\\": true}}, \\"retain\\": '
    b'{\\"reference\\": \\"\\", \\"vendor\\": \\"\\", \\"results\\": {\\"expires_at\\": \\"\\", '
    b'\\"masked_cert_url\\": \\"https://cert.trustedform.com/\\", \\"previously_retained\\": false}}, '
    b'\\"insights\\": {\\"properties\\": {\\"is_masked\\": false}}}","headers":{"content-length":"",'
    b'"content-type":"application/json","date":"","server":""},"http_version":"HTTP/1.1","reason":"OK",'
    b'"status":200},"started_at":""}]'
    b'"events":[{"actor":"intake","at":"","detail":{"status":"received","vendor":""},"type":"received"},'
    b'{"actor":"intake","detail":{"attempt":1,"duration_ms":,"http_status":200,"tf_outcome":"success"},'
    b'"type":"attempt"},{"actor":"retry","detail":{"reason":"","next_attempt_at":""},"type":"retained"}]'
    b'"at":"2026-01-01T00:00:00.000000+00:00","prev":"","seq":1,"v":1}'
)


class BrokenChain(Exception):
    """An entry's content does not hash to its stored hash, or does not follow the entry before it."""

    def __init__(self, seq: int, why: str) -> None:
        super().__init__(f"entry {seq}: {why}")
        self.seq = seq
        self.why = why


@dataclass(frozen=True, slots=True)
class Entry:
    """One link: what a step wrote, as hashed."""

    seq: int
    at: str
    prev: str
    events: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] | None = None  # the lead after this step, when the step changed it
    calls: list[dict[str, Any]] = field(default_factory=list)  # requests about to be sent (answers follow)
    stored_hash: str | None = field(default=None, compare=False)  # as read back: the hash stored beside it

    def content(self) -> bytes:
        """The canonical bytes that are hashed and stored."""
        document = {
            "v": FORMAT,
            "seq": self.seq,
            "at": self.at,
            "prev": self.prev,
            "events": self.events,
            "exchanges": self.exchanges,
            "state": self.state,
            "calls": self.calls or None,  # only in entries that record a call about to be sent
        }
        return json.dumps(compact(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def hash(self) -> str:
        return self.stored_hash or hashlib.sha256(self.content()).hexdigest()


def genesis(lead_id: str, vendor: str, cert_id: str | None, received_at: str) -> str:
    """The 'previous hash' of a lead's first entry: its identity, which never changes (``cert_id`` None, JSON
    null: a lead without a certificate)."""
    identity = {"lead_id": lead_id, "vendor": vendor, "cert_id": cert_id, "received_at": received_at}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


_DICTIONARIES = {1: _DICTIONARY_V1, 2: DICTIONARY_V2}


def pack(content: bytes, packing: int = PACKING) -> bytes:
    dictionary = _DICTIONARIES[packing]
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, dictionary)
    return bytes([packing]) + compressor.compress(content) + compressor.flush()


def unpack(blob: bytes) -> bytes:
    dictionary = _DICTIONARIES.get(blob[0]) if blob else None
    if dictionary is None:
        raise ValueError(f"unknown entry format {blob[:1]!r}")
    decompressor = zlib.decompressobj(zlib.MAX_WBITS, dictionary)
    return decompressor.decompress(blob[1:]) + decompressor.flush()


def parse(content: bytes, *, stored_hash: str | None = None) -> Entry:
    document = json.loads(content)
    return Entry(
        stored_hash=stored_hash,
        seq=document["seq"],
        at=document["at"],
        prev=document["prev"],
        events=document.get("events") or [],
        exchanges=document.get("exchanges") or [],
        state=document.get("state"),
        calls=document.get("calls") or [],
    )


@dataclass(frozen=True, slots=True)
class Link:
    """A stored entry as read back: its number, its content's bytes and the hash stored beside them."""

    seq: int
    content: bytes
    stored_hash: str


def verify(links: list[Link], first_prev: str) -> list[Entry]:
    """The entries of a chain, each checked: numbered 1, 2, 3 ... without a gap, each content hashing to
    its stored hash, each naming the hash of the one before (the first: ``first_prev``, the lead's
    identity). Raises BrokenChain naming the first link that fails."""
    entries: list[Entry] = []
    prev = first_prev
    for expected, link in enumerate(sorted(links, key=lambda link: link.seq), start=1):
        if link.seq != expected:
            raise BrokenChain(expected, f"missing (the next stored entry is {link.seq})")
        actual = hashlib.sha256(link.content).hexdigest()
        if actual != link.stored_hash:
            raise BrokenChain(link.seq, f"content hashes to {actual[:16]}…, stored hash is {link.stored_hash[:16]}…")
        try:
            entry = parse(link.content)
        except (ValueError, KeyError) as exc:
            raise BrokenChain(link.seq, f"content is not an entry ({exc})") from exc
        if entry.seq != link.seq:
            raise BrokenChain(link.seq, f"content says it is entry {entry.seq}")
        if entry.prev != prev:
            raise BrokenChain(link.seq, "does not follow the entry before it (previous hash differs)")
        entries.append(entry)
        prev = link.stored_hash
    return entries


def compact(value: Any) -> Any:
    """``value`` as an entry holds it: None values of its objects left out, at every depth."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [compact(v) for v in value]
    return value
