"""Blacklist Alliance's phone lookup (the Litigation Firewall LeadConduit sells): the litigator screen.

``GET https://api.blacklistalliance.net/lookup?key=&phone=&ver=v5&resp=json`` (docs/providers.md: no public
reference exists; the request and the fields come from ActiveProspect's integration page and public client
code). The key travels in the query: the evidence shows the URL with the key redacted. ``message`` is
``Good`` or ``Blacklisted``; ``code`` the comma-separated feeds the number is on, whose risk level
(ActiveProspect's code levels, 5 to 30) the ``litigator`` rule may require.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from tf_retainer.domain.screens import Provider, Screen
from tf_retainer.providers.screening.base import ScreeningAdapter, Unreadable

if TYPE_CHECKING:
    import httpx

    from tf_retainer.domain.exchange import Exchange

VERSION = "v5"
# ActiveProspect's code levels: the data feeds, by risk
CODE_LEVELS = {
    "screamers": 5,
    "prelitigation1": 10,
    "prelitigation2": 10,
    "attorney-secondary": 15,
    "plaintiff-secondary": 20,
    "attorney-primary": 25,
    "plaintiff-primary": 30,
}


class BlacklistAlliance(ScreeningAdapter):
    PROVIDER = Provider.BLACKLIST_ALLIANCE
    CREDENTIALS = ("api_key",)  # the fields of its secret

    def request(
        self, screen: Screen, national: str, credentials: Mapping[str, str], consent_date: date | None
    ) -> httpx.Request:
        if screen is not Screen.LITIGATOR:
            raise ValueError(f"blacklist_alliance does not answer {screen}")
        params = {"key": credentials["api_key"], "phone": national, "ver": VERSION, "resp": "json"}
        return self.build("GET", "api", "/lookup", params=params, headers={"Accept": "application/json"})

    def findings(self, screen: Screen, exchange: Exchange, consent_date: date | None) -> dict[str, Any]:
        body = exchange.json()
        if not isinstance(body, dict) or body.get("message") not in ("Good", "Blacklisted"):
            raise Unreadable("not a lookup answer")
        codes = [code.strip() for code in str(body.get("code") or "").split(",") if code.strip()]
        carrier = body["carrier"] if isinstance(body.get("carrier"), dict) else {}
        return {
            "litigator": body["message"] != "Good",
            "codes": codes,
            # an unknown feed counts as the highest risk: a feed we cannot rank is not a reason to call
            "risk_level": max((CODE_LEVELS.get(code, 30) for code in codes), default=0),
            "wireless": body.get("wireless") in (1, "1", True),
            "carrier": carrier.get("name"),
        }
