"""Twilio Lookup v2: phone validation (valid, Line Type Intelligence, Line Status) and the reassigned-number
check, built against twilio.com/docs/lookup/v2-api and Twilio's OpenAPI description (docs/providers.md).

``GET https://lookups.twilio.com/v2/PhoneNumbers/+1NNNNNNNNNN?Fields=...`` with HTTP Basic (an API key SID
and its secret). ``phone``: ``Fields=line_type_intelligence,line_status``; an invalid number is a 200 with
``valid: false``. ``reassigned_number``: ``Fields=reassigned_number&LastVerifiedDate=YYYYMMDD`` (the consent
date, echoed as ``last_verified_date``) -> ``is_number_reassigned`` yes / no / no_data_available; Twilio
says a "no" is a safe harbour for 24 hours.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

from tf_retainer.domain.screens import Provider, Screen
from tf_retainer.providers.capture import REDACTED
from tf_retainer.providers.screening.base import ScreeningAdapter, Unreadable

if TYPE_CHECKING:
    import httpx

    from tf_retainer.domain.exchange import Exchange

PHONE_FIELDS = "line_type_intelligence,line_status"
REASSIGNED = {"yes": True, "no": False, "no_data_available": None}


class TwilioLookup(ScreeningAdapter):
    PROVIDER = Provider.TWILIO_LOOKUP
    CREDENTIALS = ("api_key_sid", "api_key_secret")  # the fields of its secret
    HIDDEN_HEADERS: ClassVar[dict[str, str]] = {"authorization": f"Basic {REDACTED}"}

    def request(
        self, screen: Screen, national: str, credentials: Mapping[str, str], consent_date: date | None
    ) -> httpx.Request:
        pair = f"{credentials['api_key_sid']}:{credentials['api_key_secret']}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(pair).decode(), "Accept": "application/json"}
        if screen is Screen.PHONE:
            params = {"Fields": PHONE_FIELDS}
        elif screen is Screen.REASSIGNED and consent_date is not None:
            params = {"Fields": "reassigned_number", "LastVerifiedDate": consent_date.strftime("%Y%m%d")}
        else:
            raise ValueError(f"twilio_lookup does not answer {screen} without a consent date")
        return self.build("GET", "api", f"/v2/PhoneNumbers/+1{national}", params=params, headers=headers)

    def findings(self, screen: Screen, exchange: Exchange, consent_date: date | None) -> dict[str, Any]:
        body = exchange.json()
        if not isinstance(body, dict) or not isinstance(body.get("valid"), bool):
            raise Unreadable("not a lookup answer")
        if screen is Screen.PHONE:
            line = body.get("line_type_intelligence") or {}
            status = body.get("line_status") or {}
            return {
                "valid": body["valid"],
                "validation_errors": body.get("validation_errors") or [],
                "line_type": line.get("type"),
                "carrier": line.get("carrier_name"),
                "line_status": status.get("status"),
            }
        asked = consent_date.isoformat() if consent_date else None
        if not body["valid"]:  # no packages for an invalid number: nothing to say about reassignment
            return {"reassigned": None, "invalid": True, "consent_date": asked}
        package = body.get("reassigned_number")
        if not isinstance(package, dict) or package.get("error_code") is not None:
            raise Unreadable(f"reassigned_number error {(package or {}).get('error_code')}")
        verdict = package.get("is_number_reassigned")
        if verdict not in REASSIGNED:
            raise Unreadable("is_number_reassigned missing")
        return {
            "reassigned": REASSIGNED[verdict],
            "safe_harbor": verdict == "no",
            "consent_date": package.get("last_verified_date") or asked,
        }
