"""What a hostile vendor can send, as hypothesis strategies, and the checks every answer must pass.

Shared by the hostile properties (tests/hostile/test_*.py) and bench/hostile.py (which runs the same
properties under the ``bench`` profile and prints what :data:`STATS` counted).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from tf_retainer.api.parsing import FORM, JSON
from tf_retainer.domain.models import Reason
from tf_retainer.providers.trustedform.certificates import CANONICAL_BASE

from tests.support.stack import TF_API_KEY

# ------------------------------------------------------------------------------------------ budget

# Stack-level properties run the profile's max_examples; parse-level ones (no I/O) PARSE_FACTOR times as
# many. `make test` uses "hostile"; bench/hostile.py sets HYPOTHESIS_PROFILE=bench.
PARSE_FACTOR = 12
PROFILES = {"hostile": 100, "bench": 2000}
_COMMON = settings(
    deadline=None,
    derandomize=True,  # the same cases on every run: CI stays stable, a failure reproduces
    database=None,  # nothing written into the shared tree
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
for _name, _examples in PROFILES.items():
    settings.register_profile(_name, _COMMON, max_examples=_examples)


def profile_name() -> str:
    name = os.environ.get("HYPOTHESIS_PROFILE", "hostile")
    return name if name in PROFILES else "hostile"


def stack_budget() -> settings:
    return settings(settings.get_profile(profile_name()))


def parse_budget() -> settings:
    profile = settings.get_profile(profile_name())
    return settings(profile, max_examples=profile.max_examples * PARSE_FACTOR)


# ------------------------------------------------------------------------------------------ stats

STATS: dict[str, Counter[str]] = {}
OUTBOUND = "outbound (whole test)"
_stats_lock = threading.Lock()


def record(prop: str, outcome: str, n: int = 1) -> None:
    with _stats_lock:
        STATS.setdefault(prop, Counter())[outcome] += n


def describe(response: Any) -> str:
    """'<status> <reason or lead status>' of any response, however broken (recorded before it is checked)."""
    try:
        answer = json.loads(response.body)
        label = answer.get("reason") or answer.get("status") if isinstance(answer, dict) else None
    except ValueError:
        label = "(not JSON)"
    return f"{response.status} {label}"


# ------------------------------------------------------------------------------------------ secrets

SECRETS = (TF_API_KEY, base64.b64encode(f"API:{TF_API_KEY}".encode()).decode())
# Answers that refuse the input before anything is reserved or sent: nothing may reach TrustedForm.
INPUT_REFUSALS = frozenset(
    {
        Reason.INVALID_REQUEST,
        Reason.INVALID_CERTIFICATE_URL,
        Reason.MISSING_CONTACT,
        Reason.UNSUPPORTED_MEDIA_TYPE,
        Reason.PAYLOAD_TOO_LARGE,
        Reason.LEAD_ID_CONFLICT,
        Reason.CERTIFICATE_REUSED,  # decided at the reservation, before any call
    }
)
REASONS = frozenset(reason.value for reason in Reason)


# ------------------------------------------------------------------------------------------ the guard


@dataclass
class Outbound:
    """Every connection, name lookup and HTTP request the service made while the guard was on."""

    allowed: tuple[str, int]
    connects: list[Any] = field(default_factory=list)
    lookups: list[Any] = field(default_factory=list)
    requests: list[tuple[str, bool]] = field(default_factory=list)  # (url, carried Authorization)

    def off_host(self) -> list[str]:
        bad = [f"connect {addr!r}" for addr in self.connects if not self._ok(addr)]
        bad += [f"lookup {host!r}" for host in self.lookups if host not in (self.allowed[0], "localhost")]
        base = f"http://{self.allowed[0]}:{self.allowed[1]}/"
        bad += [f"http {url}" for url, _ in self.requests if not url.startswith(base)]
        return bad

    def _ok(self, addr: Any) -> bool:
        return isinstance(addr, tuple) and len(addr) >= 2 and (addr[0], addr[1]) == self.allowed


@contextmanager
def outbound_guard(simulator_url: str) -> Iterator[Outbound]:
    """Record (and refuse) any socket connection other than to the simulator; record every httpx request.

    moto intercepts AWS calls in-process, so the simulator is the only thing the service may reach."""
    url = httpx.URL(simulator_url)
    seen = Outbound(allowed=(url.host, url.port or 80))
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo, real_send = socket.getaddrinfo, httpx.Client.send

    def connect(sock: socket.socket, address: Any) -> Any:
        seen.connects.append(address)
        if not seen._ok(address):
            raise ConnectionRefusedError(f"hostile suite: connection to {address!r} refused")
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> Any:
        seen.connects.append(address)
        if not seen._ok(address):
            return 111
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.lookups.append(host)
        if host not in (seen.allowed[0], "localhost"):
            raise socket.gaierror(f"hostile suite: lookup of {host!r} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    def send(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> Any:
        seen.requests.append((str(request.url), "authorization" in request.headers))
        return real_send(client, request, **kwargs)

    socket.socket.connect = connect  # type: ignore[assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[assignment]
    socket.getaddrinfo = getaddrinfo
    httpx.Client.send = send  # type: ignore[assignment]
    try:
        yield seen
    finally:
        socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo
        httpx.Client.send = real_send  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------------ posting


def post_raw(stack: Any, prop: str, raw: bytes, content_type: str | None, *, header: str = "Content-Type") -> Any:
    """POST /leads through the gateway and the real handlers (content_type None: no such header), the
    outcome counted under ``prop``: '<status> <reason>', or 'exception <type>'."""
    headers = {"x-api-key": stack.vendor_key}
    if content_type is not None:
        headers[header] = content_type
    try:
        response = stack.gateway.handle("POST", "/leads", headers, raw)
    except Exception as exc:
        record(prop, f"exception {type(exc).__name__}")
        raise
    record(prop, describe(response))
    return response


@dataclass
class Verdict:
    status: int
    reason: str | None
    answer: Any
    sent: list[dict[str, Any]]  # what the simulator received for this post


def check_answer(stack: Any, response: Any, sent_before: int) -> Verdict:
    """The properties every answer to every body must have. Returns what was checked, for the caller."""
    assert response.status < 500, f"5xx: {response.status} {response.body[:500]!r}"
    text = response.body.decode("utf-8")
    headers = json.dumps(response.headers)
    for secret in SECRETS:
        assert secret not in text, "the TrustedForm API key is in the answer"
        assert secret not in headers, "the TrustedForm API key is in the answer's headers"
    answer = json.loads(text)
    assert isinstance(answer, dict), answer
    sent = stack.sim.requests[sent_before:]
    reason = answer.get("reason")
    if 400 <= response.status < 500:
        assert isinstance(reason, str) and reason in REASONS, f"a {response.status} without a reason: {answer}"
        if response.status in (400, 409, 413, 415) or reason in INPUT_REFUSALS:
            assert sent == [], f"{response.status} {reason} yet TrustedForm was called: {sent}"
    else:
        assert response.status in (200, 201, 202), answer
    for request in sent:  # whatever did reach TrustedForm named a certificate we accepted
        assert request["path"] == f"/{request['cert_id']}", request["path"]
        assert answer.get("cert_id") == request["cert_id"], (answer, request["path"])
    if answer.get("cert_id") is not None:
        assert answer.get("certificate_url") in (None, f"{CANONICAL_BASE}/{answer['cert_id']}"), answer
    return Verdict(response.status, reason, answer, sent)


# ------------------------------------------------------------------------------------------ certificate ids

HEX = "0123456789abcdefABCDEF"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Bytes first: hypothesis draws them as noise, so most ids are fresh (a repeated id is only certificate_reused).
web_ids = st.one_of(st.binary(min_size=20, max_size=20).map(bytes.hex), st.text(HEX, min_size=40, max_size=40))
mobile_ids = st.one_of(
    st.binary(min_size=60, max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.text(B64URL, min_size=80, max_size=80),
)
_meta_part = st.one_of(
    st.binary(min_size=1, max_size=30).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
    st.text(B64URL, min_size=1, max_size=40),
)
meta_ids = st.builds("0.{}.{}.{}".format, _meta_part, _meta_part, _meta_part)
valid_ids = st.one_of(web_ids, mobile_ids, meta_ids)
LOOKALIKE_DIGITS = "\u0660\u06f0\u0966\uff10\U0001d7ce\u00b9\u2070"  # Arabic-Indic, fullwidth, math, super
almost_ids = st.one_of(
    st.text(HEX, min_size=38, max_size=42),
    st.text(B64URL, min_size=78, max_size=82),
    st.builds(
        lambda i, c, at: i[:at] + c + i[at + 1 :], web_ids, st.sampled_from("gG" + LOOKALIKE_DIGITS), st.integers(0, 39)
    ),
    st.builds("0.{}.{}".format, st.text(B64URL, min_size=1), st.text(B64URL, min_size=1)),
    st.builds("0.{}.{}.{}.{}".format, *(st.text(B64URL, min_size=0, max_size=5) for _ in range(4))),
    st.just("0." + "a" * 300 + ".b.c"),
    st.text(max_size=50),
)
cert_ids = st.one_of(valid_ids, valid_ids, valid_ids, almost_ids)

# Through the stack a certificate id can be retained once: later posts of it are only certificate_reused,
# and hypothesis repeats ids a lot. Stack-level URLs carry these markers instead, each replaced by a fresh
# id when posted (always fresh, so a replayed example behaves the same).
ID_MARKERS = ("feedfacecafebeef" * 2 + "deadbeef", "MOBILEmark" * 8, "0.METAmarkA.METAmarkB.METAmarkC")
_markers = st.sampled_from(ID_MARKERS)
marked_ids = st.one_of(_markers, _markers, _markers, almost_ids)
_fresh = itertools.count()


def _fresh_id(marker: str) -> str:
    seed = hashlib.sha512(f"{os.getpid()}-{next(_fresh)}".encode()).digest()
    if marker == ID_MARKERS[0]:
        return seed[:20].hex()
    if marker == ID_MARKERS[1]:
        return base64.urlsafe_b64encode(seed[:60]).decode()
    b64 = base64.urlsafe_b64encode(seed).decode().rstrip("=")
    return f"0.{b64[:20]}.{b64[20:50]}.{b64[50:80]}"


def freshen(raw: str) -> str:
    """``raw`` with every id marker replaced by a certificate id never used before."""
    for marker in ID_MARKERS:
        while marker in raw:
            raw = raw.replace(marker, _fresh_id(marker), 1)
    return raw


def freshen_bytes(raw: bytes) -> bytes:
    for marker in ID_MARKERS:
        while marker.encode() in raw:
            raw = raw.replace(marker.encode(), _fresh_id(marker).encode(), 1)
    return raw


# ------------------------------------------------------------------------------------------ URLs

SCHEMES = (
    "https", "http", "HTTPS", "HtTp", "ftp", "javascript", "data", "file", "wss", "", "https:", "h\tttps",
    "\uff48ttps",
)  # fmt: skip
SEPARATORS = ("://", "://", "://", ":/", ":", ":///", ":\\\\", "://\\", ":/\\", "//", "", ":\\/")
USERINFO = (
    "", "", "", "user@", "user:pass@", "cert.trustedform.com@", "@", ":@", "evil.com@", "%40@", "a\\@", "\uff20",
)  # fmt: skip
HOSTS = (
    "cert.trustedform.com",
    "cert.trustedform.com",
    "CERT.TRUSTEDFORM.COM",
    "Cert.TrustedForm.Com",
    "cert.trustedform.com.",
    "cert.trustedform.com..",
    ".cert.trustedform.com",
    "cert.trustedform.com.evil.com",
    "cert.trustedform.com@evil.com",
    "evil.com#cert.trustedform.com",
    "evil.com?cert.trustedform.com",
    "evil.com\\cert.trustedform.com",
    "evil.com",
    "ping.trustedform.com",
    "PING.trustedform.com",
    "cert.staging.trustedform.com",
    "cert-trustedform.com",
    "certxtrustedform.com",
    "cert.trustedform.co",
    "trustedform.com",
    "cert.trustedform.com\\@evil.com",
    "cert.trustedform.com%2eevil.com",
    "cert%2etrustedform%2ecom",
    "%63ert.trustedform.com",
    "cert.trustedf\u043erm.com",  # Cyrillic o
    "cert.trustedform.\u0441om",  # Cyrillic es
    "\uff43ert.trustedform.com",  # fullwidth c
    "cert\u3002trustedform\u3002com",  # ideographic full stops (IDNA maps them to dots)
    "cert\uff0etrustedform\uff0ecom",  # fullwidth full stops
    "cert.trustedform.com\u200b",  # zero-width space
    "cert.truste\u0064\u0307form.com",
    "xn--cert-9ja.trustedform.com",
    "cert.trustedform.com\x00.evil.com",
    "cert.trustedform.com\t",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[0:0:0:0:0:ffff:7f00:1]",
    "[cert.trustedform.com]",
    "[::1]:443",
    "127.0.0.1",
    "2130706433",
    "0x7f.1",
    "localhost",
    "",
)
PORTS = (
    "", "", "", ":443", ":80", ":8443", ":", ":0443", ":443 ", ":+443", ":-1", ":65536", ":99999999999",
    ":\uff14\uff14\uff13", ":443:443", ":https",
)  # fmt: skip
PATH_PREFIXES = (
    "/", "/", "/", "//", "/../", "/./", "/%2e%2e/", "/..%2f", "/evil.com/", "\\", "/cert.trustedform.com/", "",
    "/;/",
)  # fmt: skip
PATH_SUFFIXES = ("", "", "", "/", "/..", "%2f..", "/extra", ";x", "..", "\x00", "%00", "/#", "?")
QUERIES = ("", "", "?shared_token=abc123", "?", "?u=https://evil.com/", "?@evil.com", "?#", "?a=b&c=%2F")
FRAGMENTS = ("", "", "#", "#cert.trustedform.com", "#@evil.com", "#replay", "#/../x")
SURROUNDINGS = ("", "", "", " ", "\t", ",", ", ,", "\ufeff", "\n")
INSERTIONS = (
    "@", "#", "?", "/", "\\", "%", ":", ".", "[", "]", " ", "\x00", "\n", "\r\n", "\u3002", "\uff0e", "\uff20",
    "\u2100", "\u2048", "%40", "%2f", "%23", "%2e", ",", ";", "\u0130", "\u212a", "\u00ad", "\u200d", "..", "//",
)  # fmt: skip


def _mostly(draw: st.DrawFn, good: str, odd: tuple[str, ...], percent_good: int = 85) -> str:
    """The good component most of the time, so that most URLs are one or two mistakes from valid."""
    return good if draw(st.integers(0, 99)) < percent_good else draw(st.sampled_from(odd))


@st.composite
def hostile_urls(draw: st.DrawFn, *, surrogates: bool = True, ids: st.SearchStrategy[str] = cert_ids) -> str:
    """A certificate URL as a hostile or careless vendor might write it: mostly one or two mistakes away
    from a valid one, sometimes anything at all."""
    shape = draw(st.integers(0, 9))  # hypothesis favours 0: the commonest shape gets it, the rarest 9
    if shape == 9:  # anything at all
        alphabet = st.characters(exclude_categories=()) if surrogates else st.characters(exclude_categories=["Cs"])
        return draw(st.text(alphabet, max_size=200))
    url = (
        _mostly(draw, draw(st.sampled_from(("https", "http"))), SCHEMES)
        + _mostly(draw, "://", SEPARATORS)
        + _mostly(draw, "", USERINFO)
        + _mostly(draw, "cert.trustedform.com", HOSTS, 75)
        + _mostly(draw, "", PORTS)
        + _mostly(draw, "/", PATH_PREFIXES)
        + draw(ids)
        + _mostly(draw, "", PATH_SUFFIXES)
        + _mostly(draw, "", QUERIES, 70)
        + _mostly(draw, "", FRAGMENTS, 70)
    )
    if shape in (1, 2):  # a few characters inserted anywhere
        for at, piece in draw(st.lists(st.tuples(st.integers(0, len(url)), st.sampled_from(INSERTIONS)), max_size=3)):
            url = url[:at] + piece + url[at:]
    if shape == 3:  # case flipped anywhere
        flips = draw(st.lists(st.integers(0, max(len(url) - 1, 0)), max_size=8))
        chars = list(url)
        for at in flips:
            if chars:
                chars[at] = chars[at].swapcase()
        url = "".join(chars)
    if shape == 4:  # a list: only the first non-empty entry counts
        url = url + "," + draw(hostile_urls(surrogates=surrogates, ids=ids))
    if shape == 5:  # percent-encoded, in part or in full
        safe = draw(st.sampled_from(("", "/", ":/", ":/?#@", ":/.")))
        start = draw(st.integers(0, len(url)))
        url = url[:start] + quote(url[start:], safe=safe)
    return _mostly(draw, "", SURROUNDINGS, 70) + url + _mostly(draw, "", SURROUNDINGS, 70)


@st.composite
def accepted_variants(draw: st.DrawFn) -> tuple[str, str]:
    """(a URL every vendor may send, the id it names): the forms parse_certificate_url documents as valid."""
    cert_id = draw(valid_ids)
    scheme = draw(st.sampled_from(("https", "http")))
    scheme = "".join(c.upper() if draw(st.booleans()) else c for c in scheme)
    host = "".join(c.upper() if draw(st.booleans()) else c for c in "cert.trustedform.com")
    port = draw(st.sampled_from(("", ":443"))) if scheme.lower() == "https" else ""
    query = draw(st.sampled_from(("", "?shared_token=abc123", "?a=1&b=%2F")))
    fragment = draw(st.sampled_from(("", "#replay", "#")))
    before = draw(st.sampled_from(("", " ", ",", " , ")))
    after = draw(st.sampled_from(("", " ", ",", ",https://evil.com/x")))
    url = f"{before}{scheme}://{host}{port}/{cert_id}{query}{fragment}{after}"
    return url, cert_id.lower() if re.fullmatch("[0-9a-fA-F]{40}", cert_id) else cert_id


# ------------------------------------------------------------------------------------------ JSON text

KNOWN_FIELDS = ("trustedform_cert_url", "xxTrustedFormCertUrl", "email", "phone", "lead_id")
LIMITS = (0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 253, 254, 255, 2047, 2048, 2049, 4095, 4096, 4097)
SURROGATE_ESCAPES = st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}")


def _dumps(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


json_numbers = st.one_of(
    st.integers().map(str),
    st.integers(-(10**60), 10**60).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        (
            "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "1e-131", "1e-130", "1e125", "1e126",
            "-0", "-0.0", "0e0", "1E+2", "12345678901234567890123456789012345678",
            "123456789012345678901234567890123456789",
            "9" * 4300, "1" + "0" * 40, "0." + "0" * 200 + "1", "5e-324", "1.7976931348623157e308",
        )
    ),
    st.builds("{}e{}".format, st.integers(-(10**5), 10**5), st.integers(-500, 500)),
    st.builds("{}.{}".format, st.integers(0, 10**40), st.integers(0, 10**40)),
)  # fmt: skip

json_strings = st.one_of(
    st.builds(_dumps, st.text(), st.booleans()),
    st.builds(_dumps, st.text(st.characters(max_codepoint=0x7F)), st.booleans()),
    # lone surrogates written as escapes, as other JSON encoders happily produce
    st.lists(st.one_of(st.text(max_size=5).map(lambda t: _dumps(t, True)[1:-1]), SURROGATE_ESCAPES), max_size=6).map(
        lambda parts: '"' + "".join(parts) + '"'
    ),
    st.builds(
        lambda n, c: _dumps(c * n, False),
        st.sampled_from(LIMITS),
        st.sampled_from(("a", "\u00e9", "\U0001f600", " ", "0", "%")),
    ),
    st.sampled_from(('"\\ud800\\udc00"', '"\\u0000"', '"\\udbff"', '"a\\udc00b"')),
)  # fmt: skip
# Not JSON at all, or not JSON Python reads: a few of these make a document malformed.
BROKEN_TOKENS = (
    "-NaN", "01", "1.", ".5", "+1", "0x10", "1_000", "9" * 4301, "True", "nil", "", "undefined",
    '"\\x41"', '"\\u12"', '"\\', '"\x00"', '"\n"', '"abc', "'single'", "[1,]", "{,}", '{"a" 1}',
)  # fmt: skip

json_scalars = st.one_of(st.sampled_from(("null", "true", "false")), json_numbers, json_strings)
json_keys = st.one_of(
    st.sampled_from(KNOWN_FIELDS).map(json.dumps),
    json_strings,
    st.sampled_from(LIMITS[:9]).map(lambda n: json.dumps("k" * n)),
)


def _json_object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"


def _json_array(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5).map(_json_array),
        st.lists(st.tuples(json_keys, children), max_size=5).map(_json_object),
    ),
    max_leaves=12,
)
# Python values hypothesis builds, written by json.dumps (NaN and Infinity included, as json.dumps writes them).
python_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)

good_emails = st.sampled_from(("jane.doe@example.com", "A@b.co", "x" * 64 + "@example.com", "e@" + "d" * 240 + ".com"))
good_phones = st.sampled_from(("(512) 555-1212", "+1 512.555.1212", "5555555", "1" * 32))
lead_ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128)


@st.composite
def _usually(draw: st.DrawFn, good: st.SearchStrategy[str], odd: st.SearchStrategy[str]) -> str:
    return draw(good) if draw(st.integers(0, 9)) < 9 else draw(odd)


@st.composite
def cert_url_texts(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 3)) < 3:
        return json.dumps(f"https://cert.trustedform.com/{draw(st.one_of(marked_ids, valid_ids))}")
    return json.dumps(draw(hostile_urls(ids=st.one_of(marked_ids, cert_ids))))


@st.composite
def nested(draw: st.DrawFn) -> str:
    depth = draw(st.sampled_from((1, 10, 100, 900, 1000, 5000, 20000, 32000)))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return "[" * depth + "]" * depth
    if kind == 1:
        return '{"a":' * depth + "1" + "}" * depth
    if kind == 2:
        return "[" * depth  # never closed
    return '[{"x":' * (depth // 2) + "null" + "}]" * (depth // 2)


@st.composite
def lead_documents(draw: st.DrawFn) -> str:
    """A JSON object shaped like a lead: each known field right, wrong-typed, odd or absent, extra fields of
    every shape, keys repeated."""
    pairs: list[tuple[str, str]] = []
    field_values: dict[str, st.SearchStrategy[str]] = {
        "trustedform_cert_url": cert_url_texts(),
        "xxTrustedFormCertUrl": cert_url_texts(),
        "email": _usually(good_emails.map(json.dumps), json_strings),
        "phone": _usually(good_phones.map(json.dumps), json_strings),
        "lead_id": _usually(lead_ids.map(json.dumps), json_strings),
    }  # fmt: skip
    for name in KNOWN_FIELDS:
        if name == "xxTrustedFormCertUrl" and draw(st.integers(0, 3)) < 3:
            continue  # the form's field name: now and then, alone or beside trustedform_cert_url
        choice = draw(st.integers(0, 24))
        if choice <= 19:  # right, most of the time: so that most leads get past the first problem
            pairs.append((json.dumps(name), draw(field_values[name])))
        elif choice == 20:  # a value of any other type
            pairs.append((json.dumps(name), draw(json_values)))
        elif choice == 21:  # given twice: the last one wins in json.loads
            pairs.append((json.dumps(name), draw(st.one_of(field_values[name], json_values))))
            pairs.append((json.dumps(name), draw(field_values[name])))
        elif choice == 22:
            pairs.append((json.dumps(name), draw(json_strings)))
    extras = draw(st.sampled_from((0, 0, 0, 1, 3, 10, 99, 100, 101, 120)))
    if extras > 10:
        pairs += [(json.dumps(f"f{i}"), json.dumps(i)) for i in range(extras)]
    else:
        pairs += draw(st.lists(st.tuples(json_keys, json_values), min_size=extras, max_size=extras))
    if draw(st.integers(0, 9)) == 9:
        pairs.append((json.dumps("deep"), draw(nested())))
    if draw(st.integers(0, 11)) == 11:
        pairs.append((draw(json_keys), draw(st.sampled_from(BROKEN_TOKENS))))
    pairs = draw(st.permutations(pairs))
    return _json_object(pairs)


@st.composite
def json_documents(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        text = draw(lead_documents())
    elif kind == 6:
        text = draw(st.one_of(json_values, python_json.map(json.dumps)))
    elif kind == 7:
        text = draw(nested())
    elif kind == 8:  # a lead padded to just around the body limit (64 KiB)
        doc = draw(lead_documents())
        target = draw(st.sampled_from((65535, 65536, 65537, 70000)))
        text = doc + " " * max(0, target - len(doc.encode("utf-8", "surrogatepass")))
    else:
        text = draw(lead_documents())
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(("", "}", ",", "]", "\x00", "//", "/*", "\ufeff")))
    if draw(st.integers(0, 9)) == 9:
        text = draw(st.sampled_from(("\ufeff", " \n\t", "\x00", ")]}',\n"))) + text
    return text


def encode(text: str) -> bytes:
    """UTF-8, lone surrogates included (as a careless encoder writes them: not UTF-8 any more)."""
    return text.encode("utf-8", "surrogatepass")


# ------------------------------------------------------------------------------------------ form bodies

form_names = st.one_of(
    st.sampled_from(KNOWN_FIELDS), st.text(max_size=70), st.sampled_from(("", "=", "&", "+", "%", "a[b]", "a.b"))
)
form_values = st.one_of(
    st.builds(lambda i: f"https://cert.trustedform.com/{i}", st.one_of(marked_ids, valid_ids)),
    hostile_urls(ids=st.one_of(marked_ids, cert_ids)),
    good_emails,
    good_phones,
    st.text(),
    st.builds(lambda n, c: c * n, st.sampled_from(LIMITS), st.sampled_from(("a", "\u00e9", "1", "%"))),
)
RAW_ESCAPES = (
    "%", "%2", "%zz", "%e9", "%ff%fe", "%c0%af", "%ed%a0%80", "%00", "+", "%2B", "%26", "%3D", "&&", ";", "==",
)  # fmt: skip


def _quote(text: str, how: int) -> str:
    if how == 0:
        return quote(text, safe="")
    if how == 1:
        return quote(text, safe="/:@?#,=&").replace("%20", "+")
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")  # raw, & and = unescaped


@st.composite
def form_bodies(draw: st.DrawFn) -> str:
    fields = draw(st.lists(st.tuples(form_names, form_values), max_size=8))
    if draw(st.booleans()):
        fields.insert(0, ("xxTrustedFormCertUrl", f"https://cert.trustedform.com/{draw(st.sampled_from(ID_MARKERS))}"))
        fields.append((draw(st.sampled_from(("email", "phone"))), draw(st.one_of(good_emails, good_phones))))
    if draw(st.integers(0, 4)) == 4:  # repeated fields: the first value wins
        fields += draw(st.lists(st.tuples(st.sampled_from(KNOWN_FIELDS), form_values), max_size=4))
    how = draw(st.integers(0, 2))
    parts = [f"{_quote(name, how)}={_quote(value, how)}" for name, value in fields]
    for _ in range(draw(st.integers(0, 3))):
        parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(RAW_ESCAPES)))
    body = draw(st.sampled_from(("&", "&", ";", "&&"))).join(parts)
    if draw(st.integers(0, 9)) == 9:
        body += "&pad=" + "x" * draw(st.sampled_from((60000, 65530, 66000)))
    return body


# ------------------------------------------------------------------------------------------ content types

CONTENT_TYPES = (
    JSON, FORM, "APPLICATION/JSON", "application/json; charset=utf-8", "application/json;charset=latin-1",
    " application/json ", "application/json\x00", "application/jsonp", "application/json-patch+json",
    "application/x-www-form-urlencoded; charset=UTF-8", "application/x-www-form-urlencoded;;;", "text/plain",
    "text/json", "multipart/form-data; boundary=x", "application/*", "*/*", "", ";", "application/json;" + "a" * 5000,
    "appl\u0131cation/json", "application/\u017fon",
)  # fmt: skip
content_types = st.one_of(st.sampled_from(CONTENT_TYPES), st.none(), st.text(max_size=40))


# ------------------------------------------------------------------------------------------ raw bodies


def _recode(text: str, codec: str) -> bytes:
    return text.encode(codec, "replace")


raw_bodies = st.one_of(
    st.builds(encode, json_documents()),
    st.builds(encode, form_bodies()),
    st.binary(max_size=300),
    st.just(b""),
    st.builds(_recode, lead_documents(), st.sampled_from(("latin-1", "utf-16", "utf-16-be", "utf-32", "cp1252"))),
    st.builds(
        lambda doc, junk, at: encode(doc)[:at] + junk + encode(doc)[at:],
        lead_documents(),
        st.sampled_from((b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82")),
        st.integers(0, 500),
    ),
    st.builds(lambda doc: b"\xef\xbb\xbf" + encode(doc), lead_documents()),
)
