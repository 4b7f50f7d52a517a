"""Signed callbacks: when a vendor's lead leaves ``pending`` (a final outcome reached after the vendor's 202),
the service POSTs the vendor's answer to the URL the vendor registered, signed, from its own queue.

The recipe a vendor verifies with (docs and README show it):

    signed  = timestamp + "." + body                 (the X-TF-Retainer-Timestamp header, the raw body)
    expect  = "v1=" + hex(HMAC-SHA256(secret, signed))
    accept if expect == X-TF-Retainer-Signature (constant-time) and the timestamp is recent (5 minutes,
    and at most 30 seconds ahead of the receiver's clock)
    de-duplicate on the signed body's event_id (the X-TF-Retainer-Event-Id header is a copy, not signed)

Where it may go: https only, and the host must resolve to public addresses only (no private, loopback,
link-local, multicast or reserved ones; an IPv6 address that embeds an IPv4 one, IPv4-mapped or -compatible,
6to4, Teredo or NAT64, is judged by the IPv4 address it carries), checked at every send, and the connection
is made to the very address checked (no second resolution a DNS rebinding could answer differently). ``allow_private``
(the local stack only) lifts both rules.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

SIGNATURE_HEADER = "X-TF-Retainer-Signature"
TIMESTAMP_HEADER = "X-TF-Retainer-Timestamp"
EVENT_ID_HEADER = "X-TF-Retainer-Event-Id"
TOLERANCE_SECONDS = 300
FUTURE_SKEW_SECONDS = 30  # a receiver's clock may lag ours this much; a later timestamp is a forgery or a bug
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: a network's own translator, never public
Resolver = Callable[[str, int], list[str]]


class CallbackRefused(ValueError):
    """A callback URL (or the addresses its host resolves to) the service will not send to."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(secret: str, timestamp: str, body: bytes, header: str, *, now: float) -> bool:
    """The vendor's side of the recipe (what a vendor's receiver does, in Python)."""
    try:
        age = now - int(timestamp)
    except ValueError:
        return False
    fresh = -FUTURE_SKEW_SECONDS <= age <= TOLERANCE_SECONDS
    return fresh and hmac.compare_digest(signature(secret, timestamp, body), header)


def check_url(url: str, *, allow_private: bool) -> str:
    """A callback URL as registered: absolute, https (unless ``allow_private``), no credentials in it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CallbackRefused("invalid_callback_url", "a callback URL is an absolute https:// URL")
    if parts.scheme != "https" and not allow_private:
        raise CallbackRefused("callback_not_https", "callbacks are sent over https only")
    if parts.username or parts.password:
        raise CallbackRefused("invalid_callback_url", "a callback URL carries no user name or password")
    try:
        port = parts.port  # None when the URL names none; ValueError when it is not a number or over 65535
    except ValueError:
        port = 0
    if port == 0:
        raise CallbackRefused("invalid_callback_url", "a callback URL's port is a number from 1 to 65535")
    _refuse_literal_private(parts.hostname, allow_private)
    return urlunsplit(parts)


def _refuse_literal_private(host: str, allow_private: bool) -> None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not allow_private and not _is_public(address):
        raise CallbackRefused("callback_address_not_public", f"{host} is not a public address")


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.version == 6:
        assert isinstance(address, ipaddress.IPv6Address)
        if address in NAT64_LOCAL_USE:
            return False
        embedded = _embedded_ipv4(address)
        if embedded and not all(_is_public(inner) for inner in embedded):
            return False
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries, which a translator or tunnel would reach: IPv4-mapped
    (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated), 6to4 (2002::/16), Teredo (2001::/32: the
    server and the client) and NAT64's well-known prefix (64:ff9b::/96). Python judges the IPv6 address
    alone, so [::127.0.0.1] or [64:ff9b::a9fe:a9fe] would pass for public."""
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    packed = address.packed
    if packed[:12] == bytes(12) and int.from_bytes(packed[12:], "big") > 1:  # ::a.b.c.d, not :: or ::1
        found.append(ipaddress.IPv4Address(packed[12:]))
    if address in NAT64_WELL_KNOWN:
        found.append(ipaddress.IPv4Address(packed[12:]))
    return [inner for inner in found if inner is not None]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def public_address(host: str, port: int, *, allow_private: bool, resolver: Resolver = system_resolver) -> str:
    """The address to connect to: every address ``host`` resolves to must be public (one bad one refuses)."""
    try:
        addresses = resolver(host, port)
    except OSError as exc:
        raise CallbackRefused("callback_host_unresolvable", f"{host} does not resolve ({exc})") from None
    if not addresses:
        raise CallbackRefused("callback_host_unresolvable", f"{host} does not resolve")
    for address in addresses:
        if not allow_private and not _is_public(ipaddress.ip_address(address.split("%", 1)[0])):
            raise CallbackRefused("callback_address_not_public", f"{host} resolves to {address}, not a public address")
    return addresses[0]


class CallbackJob(BaseModel):
    """One callback to make: the outcome event's id and what the vendor is told; the attempt it is."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str = Field(min_length=1)
    vendor: str = Field(min_length=1)
    detail_type: str
    answer: dict[str, Any]
    attempt: int = Field(default=1, ge=1)

    @classmethod
    def from_outcome_event(cls, event: dict[str, Any]) -> CallbackJob:
        """From an outcome event as EventBridge delivers it (the rule's target is the callback queue)."""
        detail = event["detail"]
        return cls(
            event_id=detail["event_id"],
            vendor=detail["vendor"],
            detail_type=event["detail-type"],
            answer=detail["answer"],
        )

    def body(self) -> bytes:
        payload = {"event_id": self.event_id, "type": self.detail_type, "lead": self.answer}
        return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True, slots=True)
class Delivery:
    outcome: Literal["delivered", "retry", "failed", "no_callback"]
    reason: str | None = None
    http_status: int | None = None


def deliver(
    job: CallbackJob,
    url: str,
    secret: str,
    *,
    client: httpx.Client,
    now: float,
    allow_private: bool,
    resolver: Resolver = system_resolver,
) -> Delivery:
    """POST the job's body to ``url``, signed; what happened, as retry / failed / delivered."""
    parts = urlsplit(url)
    try:
        check_url(url, allow_private=allow_private)  # first: a URL stored before a check existed is refused too
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        address = public_address(host, port, allow_private=allow_private, resolver=resolver)
    except CallbackRefused as refused:
        return Delivery("failed", refused.reason)
    body, timestamp = job.body(), str(int(now))
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    headers = {
        "Host": parts.netloc.rsplit("@", 1)[-1],
        "Content-Type": "application/json",
        "User-Agent": "tf-retainer-callbacks/1",
        EVENT_ID_HEADER: job.event_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    try:
        # Connect to the address checked above; TLS still names (and verifies) the registered host.
        response = client.post(pinned, content=body, headers=headers, extensions={"sni_hostname": host})
    except httpx.TimeoutException:
        return Delivery("retry", "timeout")
    except httpx.TransportError as exc:
        return Delivery("retry", f"connection_error:{type(exc).__name__}")
    if 200 <= response.status_code < 300:
        return Delivery("delivered", http_status=response.status_code)
    if response.status_code in (408, 429) or response.status_code >= 500:
        return Delivery("retry", f"http_{response.status_code}", response.status_code)
    return Delivery("failed", f"http_{response.status_code}", response.status_code)
