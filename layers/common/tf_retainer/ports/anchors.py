"""Ports of the evidence anchors (domain/anchors.py): where the anchor documents are kept (the Object-Lock
archive bucket: aws/anchor_bucket.py) and the MAC that authenticates them (a KMS HMAC key only the anchoring
function may use to make one: aws/kms_mac.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredAnchor:
    """One anchor document as read back: where it is, its bytes and the MAC stored with them."""

    name: str
    content: bytes
    mac: bytes


class AnchorStore(Protocol):
    def put(self, hour: str, content: bytes, mac: bytes) -> str:
        """Write one document under its hour, once (an equal one found written serves); its name."""
        ...

    def read_hour(self, hour: str) -> list[StoredAnchor]:
        """Every document of an hour."""
        ...

    def mark_started(self, content: bytes, mac: bytes) -> None:
        """Record when anchoring began, unless it is recorded already (the first record stays)."""
        ...

    def started(self) -> StoredAnchor | None:
        """The record of when anchoring began, or None when nothing was ever anchored."""
        ...


class Mac(Protocol):
    """A MAC under one key that never leaves its service."""

    def generate(self, message: bytes) -> bytes: ...

    def verify(self, message: bytes, mac: bytes) -> bool: ...
