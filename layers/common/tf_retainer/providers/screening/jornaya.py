"""Jornaya's TCPA Guardian (Verisk): the audit of a lead's LeadiD token, its second consent record.

``POST https://api.leadid.com/SingleQuery`` with the form ``lac`` (the account code), ``id`` (the token),
``lak`` (the audit key: the buyer's audit profile, whose thresholds set each check green, yellow or red),
``lpc`` (who sent the lead), ``data`` (``label;value`` pairs joined by ``|``: what the data-integrity check
compares with what the form's script saw), ``brand_names`` (``|``-joined, at most 30) and ``format=json``
(docs/providers.md names the documents; the form keeps both keys out of the URL). A token that is not
Jornaya's, expired, queried past its limit or opted out answers 200 with ``authentic: 0`` and its
``reason`` (never judge by the status alone).

The findings keep each check's colour and the facts a rule or an auditor reads, never the lead data
(its labels only): the evidence keeps the exchange with the keys and the lead data redacted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from tf_retainer.domain.screens import Provider, Screen, national_number, redact_number
from tf_retainer.ports.screening import ScreenAnswer
from tf_retainer.providers.screening.base import ScreeningAdapter, Unreadable

if TYPE_CHECKING:
    from tf_retainer.domain.exchange import Exchange

COLOURS = {1: "green", 2: "yellow", 3: "red"}
# audit.reason when authentic is 0 (Jornaya's lead-audit reference)
NOT_AUTHENTIC = {1: "expired", 2: "query_limit_reached", 3: "opted_out", 4: "invalid_token"}
EMAIL_PLACEHOLDER = "[email]"
MAX_BRANDS = 30
_NOT_LPC = re.compile(r"[^A-Za-z0-9-]")


class Jornaya(ScreeningAdapter):
    PROVIDER = Provider.JORNAYA
    CREDENTIALS = ("account_code", "audit_key")  # lac, lak

    def audit(
        self,
        token: str,
        *,
        source: str,
        lead_data: Mapping[str, str],
        brand_names: Sequence[str],
        credentials: Mapping[str, str],
        deadline: float,
        attempt: int,
        before_send: Callable[[dict[str, Any]], None] | None = None,
    ) -> ScreenAnswer:
        form = {
            "lac": credentials["account_code"],
            "id": token,
            "lak": credentials["audit_key"],
            "lpc": _NOT_LPC.sub("-", source) or "unknown",
            "format": "json",
        }
        sent = _lead_data(lead_data)
        if sent:
            form["data"] = "|".join(f"{label};{value}" for label, value in sent.items())
        if brand_names:
            form["brand_names"] = "|".join(brand_names[:MAX_BRANDS])
        headers = {"Accept": "application/json"}
        request = self.build("POST", "api", "/SingleQuery", data=form, headers=headers)
        exchange = self.exchange(
            request,
            credentials,
            also=_hide_lead_data(sent),
            before_send=before_send,
            attempt=attempt,
            deadline=deadline,
        )
        exchange.provider, exchange.screen = self.PROVIDER.value, Screen.LEADID.value
        return self.answer(Screen.LEADID, exchange, None)

    def findings(self, screen: Screen, exchange: Exchange, consent_date: Any) -> dict[str, Any]:
        body = exchange.json()
        audit = body.get("audit") if isinstance(body, dict) else None
        if not isinstance(audit, dict) or audit.get("authentic") not in (0, 1):
            raise Unreadable("not a TCPA Guardian audit")
        if audit["authentic"] != 1:
            code = audit.get("reason")
            reason = NOT_AUTHENTIC.get(code, f"reason {code}") if isinstance(code, int) else f"reason {code}"
            return {"authentic": False, "not_authentic": reason, "result": "red", "transid": body.get("transid")}
        tcpa = ((audit.get("market") or {}).get("leadid") or {}).get("tcpa") or {}
        colours = {
            name.removesuffix("_rule"): COLOURS[value]
            for name, value in {**audit, **tcpa}.items()
            if name.endswith("_rule") and name != "reg_rule" and value in COLOURS
        }
        brands = tcpa.get("brand_name_present") or []
        return {
            "authentic": True,
            "result": COLOURS[audit["result"]],
            "checks": colours,
            "failing": sorted(name for name, colour in colours.items() if colour != "green"),
            "consent": tcpa.get("consent"),
            "consent_type": tcpa.get("type"),
            "disclosure": tcpa.get("disclosure"),
            "call_center": bool(audit.get("call_center")),
            "data_integrity_failed": list(audit.get("data_integrity_failed") or []),  # labels, not values
            "brand_names_missing": [b.get("brand_name") for b in brands if isinstance(b, dict) and not b["present"]],
            "transid": body.get("transid"),
        }


def _lead_data(lead_data: Mapping[str, str]) -> dict[str, str]:
    """Jornaya's labels for what we know: the email as given, the phone as its 10 digits."""
    sent: dict[str, str] = {}
    email = (lead_data.get("email") or "").strip()
    if email and "|" not in email and ";" not in email:
        sent["email"] = email
    national = national_number(lead_data.get("phone"))
    if national:
        sent["phone1"] = national
    return sent


def _hide_lead_data(sent: Mapping[str, str]) -> Callable[[str], str]:
    """What the evidence shows instead of the lead data sent (every spelling it may take in the form)."""
    email = sent.get("email")
    forms = sorted({quote_plus(email), quote(email, safe=""), email}, key=len, reverse=True) if email else []
    national = sent.get("phone1")

    def hide(text: str) -> str:
        for form in forms:
            text = text.replace(form, EMAIL_PLACEHOLDER)
        return redact_number(text, national) if national else text

    return hide
