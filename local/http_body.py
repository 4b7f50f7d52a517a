"""A request's body, as the local stack's one hand-written HTTP server (local/loopback.py: under the API, the
TrustedForm simulator, the providers' simulators and the callback receiver) reads it: by Content-Length or
chunked, never more than a bound, nothing when neither header says there is a body."""

from __future__ import annotations

from typing import Any, Protocol


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...
    def readline(self, size: int = ..., /) -> bytes: ...


class BodyTooLarge(Exception):
    """The body is over the server's bound: answer 413 and close the connection (it was not read)."""


def read_body(rfile: _Readable, headers: Any, limit: int) -> bytes:
    """The body of the request whose ``headers`` were just read from ``rfile``. Raises BodyTooLarge past
    ``limit`` bytes, ValueError on a malformed length or chunk size."""
    length = headers.get("Content-Length")
    if length is not None:
        size = int(length)
        if size > limit:
            raise BodyTooLarge
        return rfile.read(size) if size > 0 else b""
    if "chunked" not in (headers.get("Transfer-Encoding") or "").lower():
        return b""
    chunks: list[bytes] = []
    total = 0
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers, up to the blank line
                pass
            return b"".join(chunks)
        total += size
        if total > limit:
            raise BodyTooLarge
        chunks.append(rfile.read(size))
        rfile.readline()  # the CRLF after the chunk
