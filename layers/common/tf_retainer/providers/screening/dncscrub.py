"""DNC.com (Contact Center Compliance): the Do-Not-Call scrub, the litigator API and the reassigned-number
check (Enhanced RND), built against docs.dncscrub.com (docs/providers.md).

- ``dnc``: ``GET https://www.dncscrub.com/app/main/rpc/scrub?phoneList=&version=5&output=json[&projId=]``:
  one row per number; ``ResultCode`` D (do not call: a national or state registry, or a litigator), P (the
  buyer's project, or internal, DNC list), L/F/V (wireless in a state that forbids solicitation to it),
  C/W/Y/X/E/O/G/H (callable), I/M/B (invalid, malformed, blocked); ``Reason``'s ``;``-separated parts name
  the national and state listings. A wrong key answers 200 with the web app's login page.
- ``litigator``: ``GET https://dataapi.dncscrub.com/v1.5/scrub/litigator?phoneList=`` ->
  ``[{"Phone", "IsLitigator"}]``.
- ``reassigned_number``: ``GET https://dataapi.dncscrub.com/v1.5/Data/EnhancedRND?phoneNumber=&date=`` (the
  consent date) -> ``{PhoneNumber, IsReassigned (true|false|null), HasSafeHarbor, CCCIsReassigned}``; the
  answer does not echo the date, so the stored request is the record of the date asked about.

The key goes in the ``loginId`` header (the evidence shows it redacted).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

from tf_retainer.domain.screens import Provider, Screen
from tf_retainer.providers.capture import REDACTED
from tf_retainer.providers.screening.base import AccountRefused, ScreeningAdapter, Unreadable

if TYPE_CHECKING:
    import httpx

    from tf_retainer.domain.exchange import Exchange

SCRUB_VERSION = "5"
DO_NOT_CALL = frozenset({"D"})
WIRELESS_PROHIBITED = frozenset({"L", "F", "V"})
INVALID = frozenset({"I", "M"})


class DncScrub(ScreeningAdapter):
    PROVIDER = Provider.DNCSCRUB
    CREDENTIALS = ("api_key",)  # the fields of its secret
    HIDDEN_HEADERS: ClassVar[dict[str, str]] = {"loginid": REDACTED}

    def __init__(self, base_urls: Mapping[str, str], *, project_id: str = "", **kwargs: Any) -> None:
        super().__init__(base_urls, **kwargs)
        self._project_id = project_id

    def request(
        self, screen: Screen, national: str, credentials: Mapping[str, str], consent_date: date | None
    ) -> httpx.Request:
        headers = {"loginId": credentials["api_key"], "Accept": "application/json"}
        if screen is Screen.DNC:
            params = {"phoneList": national, "version": SCRUB_VERSION, "output": "json"}
            if self._project_id:
                params["projId"] = self._project_id
            return self.build("GET", "scrub", "/app/main/rpc/scrub", params=params, headers=headers)
        if screen is Screen.LITIGATOR:
            return self.build("GET", "data", "/v1.5/scrub/litigator", params={"phoneList": national}, headers=headers)
        if screen is Screen.REASSIGNED and consent_date is not None:
            params = {"phoneNumber": national, "date": consent_date.isoformat()}
            return self.build("GET", "data", "/v1.5/Data/EnhancedRND", params=params, headers=headers)
        raise ValueError(f"dncscrub does not answer {screen} without a consent date")

    def findings(self, screen: Screen, exchange: Exchange, consent_date: date | None) -> dict[str, Any]:
        body = exchange.json()
        if body is None and (exchange.header("content-type") or "").startswith("text/html"):
            raise AccountRefused  # the web app's login page: what a wrong loginId gets
        if screen is Screen.DNC:
            return _scrub(_one(body))
        if screen is Screen.LITIGATOR:
            row = _one(body)
            if not isinstance(row.get("IsLitigator"), bool):
                raise Unreadable("IsLitigator missing")
            return {"litigator": row["IsLitigator"], "codes": ["litigator"] if row["IsLitigator"] else []}
        if not isinstance(body, dict) or "IsReassigned" not in body:
            raise Unreadable("IsReassigned missing")
        return {
            "reassigned": body["IsReassigned"],
            "safe_harbor": body.get("HasSafeHarbor") is True,
            "carrier_reassigned": body.get("CCCIsReassigned"),
            "consent_date": consent_date.isoformat() if consent_date else None,
        }


def _one(body: Any) -> dict[str, Any]:
    if not isinstance(body, list) or len(body) != 1 or not isinstance(body[0], dict):
        raise Unreadable("expected one row")
    return body[0]


def _scrub(row: dict[str, Any]) -> dict[str, Any]:
    code, reason = str(row["ResultCode"]), str(row.get("Reason") or "")
    parts = [*reason.split(";"), "", "", "", ""][:4]
    do_not_call = code in DO_NOT_CALL
    litigator = do_not_call and "litigator" in reason.lower()
    return {
        "result_code": code,
        "national": do_not_call and parts[0].startswith("National"),
        "state": do_not_call and parts[1].startswith("State"),
        "internal": code == "P",
        "litigator": litigator,
        "listed": [part for part in parts[:2] if part and not litigator],
        "wireless": row.get("IsWirelessOrVoIP") == "1",
        "wireless_prohibited_state": code in WIRELESS_PROHIBITED,
        "invalid": code in INVALID,
        "line_type": row.get("LineType") or None,
        "region": row.get("RegionAbbrev") or None,
    }
