"""A TrustedForm Certificate API v4 simulator served over real HTTP (standard library only).

It follows TrustedForm's published v4 API description, as kept in this repository: the request and
answer structure in ``tests/contract/trustedform_v4.json`` (the tests check the simulator against it),
the facts in ``docs/trustedform.md``. ``POST /{cert_id}`` runs the operations ``match_lead``, ``retain``,
``insights`` and ``verify``; ``GET /{cert_id}`` answers HTML and retains nothing. Every answer the
real service may give (and a few it may not) can be chosen per request or scripted per certificate:

* per request: header ``X-Simulator-Behaviour: <name>`` (takes precedence, does not consume a script);
* per certificate: ``TrustedFormSimulator.script(cert_id, [...])`` or
  ``POST /_simulator/certificates/{cert_id}`` with ``{"behaviours": [...]}``; one behaviour is consumed
  per POST that passes request validation, the last one repeats (scripting again without behaviours
  keeps them).

Behaviour names: see ``BEHAVIOURS`` (plus ``slow:<seconds>`` and ``throttled:<retry-after seconds>``).

Session facts (``SessionFacts``; unscripted: a good, fresh, human, typed lead with approved consent
language) drive the insights and verify answers, per certificate::

    sim.script(cert_id, created_at="2025-01-01T00:00:00Z", bot_detected=True,
               form_input_method=["paste"], domain="leads.example.net", page_text="... I agree ...",
               font_size_px=9, one_to_one_advertisers=["Acme Inc"], form_submitted=False)
    POST /_simulator/certificates/{cert_id}
        {"created_at": "...", "facts": {"bot_detected": true, "form_input_method": ["paste"], ...}}

Insights facts: ``bot_detected``, ``form_input_method`` (autofill, paste, typing, pre-populated),
``domain``, ``page_url``, ``parent_page_url``, ``is_framed``, ``confirmed_owner``, ``seconds_on_page``,
``ip`` -> the property of that name; ``created_at`` -> ``created_at``, ``age_seconds``, ``expires_at``;
``page_text`` -> ``scans.result`` (terms are plain case-insensitive substrings; ``delimiter`` is echoed
only). Verify facts: ``consent_languages`` -> ``languages[].text``; ``language_approved``,
``form_submitted`` -> the result of that name; ``font_size_px`` / ``contrast_ratio`` / ``opt_in_type`` ->
``min_font_size_px_satisfied`` (>= the required size) / ``min_contrast_ratio_satisfied`` /
``opt_in_types_satisfied``; ``one_to_one_advertisers`` -> ``one_to_one`` (``advertiser_name``
normalised, alphanumerics case-insensitively, is in the list; null without an advertiser_name);
``success`` = language approved and every requested check passed. ``form_submitted`` also decides an
unretained web certificate's ``expires_at``: creation + 90 days, or + 72 hours without a submit.

A call without ``retain`` retains nothing. ``sim.operations(cert_id)`` lists the operations answered per
POST, ``sim.retains(cert_id)`` counts the POSTs answered with retain results; each recorded request
carries ``operations`` and ``retained``.

Control endpoints (no auth): ``POST /_simulator/certificates/{cert_id}`` (``behaviours``, ``email``,
``phone``, ``created_at``, ``facts``; each optional, absent ones keep their value; answers the state),
``GET /_simulator/certificates/{cert_id}`` (behaviours, facts, retained, retains, operations),
``GET /_simulator/requests``, ``POST /_simulator/reset``, ``GET /_simulator/health``,
``GET|POST /_simulator/config``.

Standalone: ``python -m local.simulator --host 127.0.0.1 --port 8900 --api-key sim-key [--latency 0.2]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hashlib
import json
import logging
import re
import secrets
import signal
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local.loopback import Answer, LoopbackServer, Request

log = logging.getLogger("tf_retainer.simulator")

CONTROL_PREFIX = "/_simulator/"
BEHAVIOUR_HEADER = "X-Simulator-Behaviour"
MAX_CERT_ID_LENGTH = 255
MAX_BODY_BYTES = 1 << 20
HANG_SECONDS = 30.0
DEFAULT_CREATED_AGE = timedelta(seconds=60)
CERT_LIFETIME = timedelta(days=90)
MASKED_LIFETIME = timedelta(hours=72)
# an unretained web certificate without a detected form submit stays available for 72 hours
UNSUBMITTED_LIFETIME = timedelta(hours=72)
CERT_BASE_URL = "https://cert.trustedform.com/"

_WEB_ID = re.compile(r"[0-9a-f]{40}")
_MOBILE_ID = re.compile(r"[A-Za-z0-9_-]{80}")
_META_ID = re.compile(r"0\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_PHONE_NOISE = re.compile(r"[\s\-.()\[\]]")

MATCH_FAILURE_REASON = "None of the provided fingerprints match"
NO_PRODUCTS_REASON = "No valid products detected"

# Behaviours that answer with an error status: name -> (status, reason).
ERROR_BEHAVIOURS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "Malformed certificate id"),
    "unauthorized": (401, "Incorrect API key"),
    "payment_required": (402, "Account is inactive or out of funds"),
    "forbidden": (403, "Unavailable product requested"),
    "not_found": (404, "TrustedForm certificate has expired or could not be found"),
    "sandbox": (405, "Certificate is not claimable"),
    "gone": (410, "TrustedForm certificate has expired and is pending deletion"),
    "teapot": (418, "I'm a teapot"),
    "claim_limit": (422, "Certificate has been claimed too many times"),
    "throttled": (429, "Too many requests"),
    "server_error": (500, "Internal server error"),
    "bad_gateway": (502, "Bad gateway"),
    "unavailable": (503, "Service unavailable"),
}
# Behaviours that answer 200 with a normal operations result (and retain).
RETAINING_BEHAVIOURS = ("success", "masked", "match_failure")
OTHER_BEHAVIOURS = ("expired_200", "hang", "malformed")
BEHAVIOURS: tuple[str, ...] = RETAINING_BEHAVIOURS + tuple(ERROR_BEHAVIOURS) + OTHER_BEHAVIOURS
PARAMETERISED_BEHAVIOURS = ("slow:<seconds>", "throttled:<retry-after seconds>")

INSIGHTS_PROPERTIES = (
    "age_seconds",
    "approx_ip_geo",
    "bot_detected",
    "confirmed_owner",
    "created_at",
    "domain",
    "expires_at",
    "form_input_kpm",
    "form_input_method",
    "form_input_wpm",
    "ip",
    "is_framed",
    "is_masked",
    "num_sensitive_content_elements",
    "num_sensitive_form_elements",
    "os",
    "page_url",
    "parent_page_url",
    "seconds_on_page",
)
# "browser" is absent from the request enum of TrustedForm's description but documented among its
# properties, in its request example and in WebInsightsResult: accept it.
ACCEPTED_INSIGHTS_PROPERTIES = frozenset((*INSIGHTS_PROPERTIES, "browser"))
OPT_IN_TYPES = frozenset(("manual", "pre-selected", "non-interactive"))
# WebInsightsResult.form_input_method items in TrustedForm's description
FORM_INPUT_METHODS = frozenset(("autofill", "paste", "typing", "pre-populated"))
OPERATIONS = ("match_lead", "retain", "insights", "verify")
DEFAULT_CONSENT_TEXT = "By clicking Submit, I agree to be contacted by Example Co. at the number given."
META_PROPERTIES = frozenset(("age_seconds", "confirmed_owner", "created_at", "expires_at"))


# --------------------------------------------------------------------------------------------------
# certificate ids


def cert_kind(cert_id: str) -> str | None:
    """``web`` (40 lowercase hex, also masked), ``mobile`` (80 URL-safe base64), ``meta`` or None."""
    if len(cert_id) > MAX_CERT_ID_LENGTH:
        return None
    if _WEB_ID.fullmatch(cert_id):
        return "web"
    if _MOBILE_ID.fullmatch(cert_id):
        return "mobile"
    if _META_ID.fullmatch(cert_id):
        return "meta"
    return None


def _b64_chars(n: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(n)).decode().rstrip("=")[:n]


def make_web_cert_id() -> str:
    """A random web certificate id: 40 lowercase hex characters."""
    return secrets.token_hex(20)


def make_mobile_cert_id() -> str:
    """A random mobile app certificate id: 80 characters of URL-safe base64."""
    return _b64_chars(80)


def make_meta_cert_id() -> str:
    """A random Meta Lead Ads certificate id: ``0.`` and three dot-separated URL-safe base64 parts."""
    return f"0.{_b64_chars(32)}.{_b64_chars(64)}.{_b64_chars(48)}"


# --------------------------------------------------------------------------------------------------
# helpers


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str) -> str:
    return _PHONE_NOISE.sub("", value)


def sha1_hex(value: str) -> str:
    return hashlib.sha1(value.encode()).hexdigest()  # noqa: S324 - the API's fingerprint scheme


def _matches(given: str, known: str, normalise) -> bool:
    if given == known or normalise(given) == normalise(known):
        return True
    return bool(_HEX40.fullmatch(given)) and given.lower() == sha1_hex(normalise(known))


def parse_behaviour(name: str) -> tuple[str, float | None]:
    """``(kind, argument)`` for a behaviour name; raises ValueError for an unknown one."""
    name = name.strip()
    kind, sep, arg = name.partition(":")
    if not sep:
        if kind in BEHAVIOURS:
            return kind, None
        if kind == "slow":
            raise ValueError("slow needs a delay: slow:<seconds>")
        raise ValueError(f"unknown behaviour {name!r}")
    if kind not in ("slow", "throttled"):
        raise ValueError(f"unknown behaviour {name!r}")
    try:
        value = float(arg)
    except ValueError:
        raise ValueError(f"bad argument in behaviour {name!r}") from None
    if not (0 <= value <= 3600):
        raise ValueError(f"bad argument in behaviour {name!r}")
    return kind, value


def _is_str_or_str_list(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def validate_request_body(body: Any) -> str | None:
    """Check a body against TrustedForm's request schema (an allOf of the four operation requests; see
    ``tests/contract/trustedform_v4.json``).

    Returns an error message or None. ``retain`` without ``match_lead`` is refused too.
    """
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    if "match_lead" in body:
        match = body["match_lead"]
        if not isinstance(match, dict):
            return "match_lead must be an object"
        if "email" not in match and "phone" not in match:
            return "match_lead requires email and/or phone"
        for key in ("email", "phone"):
            if key in match and not isinstance(match[key], str):
                return f"match_lead.{key} must be a string"
    if "retain" in body:
        retain = body["retain"]
        if not isinstance(retain, dict):
            return "retain must be an object"
        for key in ("reference", "vendor"):
            if key in retain and not isinstance(retain[key], str):
                return f"retain.{key} must be a string"
        if "match_lead" not in body:
            return "match_lead is required when retain is requested"
    if "insights" in body:
        insights = body["insights"]
        if not isinstance(insights, dict):
            return "insights must be an object"
        props = insights.get("properties")
        if not isinstance(props, list):
            return "insights.properties is required and must be an array"
        for prop in props:
            if not isinstance(prop, str) or prop not in ACCEPTED_INSIGHTS_PROPERTIES:
                return f"insights.properties: unknown property {prop!r}"
        if "scans" in insights:
            scans = insights["scans"]
            if not isinstance(scans, dict):
                return "insights.scans must be an object"
            for key in ("required", "forbidden"):
                if key in scans and not _is_str_or_str_list(scans[key]):
                    return f"insights.scans.{key} must be a string or an array of strings"
            if "delimiter" in scans and not isinstance(scans["delimiter"], str):
                return "insights.scans.delimiter must be a string"
    if "verify" in body:
        verify = body["verify"]
        if not isinstance(verify, dict):
            return "verify must be an object"
        if "advertiser_name" in verify and not isinstance(verify["advertiser_name"], str):
            return "verify.advertiser_name must be a string"
        for key in ("min_contrast_ratio_required", "min_font_size_px_required"):
            value = verify.get(key)
            if key in verify and (isinstance(value, bool) or not isinstance(value, int | float)):
                return f"verify.{key} must be a number"
        if "opt_in_types_allowed" in verify:
            types = verify["opt_in_types_allowed"]
            if not isinstance(types, list) or any(t not in OPT_IN_TYPES for t in types):
                return "verify.opt_in_types_allowed must be an array of manual, pre-selected, non-interactive"
    return None


# --------------------------------------------------------------------------------------------------
# state


@dataclass
class SessionFacts:
    """What TrustedForm recorded about a certificate's session: drives its insights and verify answers.

    The defaults are a good lead: human, typed, on example.com, not framed, approved consent language
    that passes any threshold, form submitted. Properties a certificate type does not have stay null
    whatever is scripted (mobile: no bot, browser, page or form-input data; Meta: only the four times
    and confirmed_owner); a masked certificate hides ``domain``, ``page_url`` and ``parent_page_url``.
    """

    bot_detected: bool | None = False
    form_input_method: list[str] | None = field(default_factory=lambda: ["typing"])
    domain: str | None = "example.com"
    page_url: str | None = "https://www.example.com/quote"
    parent_page_url: str | None = None
    is_framed: bool | None = False
    confirmed_owner: str | None = "ActiveProspect Verified Account"
    seconds_on_page: float | None = 95
    ip: str | None = "203.0.113.7"
    # None: every required scan term is found and no forbidden one; a text: terms are looked up in it
    page_text: str | None = None
    consent_languages: list[str] = field(default_factory=lambda: [DEFAULT_CONSENT_TEXT])
    language_approved: bool = True
    font_size_px: float = 16.0
    contrast_ratio: float = 7.0
    opt_in_type: str = "manual"
    # None: one-to-one with any advertiser_name; a list: only with these names (normalised)
    one_to_one_advertisers: list[str] | None = None
    form_submitted: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {name: copy.deepcopy(getattr(self, name)) for name in FACT_NAMES}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# fact -> (check, what it must be)
_FACT_CHECKS: dict[str, tuple[Any, str]] = {
    "bot_detected": (lambda v: v is None or isinstance(v, bool), "a boolean or null"),
    "form_input_method": (
        lambda v: v is None or (_is_str_list(v) and set(v) <= FORM_INPUT_METHODS),
        f"null or an array of {', '.join(sorted(FORM_INPUT_METHODS))}",
    ),
    "domain": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "page_url": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "parent_page_url": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "is_framed": (lambda v: v is None or isinstance(v, bool), "a boolean or null"),
    "confirmed_owner": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "seconds_on_page": (lambda v: v is None or (_is_number(v) and v >= 0), "a number >= 0 or null"),
    "ip": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "page_text": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "consent_languages": (_is_str_list, "an array of strings"),
    "language_approved": (lambda v: isinstance(v, bool), "a boolean"),
    "font_size_px": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "contrast_ratio": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "opt_in_type": (lambda v: v in OPT_IN_TYPES, f"one of {', '.join(sorted(OPT_IN_TYPES))}"),
    "one_to_one_advertisers": (lambda v: v is None or _is_str_list(v), "null or an array of strings"),
    "form_submitted": (lambda v: isinstance(v, bool), "a boolean"),
}
FACT_NAMES: tuple[str, ...] = tuple(_FACT_CHECKS)


def check_facts(facts: Any) -> dict[str, Any]:
    """The facts, checked (unknown names and wrong types raise ValueError); lists copied."""
    if not isinstance(facts, dict):
        raise ValueError("facts must be an object")
    checked: dict[str, Any] = {}
    for name, value in facts.items():
        if name not in _FACT_CHECKS:
            raise ValueError(f"unknown fact {name!r} (known: {', '.join(FACT_NAMES)}, created_at)")
        check, wanted = _FACT_CHECKS[name]
        if not check(value):
            raise ValueError(f"fact {name} must be {wanted}")
        checked[name] = list(value) if isinstance(value, list) else value
    return checked


def normalise_advertiser(name: str) -> str:
    """Case-insensitive, alphanumerics only: ``Acme, Inc.`` and ``acme inc`` are the same advertiser."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


@dataclass
class _Certificate:
    behaviours: list[str] = field(default_factory=list)
    email: str | None = None
    phone: str | None = None
    created_at: datetime | None = None
    retained: bool = False
    facts: SessionFacts = field(default_factory=SessionFacts)

    def next_behaviour(self) -> str:
        if not self.behaviours:
            return "success"
        if len(self.behaviours) > 1:
            return self.behaviours.pop(0)
        return self.behaviours[0]


def _json_answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(payload).encode(), "application/json", headers or {})


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> Answer:
    payload: dict[str, Any] = {"outcome": "error", "reason": reason}
    if status == 400:  # TrustedForm's BadRequest schema requires these too
        payload.update(message=reason, errors={"detail": reason})
    return _json_answer(status, payload, headers)


class TrustedFormSimulator:
    """An in-process TrustedForm Certificate API v4 on a real socket.

    ``start()`` returns the base URL (``http://127.0.0.1:<port>``); ``stop()`` ends it (also on
    ``with``). State (retained ids, scripts, recorded requests) survives stop/start; ``reset()``
    clears it.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = ("sim-key",),
        latency: float = 0.0,
        retry_after: int = 2,
    ) -> None:
        self.host = host
        self.port = port
        self._lock = threading.RLock()
        self._api_keys = frozenset(api_keys)
        self._latency = float(latency)
        self.retry_after = retry_after
        self._certs: dict[str, _Certificate] = {}
        self._requests: list[dict[str, Any]] = []
        self._server: _Server | None = None
        self._stopping = threading.Event()
        self.base_url: str | None = None

    # -- configuration -----------------------------------------------------------------------------
    @property
    def api_keys(self) -> frozenset[str]:
        with self._lock:
            return self._api_keys

    @api_keys.setter
    def api_keys(self, keys: Iterable[str]) -> None:
        if isinstance(keys, str):
            keys = (keys,)
        with self._lock:
            self._api_keys = frozenset(keys)

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = max(0.0, float(seconds))

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> str:
        if self._server is not None:
            return self.base_url or ""
        self._stopping = threading.Event()
        self._server = _Server(
            (self.host, self.port), self._answer, "TrustedFormSimulator/1.0", max_body=MAX_BODY_BYTES
        )
        self.base_url = self._server.serve("tf-simulator")
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes slow/hang/latency sleeps
        server.stop()

    def __enter__(self) -> TrustedFormSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection ------------------------------------------------------------------
    def script(
        self,
        cert_id: str,
        behaviours: Iterable[str] | str | None = None,
        email: str | None = None,
        phone: str | None = None,
        created_at: datetime | str | None = None,
        facts: dict[str, Any] | None = None,
        **more_facts: Any,
    ) -> None:
        """Script a certificate: behaviours consumed one per POST (the last repeats; None keeps the
        current ones, a list replaces them), the consumer's email/phone recorded on it (for lead
        matching), its creation time, and session facts (``SessionFacts``: ``facts={...}`` and/or keyword
        arguments, e.g. ``bot_detected=True, form_input_method=["paste"]``). Facts not named keep their
        current (or default) values; ``created_at`` may be given among the facts too.

        Raises ValueError for an invalid id, an unknown behaviour or a bad fact (nothing is changed)."""
        if cert_kind(cert_id) is None:
            raise ValueError("not a valid certificate id")
        names = None if behaviours is None else [behaviours] if isinstance(behaviours, str) else list(behaviours)
        for name in names or ():
            parse_behaviour(name)
        given = {**(facts or {}), **more_facts}
        if "created_at" in given:
            from_facts = given.pop("created_at")
            created_at = from_facts if created_at is None else created_at
        checked = check_facts(given)
        moment = _parse_time(created_at)
        with self._lock:
            cert = self._certs.setdefault(cert_id, _Certificate())
            if names is not None:
                cert.behaviours = [n.strip() for n in names]
            if email is not None:
                cert.email = email
            if phone is not None:
                cert.phone = phone
            if moment is not None:
                cert.created_at = moment
            for name, value in checked.items():
                setattr(cert.facts, name, value)

    def facts(self, cert_id: str) -> dict[str, Any]:
        """A certificate's session facts (the defaults when never scripted) and its creation time."""
        with self._lock:
            cert = self._certs.get(cert_id)
            facts = (cert.facts if cert else SessionFacts()).as_dict()
            created = cert.created_at if cert else None
        return {**facts, "created_at": _iso(created) if created else None}

    def operations(self, cert_id: str) -> list[list[str]]:
        """The operations TrustedForm answered (and bills) for each POST to the certificate, oldest
        first: one list per POST answered 200 with operation results, e.g. ``[["match_lead", "insights",
        "verify"], ["match_lead", "retain"]]``. Refused, failed, expired or dropped calls are left out."""
        with self._lock:
            return [list(r["operations"]) for r in self._requests if r["cert_id"] == cert_id and r["operations"]]

    def retains(self, cert_id: str) -> int:
        """How many POSTs to the certificate included ``retain`` and were answered 200 with retain
        results (the first one retains and is billed; later ones answer ``previously_retained``)."""
        with self._lock:
            return sum(1 for r in self._requests if r["cert_id"] == cert_id and r["retained"])

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A copy of the recorded POST requests to certificate ids, oldest first.

        Each: method, path (with query), cert_id, headers (as received, Authorization included),
        body (parsed JSON or None), body_text, behaviour (None when refused before one applied),
        status (None while in flight or when dropped: hang / stop), time (ISO 8601 UTC, ms),
        operations (the operations the 200 answer carried results for, [] otherwise), retained (the
        answer carried ``retain.results``)."""
        with self._lock:
            return copy.deepcopy(self._requests)

    def reset(self) -> None:
        """Forget retained certificates, scripts and recorded requests (keys and latency stay)."""
        with self._lock:
            self._certs.clear()
            self._requests.clear()

    def is_retained(self, cert_id: str) -> bool:
        with self._lock:
            cert = self._certs.get(cert_id)
            return bool(cert and cert.retained)

    # -- internals ---------------------------------------------------------------------------------
    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; False when the simulator is stopping."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def _cert(self, cert_id: str) -> _Certificate:
        cert = self._certs.setdefault(cert_id, _Certificate())
        if cert.created_at is None:
            cert.created_at = datetime.now(UTC) - DEFAULT_CREATED_AGE
        return cert

    def _authorised(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, key = decoded.partition(":")
        with self._lock:
            return bool(sep) and user == "API" and key in self._api_keys

    def _operations_answer(self, cert_id: str, body: dict[str, Any], behaviour: str) -> Answer:
        """The 200 answer for success / masked / match_failure (and slow)."""
        ops = [op for op in ("match_lead", "retain", "insights", "verify") if op in body]
        if not ops:
            return _json_answer(200, {"outcome": "error", "reason": NO_PRODUCTS_REASON})
        kind = cert_kind(cert_id) or "web"
        masked = behaviour == "masked"
        now = datetime.now(UTC)
        with self._lock:
            cert = self._cert(cert_id)
            created = cert.created_at or now
            known_email, known_phone = cert.email, cert.phone
            facts = copy.deepcopy(cert.facts)
            previously_retained = cert.retained
            if "retain" in body:
                cert.retained = True
        expires = created + _lifetime(kind, masked, previously_retained or "retain" in body, facts.form_submitted)
        answer: dict[str, Any] = {"outcome": "success", "reason": None}
        failures: list[str] = []

        if "match_lead" in body:
            given = body["match_lead"]
            result: dict[str, Any] = {"email_match": None, "phone_match": None}
            nothing_known = known_email is None and known_phone is None
            for key, known, normalise in (
                ("email", known_email, normalise_email),
                ("phone", known_phone, normalise_phone),
            ):
                if key not in given:
                    continue
                if masked or behaviour == "match_failure":
                    result[f"{key}_match"] = False
                elif nothing_known:
                    result[f"{key}_match"] = True
                else:
                    result[f"{key}_match"] = known is not None and _matches(given[key], known, normalise)
            result["success"] = bool(result["email_match"] or result["phone_match"])
            echo = {key: given[key] for key in ("email", "phone") if key in given}
            answer["match_lead"] = {**echo, "result": result}
            if not result["success"]:
                failures.append(MATCH_FAILURE_REASON)

        if "retain" in body:
            given = body["retain"]
            # no mask of a mask; Meta certificates get no masked copy
            masked_url = None if masked or kind == "meta" else CERT_BASE_URL + sha1_hex("masked:" + cert_id)
            answer["retain"] = {
                **{key: given[key] for key in ("reference", "vendor") if key in given},
                "results": {
                    "expires_at": _iso(expires),
                    "masked_cert_url": masked_url,
                    "previously_retained": previously_retained,
                },
            }

        if "insights" in body:
            answer["insights"] = _insights(body["insights"], kind, masked, created, expires, now, facts)

        if "verify" in body:
            answer["verify"] = _verify(body["verify"], facts)

        if failures:
            answer["outcome"] = "failure"
            answer["reason"] = failures[0]
        return _json_answer(200, answer)

    def _answer(self, request: Request) -> Answer | None:
        """Every request to the simulator's socket. None means: drop the connection unanswered."""
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            return self._handle_control(request, path)
        if request.method == "POST":
            return self._handle_certificate_post(request, path[1:])
        return _certificate_page(path[1:])

    def _handle_certificate_post(self, request: Request, cert_id: str) -> Answer | None:
        """Validate, pick the behaviour, answer. None means: drop the connection unanswered."""
        entry: dict[str, Any] = {
            "method": "POST",
            "path": request.raw_path,
            "cert_id": cert_id,
            "headers": dict(request.sent_headers),
            "body": None,
            "body_text": None,
            "behaviour": None,
            "status": None,
            "time": _iso_ms(datetime.now(UTC)),
            "operations": [],
            "retained": False,
        }
        with self._lock:  # visible at once: a hung request shows with status None
            self._requests.append(entry)

        def note(**fields: Any) -> None:
            with self._lock:
                entry.update(fields)

        try:
            raw = request.body
            note(body_text=raw.decode("utf-8", errors="replace") if raw else "")
            if not self._sleep(self.latency):
                return None
            refusal, behaviour, body = self._decide(request, cert_id, raw)
            note(body=body, behaviour=behaviour)
            answer = refusal if refusal is not None else self._apply(behaviour or "success", cert_id, body)
            if answer is not None:
                note(status=answer.status, **_answered_operations(answer))
            return answer
        finally:
            log.info(
                "POST %s behaviour=%s status=%s",
                cert_id[:48] + ("..." if len(cert_id) > 48 else ""),
                entry["behaviour"] or "-",
                entry["status"] or "dropped",
            )

    def _decide(self, request: Request, cert_id: str, raw: bytes) -> tuple[Answer | None, str | None, Any]:
        """(refusal, behaviour, parsed body): a refusal when the request itself is not acceptable,
        else the behaviour to apply (from the header, or consumed from the certificate's script)."""
        if not self._authorised(request.header("Authorization")):
            return _error(401, "Incorrect API key"), None, None
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(400, "Content-Type must be application/json"), None, None
        api_version = request.header("Api-Version")
        if api_version is not None and api_version.strip() != "4.0":
            return _error(400, f"Unsupported Api-Version {api_version!r}"), None, None
        if cert_kind(cert_id) is None:
            return _error(400, "Malformed certificate id"), None, None
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Request body is not valid JSON"), None, None
        problem = validate_request_body(body)
        if problem:
            return _error(400, problem), None, body

        requested = request.header(BEHAVIOUR_HEADER)
        if requested is not None:
            try:
                parse_behaviour(requested)
            except ValueError as exc:
                return _error(400, f"Simulator: {exc}"), None, body
            behaviour = requested.strip()
        else:
            with self._lock:
                behaviour = self._cert(cert_id).next_behaviour()
        return None, behaviour, body

    def _apply(self, behaviour: str, cert_id: str, body: dict[str, Any]) -> Answer | None:
        kind, arg = parse_behaviour(behaviour)
        if kind == "slow":
            if not self._sleep(arg or 0.0):
                return None
            return self._operations_answer(cert_id, body, "success")
        if kind == "hang":
            self._sleep(HANG_SECONDS)
            return None
        if kind in RETAINING_BEHAVIOURS:
            return self._operations_answer(cert_id, body, kind)
        if kind == "expired_200":
            return _json_answer(200, {"outcome": "failure", "reason": "The cert has expired"})
        if kind == "malformed":
            return Answer(200, b'{"outcome": "success", "reason": nu', "application/json")
        status, reason = ERROR_BEHAVIOURS[kind]
        extra = {}
        if kind == "throttled":
            extra["Retry-After"] = str(int(arg if arg is not None else self.retry_after))
        return _error(status, reason, extra)

    def _script_from_json(self, cert_id: str, raw: bytes) -> None:
        spec = json.loads(raw or b"{}")
        if not isinstance(spec, dict):
            raise ValueError("body must be an object")
        unknown = set(spec) - {"behaviours", "email", "phone", "created_at", "facts"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)} (facts go in 'facts')")
        behaviours = spec.get("behaviours")
        if behaviours is not None and (
            not isinstance(behaviours, list) or not all(isinstance(b, str) for b in behaviours)
        ):
            raise ValueError("behaviours must be an array of strings")
        for key in ("email", "phone", "created_at"):
            if spec.get(key) is not None and not isinstance(spec[key], str):
                raise ValueError(f"{key} must be a string")
        facts = spec.get("facts")
        if facts is not None and not isinstance(facts, dict):
            raise ValueError("facts must be an object")
        if facts and facts.get("created_at") is not None and not isinstance(facts["created_at"], str):
            raise ValueError("created_at must be a string")
        self.script(
            cert_id,
            behaviours,
            email=spec.get("email"),
            phone=spec.get("phone"),
            created_at=spec.get("created_at"),
            facts=facts,
        )

    def _certificate_state(self, cert_id: str) -> dict[str, Any]:
        with self._lock:
            cert = self._certs.get(cert_id)
            behaviours = list(cert.behaviours) if cert else []
        return {
            "cert_id": cert_id,
            "behaviours": behaviours,
            "facts": self.facts(cert_id),
            "retained": self.is_retained(cert_id),
            "retains": self.retains(cert_id),
            "operations": self.operations(cert_id),
        }

    def _handle_control(self, request: Request, path: str) -> Answer:
        method, route = request.method, path[len(CONTROL_PREFIX) :]
        if method == "GET" and route == "health":
            return _json_answer(200, {"status": "ok"})
        if method == "GET" and route == "requests":
            return _json_answer(200, self.requests)
        if method == "POST" and route == "reset":
            self.reset()
            return _json_answer(200, {"status": "reset"})
        if route == "config" and method in ("GET", "POST"):
            if method == "POST":
                try:
                    config = json.loads(request.body or b"{}")
                    if not isinstance(config, dict):
                        raise ValueError("config must be an object")
                    if "latency" in config:
                        self.latency = float(config["latency"])
                    if "retry_after" in config:
                        self.retry_after = int(config["retry_after"])
                    if "api_keys" in config:
                        keys = config["api_keys"]
                        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                            raise ValueError("api_keys must be an array of strings")
                        self.api_keys = keys
                except (ValueError, TypeError) as exc:
                    return _json_answer(400, {"error": str(exc)})
            # never echo the keys themselves
            return _json_answer(
                200,
                {"latency": self.latency, "retry_after": self.retry_after, "api_keys": len(self.api_keys)},
            )
        if route.startswith("certificates/") and method in ("GET", "POST"):
            cert_id = route[len("certificates/") :]
            raw = request.body
            if cert_kind(cert_id) is None:
                return _json_answer(400, {"error": "not a valid certificate id"})
            if method == "POST":
                try:
                    self._script_from_json(cert_id, raw)
                except (ValueError, TypeError) as exc:
                    return _json_answer(400, {"error": str(exc)})
            return _json_answer(200, self._certificate_state(cert_id))
        return _json_answer(404, {"error": f"no control endpoint {method} {path}"})


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _lifetime(kind: str, masked: bool, retained: bool, form_submitted: bool) -> timedelta:
    """How long after its creation a certificate stays available to the API (``expires_at``).

    Masked: 72 hours, never extended. Mobile and Meta: 90 days. Web: 90 days once retained or when a
    form submit was detected, else 72 hours."""
    if masked:
        return MASKED_LIFETIME
    if kind != "web" or retained or form_submitted:
        return CERT_LIFETIME
    return UNSUBMITTED_LIFETIME


def _answered_operations(answer: Answer) -> dict[str, Any]:
    """For the request log: the operations a 200 answer carried results for, and whether it retained."""
    if answer.status != 200 or not answer.content_type.startswith("application/json"):
        return {}
    try:
        payload = json.loads(answer.body)
    except ValueError:
        return {}
    if not isinstance(payload, dict):
        return {}
    retain = payload.get("retain")
    return {
        "operations": [op for op in OPERATIONS if op in payload],
        "retained": isinstance(retain, dict) and "results" in retain,
    }


def _scan(terms: list[str], page_text: str | None, present_by_default: bool) -> tuple[list[str], list[str]]:
    """(found, not_found): plain case-insensitive substrings of the page text; without a scripted page
    text, every term is found (required) or none is (forbidden), as for a good lead."""
    if page_text is None:
        return (list(terms), []) if present_by_default else ([], list(terms))
    text = page_text.casefold()
    found = [term for term in terms if term.casefold() in text]
    return found, [term for term in terms if term.casefold() not in text]


def _insights(
    params: dict[str, Any],
    kind: str,
    masked: bool,
    created: datetime,
    expires: datetime,
    now: datetime,
    facts: SessionFacts | None = None,
) -> dict[str, Any]:
    facts = facts or SessionFacts()
    web = kind == "web"
    app = kind in ("web", "mobile")
    values: dict[str, Any] = {
        "age_seconds": max(0, int((now - created).total_seconds())),
        "created_at": _iso(created),
        "expires_at": _iso(expires),
        "confirmed_owner": facts.confirmed_owner,
        "approx_ip_geo": {
            "city": "Austin",
            "country_code": "US",
            "lat": 30.2672,
            "lon": -97.7431,
            "postal_code": "78704",
            "state": "TX",
            "time_zone": "America/Chicago",
        }
        if app
        else None,
        "bot_detected": facts.bot_detected if web else None,
        "browser": {
            "full": "Chrome 128.0.0.0",
            "name": "Chrome",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/128.0.0.0 Safari/537.36",
            "version": {"full": "128.0.0.0", "major": "128", "minor": "0", "patch": "0"},
        }
        if web
        else None,
        # a masked certificate hides the page
        "domain": facts.domain if web and not masked else None,
        "page_url": facts.page_url if web and not masked else None,
        "parent_page_url": facts.parent_page_url if web and not masked else None,
        "is_framed": facts.is_framed if web else None,
        "is_masked": masked if app else None,
        "form_input_kpm": 234.9 if web else None,
        "form_input_wpm": 47.0 if web else None,
        "form_input_method": list(facts.form_input_method) if web and facts.form_input_method is not None else None,
        "ip": facts.ip if app else None,
        "num_sensitive_content_elements": 0 if web else None,
        "num_sensitive_form_elements": 0 if web else None,
        "os": {
            "full": "Linux x86_64" if web else "Android 14.0.0",
            "is_mobile": not web,
            "name": "Linux" if web else "Android",
            "version": {"full": "14.0.0", "major": "14", "minor": "0", "patch": "0"},
        }
        if app
        else None,
        "seconds_on_page": facts.seconds_on_page if app else None,
    }
    if kind == "meta":
        values = {k: (v if k in META_PROPERTIES else None) for k, v in values.items()}
    # only the properties asked for (each one returned is billed)
    result: dict[str, Any] = {"properties": {p: values.get(p) for p in params.get("properties", [])}}
    if "scans" in params:
        scans = params["scans"]
        required, forbidden = _as_list(scans.get("required")), _as_list(scans.get("forbidden"))
        required_found, required_missing = _scan(required, facts.page_text, present_by_default=True)
        forbidden_found, forbidden_absent = _scan(forbidden, facts.page_text, present_by_default=False)
        result["scans"] = {
            **{k: scans[k] for k in ("delimiter", "required", "forbidden") if k in scans},
            "result": {
                "required": {"found": required_found, "not_found": required_missing},
                "forbidden": {"found": forbidden_found, "not_found": forbidden_absent},
                "success": not required_missing and not forbidden_found,
            },
        }
    return result


def _verify(params: dict[str, Any], facts: SessionFacts | None = None) -> dict[str, Any]:
    """verify's answer from the session facts and the request's thresholds.

    A ``*_satisfied`` check whose parameter was not sent answers true (the description's words say null,
    its schema keywords do not allow it: see the contract); ``one_to_one`` is null without an
    ``advertiser_name``. ``success``: language approved and every requested check passed."""
    facts = facts or SessionFacts()
    font_required = params.get("min_font_size_px_required")
    contrast_required = params.get("min_contrast_ratio_required")
    allowed = params.get("opt_in_types_allowed")
    one_to_one: bool | None = None
    if "advertiser_name" in params:
        advertisers = facts.one_to_one_advertisers
        wanted = normalise_advertiser(params["advertiser_name"])
        one_to_one = advertisers is None or wanted in {normalise_advertiser(a) for a in advertisers}
    checks = {
        "language_approved": facts.language_approved,
        "min_contrast_ratio_satisfied": contrast_required is None or facts.contrast_ratio >= contrast_required,
        "min_font_size_px_satisfied": font_required is None or facts.font_size_px >= font_required,
        "opt_in_types_satisfied": allowed is None or facts.opt_in_type in allowed,
    }
    return {
        **params,
        "languages": [{"text": text} for text in facts.consent_languages],
        "result": {
            "form_submitted": facts.form_submitted,
            **checks,
            "one_to_one": one_to_one,
            "success": all(checks.values()) and one_to_one is not False,
        },
    }


# --------------------------------------------------------------------------------------------------
# HTTP plumbing


class _Server(LoopbackServer):
    def refusal(self, status: int) -> Answer | None:
        return _error(413, "Request body too large") if status == 413 else _error(400, "Bad request")


def _certificate_page(cert_id: str) -> Answer:
    """GET /{cert_id}: the certificate as HTML; retains nothing."""
    if cert_kind(cert_id) is None:
        return Answer(404, b"<!doctype html><title>Not found</title><h1>Not found</h1>", "text/html")
    page = (
        "<!doctype html><html><head><title>TrustedForm Certificate</title></head>"
        f"<body><h1>TrustedForm Certificate</h1><p>{cert_id}</p>"
        "<p>Simulated certificate page. Viewing it retains nothing.</p></body></html>"
    )
    return Answer(200, page.encode(), "text/html; charset=utf-8")


# --------------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.simulator", description="TrustedForm Certificate API v4 simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted API key (repeatable; default sim-key)"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every POST")
    parser.add_argument("--retry-after", type=int, default=2, help="Retry-After seconds sent with 429")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    simulator = TrustedFormSimulator(
        host=args.host,
        port=args.port,
        api_keys=args.api_keys or ("sim-key",),
        latency=args.latency,
        retry_after=args.retry_after,
    )
    done = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    url = simulator.start()
    print(
        f"TrustedForm simulator listening on {url} - choose a behaviour with header "
        f"'{BEHAVIOUR_HEADER}: <name>' or POST {url}/_simulator/certificates/<cert_id> "
        f'{{"behaviours": [...], "facts": {{...}}}}; '
        f"behaviours: {', '.join((*BEHAVIOURS, *PARAMETERISED_BEHAVIOURS))}; facts: {', '.join(FACT_NAMES)}",
        flush=True,
    )
    try:
        while not done.wait(0.5):
            pass
    finally:
        simulator.stop()
        log.info("simulator stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
