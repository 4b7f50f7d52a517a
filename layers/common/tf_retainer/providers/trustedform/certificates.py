"""TrustedForm certificate URLs: strict parsing, so the API key only ever goes to TrustedForm.

ActiveProspect's rule: never send the key unless the URL starts with https://cert.trustedform.com.
Public validators get this wrong (unescaped regex dots, unanchored host checks, ``startswith``);
here the URL is parsed, every part is checked exactly, and the URL we use is rebuilt from the id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

CERT_HOST = "cert.trustedform.com"
PING_HOST = "ping.trustedform.com"
CANONICAL_BASE = f"https://{CERT_HOST}"
MAX_ID_LENGTH = 255
MAX_INPUT_LENGTH = 2048

_B64URL = "[A-Za-z0-9_-]"
_ID_FORMS = (
    ("web", re.compile(r"[0-9a-fA-F]{40}")),
    ("mobile", re.compile(f"{_B64URL}{{80}}")),
    ("meta", re.compile(rf"0\.{_B64URL}+\.{_B64URL}+\.{_B64URL}+")),
)
# Whitespace, controls, backslashes and percent-escapes have no place in a certificate URL and are
# how parsers are made to disagree about the host.
_FORBIDDEN_CHARS = re.compile(r"[\s\x00-\x1f\x7f\\%]")


class CertificateKind(StrEnum):
    WEB = "web"
    MOBILE = "mobile"
    META = "meta"


class InvalidCertificateUrl(ValueError):
    """The vendor's certificate URL is not one we may send the API key to."""

    reason = "invalid_certificate_url"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CertificateRef:
    cert_id: str
    kind: CertificateKind

    @property
    def url(self) -> str:
        """The canonical certificate URL, rebuilt from the validated id."""
        return f"{CANONICAL_BASE}/{self.cert_id}"


def parse_certificate_url(raw: str) -> CertificateRef:
    """Validate a vendor's certificate URL and return the certificate it names.

    Accepts a comma-separated list (first non-empty entry), http (upgraded to https), and drops the
    query (share URLs carry ``?shared_token=``) and fragment. Everything else must be exact.
    """
    if not isinstance(raw, str):
        raise InvalidCertificateUrl("certificate URL must be a string")
    candidate = _first_entry(raw)
    if len(candidate) > MAX_INPUT_LENGTH:
        raise InvalidCertificateUrl("certificate URL is too long")
    url_part = candidate.split("#", 1)[0].split("?", 1)[0]
    if _FORBIDDEN_CHARS.search(url_part):
        raise InvalidCertificateUrl("certificate URL contains forbidden characters")
    try:
        parts = urlsplit(url_part)
    except ValueError as exc:
        raise InvalidCertificateUrl("certificate URL cannot be parsed") from exc
    if parts.scheme.lower() not in ("https", "http"):
        raise InvalidCertificateUrl("certificate URL must use https")
    _check_authority(parts.netloc, parts.scheme.lower())
    return _parse_id(parts.path)


def _first_entry(raw: str) -> str:
    for entry in raw.split(","):
        if entry.strip():
            return entry.strip()
    raise InvalidCertificateUrl("certificate URL is empty")


def _check_authority(netloc: str, scheme: str) -> None:
    authority = netloc.lower()
    if "@" in authority:
        raise InvalidCertificateUrl("certificate URL must not carry user information")
    host, _, port = authority.partition(":")
    if host == PING_HOST:
        raise InvalidCertificateUrl("ping certificates cannot be retained")
    if host != CERT_HOST:
        raise InvalidCertificateUrl(f"certificate host must be {CERT_HOST}")
    allowed_ports = {"", "443"} if scheme == "https" else {""}
    if port not in allowed_ports:
        raise InvalidCertificateUrl("certificate URL must not name a port")


def _parse_id(path: str) -> CertificateRef:
    if not path.startswith("/") or "/" in path[1:]:
        raise InvalidCertificateUrl("certificate URL must have exactly one path segment")
    cert_id = path[1:]
    if not cert_id or len(cert_id) > MAX_ID_LENGTH:
        raise InvalidCertificateUrl("certificate id is missing or too long")
    for kind, pattern in _ID_FORMS:
        if pattern.fullmatch(cert_id):
            normalised = cert_id.lower() if kind == "web" else cert_id
            return CertificateRef(cert_id=normalised, kind=CertificateKind(kind))
    raise InvalidCertificateUrl("certificate id is not a web, mobile or Meta certificate id")
