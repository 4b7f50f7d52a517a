"""The deployment's consumer key, and what the service derives from it so that nothing stored about a
consumer can be reversed by someone who can only read the table.

TrustedForm matches leads on the SHA-1 of a normalised email or phone (``contacts.py``). An unkeyed SHA-1
of a phone number is reversed by brute force in seconds, so it is kept only where TrustedForm needs it,
inside the raw exchange recorded as evidence. Everywhere else the service keeps keyed values:

* **tokens** (HMAC-SHA256, truncated to 128 bits, hex): the consumer index keys, and the lead id of a
  vendor's own lead id (a vendor's repeat of its lead lands on the same id, and the vendor's id, which may
  be anything a vendor chose, never becomes a key);
* **sealed fingerprints**: the SHA-1 a later retry must send again, XORed with an HMAC keystream unique to
  the lead and the kind of contact (each keystream seals one value only, so the XOR is a one-time pad under
  a pseudo-random function); without the key the stored bytes say nothing;
* **sealed texts**: words that may name a consumer (a revocation's message: "STOP calling 512 555 1212"),
  XORed with an HMAC keystream in counter mode, unique to the record that keeps them (written once).

Purposes are domain-separated (each derivation names its purpose), so a token never equals a seal's
keystream or another purpose's token. The key is read once per container from Secrets Manager
(``ConsumerKeySource``); it is never rotated without re-indexing (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

TOKEN_BYTES = 16
SEPARATOR = "\x1f"  # the ASCII unit separator: no vendor name, id or fingerprint part can contain it


class Keyring:
    """Tokens and seals under the consumer key, which ``key`` returns (read on first use, then kept)."""

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key_source = key
        self._key: bytes | None = None

    def load(self) -> None:
        """Read the key now, if not yet (raises what the key source raises): before a step that would be
        left half done without it."""
        if self._key is None:
            self._key = self._key_source()

    def _mac(self, purpose: str, *parts: str) -> bytes:
        self.load()
        assert self._key is not None
        message = SEPARATOR.join((purpose, *parts)).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def token(self, purpose: str, *parts: str) -> str:
        """A keyed, one-way name for ``parts`` (32 hex characters)."""
        return self._mac(purpose, *parts)[:TOKEN_BYTES].hex()

    def consumer(self, kind: str, fingerprint: str) -> str:
        """The consumer index's name for a contact fingerprint (``kind``: "email" or "phone")."""
        return self.token("consumer", kind, fingerprint)

    def vendor_lead(self, vendor: str, vendor_lead_id: str) -> str:
        """Our lead id for a vendor's own lead id: the same for every post of it."""
        return self.token("vendor-lead", vendor, vendor_lead_id)

    def seal(self, lead_id: str, kind: str, fingerprint: str) -> bytes:
        """A lead's contact fingerprint (hex) as stored: unreadable without the key."""
        plain = bytes.fromhex(fingerprint)
        return bytes(a ^ b for a, b in zip(plain, self._stream(lead_id, kind, len(plain)), strict=True))

    def unseal(self, lead_id: str, kind: str, sealed: bytes) -> str:
        return bytes(a ^ b for a, b in zip(sealed, self._stream(lead_id, kind, len(sealed)), strict=True)).hex()

    def seal_text(self, name: tuple[str, ...], text: str) -> bytes:
        """``text`` as stored: unreadable without the key. ``name`` names the one record that keeps it (a
        record sealing two texts under one name would reuse the keystream)."""
        plain = text.encode()
        return bytes(a ^ b for a, b in zip(plain, self._text_stream(name, len(plain)), strict=True))

    def unseal_text(self, name: tuple[str, ...], sealed: bytes) -> str:
        return bytes(a ^ b for a, b in zip(sealed, self._text_stream(name, len(sealed)), strict=True)).decode()

    def _text_stream(self, name: tuple[str, ...], length: int) -> bytes:
        blocks = -(-length // hashlib.sha256().digest_size)
        return b"".join(self._mac("seal-text", *name, str(block)) for block in range(blocks))[:length]

    def _stream(self, lead_id: str, kind: str, length: int) -> bytes:
        if length > hashlib.sha256().digest_size:  # a SHA-1 is 20 bytes: one block is enough
            raise ValueError("a sealed fingerprint is at most 32 bytes")
        return self._mac("seal", lead_id, kind)[:length]
