"""What the provider-simulator tests share: the contracts (tests/contract/<provider>.json) as validators,
and, per provider, one documented request for a subject (what the base tests drive every fault with)."""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema

from local.sims.blacklist_alliance import BlacklistAllianceSimulator
from local.sims.dncscrub import DncScrubSimulator
from local.sims.http import SimServer
from local.sims.jornaya import JornayaSimulator
from local.sims.twilio_lookup import TwilioLookupSimulator

REPO_ROOT = Path(__file__).resolve().parents[2]
# one TLS context for every client (httpx builds one per client otherwise); every URL here is plain http
TLS = ssl.create_default_context()
KEY = "sim-secret-key-0123"
AUDIT_KEY = "sim-audit-key-4567"


@cache
def contract(provider: str) -> dict[str, Any]:
    return json.loads((REPO_ROOT / f"tests/contract/{provider}.json").read_text())


def check(provider: str, pointer: str, instance: Any) -> Any:
    """Validate ``instance`` against the contract's schema at ``pointer`` (e.g. ``responses/Scrub/200``)."""
    document = contract(provider)
    schema = {"$ref": "#/" + pointer, **{k: document[k] for k in ("definitions", "requests", "responses")}}
    jsonschema.Draft7Validator(schema).validate(instance)
    return instance


def client(sim: SimServer, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url or "", verify=TLS, **{"timeout": 5, **kwargs})


def token() -> str:
    return str(uuid.uuid4()).upper()


@dataclass(frozen=True)
class Provider:
    """A simulator, its contract, one documented request for a subject and where its error bodies are."""

    name: str
    make: Callable[[], SimServer]
    subject: Callable[[], str]
    other: Callable[[], str]  # a second subject
    send: Callable[[httpx.Client, str, dict[str, str]], httpx.Response]  # (client, subject, headers)
    answer: str  # the contract pointer of the 200 answer
    error: str | None  # the contract pointer of a fault's error body, None when the provider documents none


def _dnc(c: httpx.Client, number: str, headers: dict[str, str]) -> httpx.Response:
    params = check("dncscrub", "requests/RndQuery", {"phoneNumber": number, "date": "20220115"})
    return c.get("/v1.5/Data/RNDBasic", params=params, headers={"loginId": KEY, **headers})


def _twilio(c: httpx.Client, number: str, headers: dict[str, str]) -> httpx.Response:
    params = check("twilio_lookup", "requests/LookupQuery", {"Fields": "line_type_intelligence"})
    return c.get(f"/v2/PhoneNumbers/{number}", params=params, auth=("SK0123", KEY), headers=headers)


def _bla(c: httpx.Client, number: str, headers: dict[str, str]) -> httpx.Response:
    params = check(
        "blacklist_alliance", "requests/SimpleLookupQuery", {"key": KEY, "phone": number, "ver": "v5", "resp": "json"}
    )
    return c.get("/lookup", params=params, headers=headers)


def _jornaya(c: httpx.Client, lead_token: str, headers: dict[str, str]) -> httpx.Response:
    params = {"lac": KEY, "id": lead_token, "lak": AUDIT_KEY, "lpc": "VENDOR-1", "data": "phone1;5125550142"}
    return c.get("/SingleQuery", params=check("jornaya", "requests/SingleQueryParams", params), headers=headers)


PROVIDERS = {
    p.name: p
    for p in (
        Provider(
            "dncscrub",
            lambda: DncScrubSimulator(api_keys=(KEY,)),
            lambda: "5125550142",
            lambda: "5125550143",
            _dnc,
            "responses/RNDBasic/200",
            None,
        ),
        Provider(
            "twilio_lookup",
            lambda: TwilioLookupSimulator(api_keys=(KEY,)),
            lambda: "+15125550142",
            lambda: "+15125550143",
            _twilio,
            "responses/Lookup/200",
            "definitions/Error",
        ),
        Provider(
            "blacklist_alliance",
            lambda: BlacklistAllianceSimulator(api_keys=(KEY,)),
            lambda: "5125550142",
            lambda: "5125550143",
            _bla,
            "responses/Lookup/200",
            None,
        ),
        Provider(
            "jornaya",
            lambda: JornayaSimulator(api_keys=(KEY,), audit_keys=(AUDIT_KEY,)),
            token,
            token,
            _jornaya,
            "responses/SingleQuery/200",
            "definitions/Error",
        ),
    )
}


class Recording(httpx.HTTPTransport):
    """The real transport, every request kept as it went."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)
