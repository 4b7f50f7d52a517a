"""What an insider can do to an evidence file with everything but the deployment's evidence key: edit it,
rebuild its evidence chain link by link (SHA-256 is unkeyed), make its history, raw exchanges, state and
readable sections agree, recompute its digest, and sign it with a key of their own.

Shared by the hostile-insider properties (tests/hostile/test_insider_bundles.py) and bench/hostile.py.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

from tf_retainer.domain import chain
from tf_retainer.store.items import history_item

from tf_retainer_ops.bundle import content_digest, sign, state_sections

# What names the lead (its chain's first link hashes these).
IDENTITY = ("lead_id", "vendor", "cert_id", "received_at")


def entries(document: dict[str, Any]) -> list[chain.Entry]:
    """The file's chain entries, as a forger reads them (no check)."""
    return [chain.parse(str(link["content"]).encode()) for link in document["chain"]]


def rebuild(document: dict[str, Any], new_entries: list[chain.Entry]) -> dict[str, Any]:
    """The document with its chain made of ``new_entries`` (renumbered 1.., each linked to the one before
    from the lead's identity), and everything the file shows of the chain made to agree: history, raw
    exchanges, the state (the last step's, with the number of its entry) and the readable sections; the
    digest recomputed. The signature is left as it was."""
    forged = copy.deepcopy(document)
    lead_id, state = forged["lead_id"], forged["state"]
    prev = chain.genesis(lead_id, state["vendor"], state["cert_id"], state["received_at"])
    links, history, exchanges = [], [], []
    last: tuple[int, dict[str, Any]] | None = None
    identity = {name: state[name] for name in IDENTITY if name in state}
    for seq, entry in enumerate(new_entries, start=1):
        # An entry taken from another lead is made this lead's: its state names this lead.
        snapshot = None if entry.state is None else {**entry.state, **identity}
        entry = dataclasses.replace(entry, seq=seq, prev=prev, state=snapshot, stored_hash=None)
        content = entry.content()
        prev = hashlib.sha256(content).hexdigest()
        links.append({"seq": seq, "hash": prev, "content": content.decode()})
        history += [history_item(event, entry, lead_id, state.get("cert_id")).as_dict() for event in entry.events]
        exchanges += entry.exchanges
        if entry.state is not None:
            last = (seq, entry.state)
    forged.update(chain=links, history=history, exchanges=exchanges)
    if last is not None:
        seq, snapshot = last
        forged["state"] = {**snapshot, "applied": seq}
    forged.update(state_sections(forged["state"], exchanges))
    return redigest(forged)


def redigest(document: dict[str, Any]) -> dict[str, Any]:
    document["content_sha256"] = content_digest(document)
    return document


def self_signed(document: dict[str, Any], kms: Any, own_key_id: str) -> dict[str, Any]:
    """Signed with a KMS key the forger made (GenerateMac on it: its id named in the file)."""
    document.pop("signature", None)
    sign(document, kms, own_key_id)
    return document


def locally_signed(document: dict[str, Any], secret: bytes, named: str) -> dict[str, Any]:
    """Signed with an HMAC key the forger holds, naming whatever key id the forger likes."""
    mac = hmac.new(secret, document["content_sha256"].encode(), hashlib.sha256).digest()
    document["signature"] = {
        "algorithm": "HMAC_SHA_256",
        "key_id": named,
        "signed": "content_sha256",
        "mac": base64.b64encode(mac).decode(),
    }
    return document


def as_retained(entry: chain.Entry) -> chain.Entry:
    """A step that refused the lead, rewritten as one that retained it."""
    state = {**(entry.state or {}), "status": "retained", "retained": True}
    state.pop("reason", None)
    events = [
        {**event, "type": "retained", "detail": {k: v for k, v in (event.get("detail") or {}).items() if k != "reason"}}
        if event.get("type") == "rejected"
        else event
        for event in entry.events
    ]
    return dataclasses.replace(entry, state=state, events=events)


def to_retained(document: dict[str, Any]) -> dict[str, Any]:
    """A rejected lead's file rewritten to say retained: the last step, its events, the state, all of it."""
    chained = entries(document)
    last = max(i for i, entry in enumerate(chained) if entry.state is not None)
    chained[last] = as_retained(chained[last])
    return rebuild(document, chained)


def dumps_with_repeat(document: Any, at: int, value: Any) -> str:
    """The document as JSON with one key of its ``at``-th object (in document order, modulo their number)
    given a second time, with ``value``."""
    objects = sum(1 for _ in _objects(document))
    target = at % objects
    counter = iter(range(objects))

    def write(node: Any) -> str:
        if isinstance(node, dict):
            index = next(counter)
            pairs = [f"{json.dumps(k)}:{write(v)}" for k, v in node.items()]
            if index == target:
                key = next(iter(node), "k")
                pairs.append(f"{json.dumps(key)}:{json.dumps(value)}")
                if not node:
                    pairs.append(f"{json.dumps(key)}:{json.dumps(value)}")
            return "{" + ",".join(pairs) + "}"
        if isinstance(node, list):
            return "[" + ",".join(write(item) for item in node) + "]"
        return json.dumps(node)

    return write(document)


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value that is not a non-empty object or list."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list) and node:
        for index, value in enumerate(node):
            yield from leaves(value, (*path, index))
    else:
        yield path


def replaced(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    edited = copy.deepcopy(document)
    node = edited
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return edited
