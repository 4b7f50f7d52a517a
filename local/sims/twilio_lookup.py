"""A Twilio Lookup v2 simulator: phone validation (basic lookup, Line Type Intelligence, Line Status) and
Reassigned Number, built against twilio.com/docs/lookup/v2-api and Twilio's OpenAPI description
(twilio/twilio-oai, spec/json/twilio_lookups_v2.json). What is a guess: docs/providers.md; the shapes:
tests/contract/twilio_lookup.json.

``GET /v2/PhoneNumbers/{PhoneNumber}?Fields=line_type_intelligence,line_status,reassigned_number
&LastVerifiedDate=YYYYMMDD`` (production host lookups.twilio.com). HTTP Basic auth: any account or API
key SID as the user, the secret (one of ``api_keys``) as the password; else 401, Twilio error 20003.
Numbers: E.164 (+1 only: other country codes answer ``INVALID_COUNTRY_CODE``, a simplification) or
national with ``CountryCode`` US/CA. An invalid number answers 200 with ``valid: false`` and
``validation_errors``, as documented.

Facts per number (unscripted: a valid, active mobile): ``valid``, ``line_type`` (the documented
``type`` values), ``carrier_name``, ``line_status`` (active, inactive, reachable, unreachable, unknown),
``reassigned_on`` / ``rnd_no_data`` (``local.sims.rnd``: the answer depends on LastVerifiedDate, which
is echoed as ``last_verified_date``).
"""

from __future__ import annotations

import re
import sys
from datetime import date
from typing import Any, ClassVar

from local.sims.cli import run
from local.sims.http import Answer, Request, SimServer
from local.sims.rnd import is_iso_date_or_none, parse_date, reassigned_since
from local.sims.script import is_bool, is_str_or_none, one_of

PRODUCTION_URL = "https://lookups.twilio.com/v2/PhoneNumbers/"
# every package the Fields parameter documents; the simulator answers the first three
SIMULATED_FIELDS = ("line_type_intelligence", "line_status", "reassigned_number")
DOCUMENTED_FIELDS = frozenset(
    (*SIMULATED_FIELDS, "validation", "caller_name", "sim_swap", "call_forwarding", "identity_match",
     "sms_pumping_risk", "phone_number_quality_score", "pre_fill")
)  # fmt: skip
# the answer's properties, in the documented order; packages not asked for are null
PROPERTIES = (
    "calling_country_code", "country_code", "phone_number", "national_format", "valid", "validation_errors",
    "caller_name", "sim_swap", "call_forwarding", "line_status", "line_type_intelligence", "identity_match",
    "reassigned_number", "sms_pumping_risk", "phone_number_quality_score", "pre_fill", "url",
)  # fmt: skip
LINE_TYPES = ("landline", "mobile", "fixedVoip", "nonFixedVoip", "personal", "tollFree", "premium",
              "sharedCost", "uan", "voicemail", "pager", "unknown")  # fmt: skip
NO_CARRIER_TYPES = frozenset(LINE_TYPES[4:])  # documented: carrier data is null for these
CARRIERS = {"mobile": ("Verizon Wireless", "311", "480"), "landline": ("AT&T California", "310", None),
            "fixedVoip": ("Comcast", "310", None), "nonFixedVoip": ("Twilio - SMS/MMS-SVR", "240", "38")}  # fmt: skip
LINE_STATUSES = ("active", "inactive", "reachable", "unreachable", "unknown")
ERRORS = {  # Twilio's error codes for the statuses we answer
    401: (20003, "Authenticate"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    502: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}
_NOISE = re.compile(r"[\s\-.()]")


def twilio_error(status: int, code: int, message: str) -> Answer:
    more = f"https://www.twilio.com/docs/errors/{code}"
    return Answer.json(status, {"code": code, "message": message, "more_info": more, "status": status})


def parse_number(raw: str, country: str | None) -> tuple[str, list[str]]:
    """(E.164 or the input, validation errors). NANP only: +1 and 10 digits, area code and exchange 2-9."""
    text = _NOISE.sub("", raw)
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not digits.isdigit():
        return raw, ["NOT_A_NUMBER"]
    if plus and not digits.startswith("1"):
        return text, ["INVALID_COUNTRY_CODE"]
    if not plus and country not in (None, "US", "CA"):
        return raw, ["INVALID_COUNTRY_CODE"]
    national = digits[1:] if plus or (len(digits) == 11 and digits.startswith("1")) else digits
    e164 = "+1" + national
    if len(national) != 10:
        return e164, ["TOO_SHORT" if len(national) < 10 else "TOO_LONG"]
    if national[0] in "01" or national[3] in "01":
        return e164, ["INVALID_BUT_POSSIBLE"]
    return e164, []


class TwilioLookupSimulator(SimServer):
    """Twilio Lookup v2: line type intelligence, line status and reassigned number."""

    NAME = "twilio-lookup"
    SUBJECTS = "numbers"
    DEFAULT_PORT = 8912
    FACTS: ClassVar = {
        "valid": (is_bool, "a boolean"),
        "line_type": one_of(*LINE_TYPES),
        "carrier_name": (is_str_or_none, "a string or null (null: by line type)"),
        "line_status": one_of(*LINE_STATUSES),
        "reassigned_on": (is_iso_date_or_none, "an ISO date or null"),
        "rnd_no_data": (is_bool, "a boolean"),
    }
    DEFAULT_FACTS: ClassVar = {
        "valid": True, "line_type": "mobile", "carrier_name": None, "line_status": "active",
        "reassigned_on": None, "rnd_no_data": False,
    }  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.route("GET", "/v2/PhoneNumbers/{PhoneNumber}", self._lookup)

    def normalise(self, key: str) -> str:
        return parse_number(key, None)[0]

    def fault_answer(self, status: int, kind: str) -> Answer:
        return twilio_error(status, *ERRORS[status])

    def not_found(self, req: Request, allowed: list[str]) -> Answer:
        if allowed:
            return twilio_error(405, 20004, "Method not allowed")
        return twilio_error(404, 20404, f"The requested resource {req.path} was not found")

    def _authorised(self, req: Request) -> bool:
        user, secret = req.basic_auth() or ("", "")
        return bool(user) and secret in self.api_keys

    def _lookup(self, req: Request) -> Answer | None:
        e164, errors = parse_number(req.params["PhoneNumber"], req.arg("CountryCode"))
        req.subjects = [e164]
        if not self._authorised(req):
            answer = twilio_error(401, *ERRORS[401])
            answer.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return answer
        fields = [f.strip() for f in (req.arg("Fields") or "").split(",") if f.strip()]
        unknown = [f for f in fields if f not in DOCUMENTED_FIELDS]
        if unknown:
            return twilio_error(400, 60200, "Invalid parameter: Fields")  # guess: the code for a bad field
        unsimulated = [f for f in fields if f not in SIMULATED_FIELDS]
        if unsimulated:
            return Answer.json(400, {"error": f"Simulator: {', '.join(unsimulated)} not simulated"})
        verified = req.arg("LastVerifiedDate")
        try:
            consent = parse_date(verified, ("%Y%m%d",)) if verified else None
        except ValueError:
            return twilio_error(400, 60200, "Invalid parameter: LastVerifiedDate")  # guess
        return self.serve(req, lambda: Answer.json(200, self._answer_for(e164, errors, fields, consent)))

    def _answer_for(self, e164: str, errors: list[str], fields: list[str], consent: date | None) -> dict[str, Any]:
        f = self.facts(e164)
        if not errors and not f["valid"]:
            errors = ["INVALID_BUT_POSSIBLE"]
        answer: dict[str, Any] = dict.fromkeys(PROPERTIES)
        answer.update(phone_number=e164, valid=not errors, url=PRODUCTION_URL + e164)
        if errors:
            # documented: an invalid number has no country or national format (packages: guess, null)
            answer["validation_errors"] = errors
            return answer
        national = f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
        answer.update(calling_country_code="1", country_code="US", national_format=national, validation_errors=[])
        if "line_type_intelligence" in fields:
            name, mcc, mnc = CARRIERS.get(f["line_type"], (None, None, None))
            if f["line_type"] not in NO_CARRIER_TYPES:
                name = f["carrier_name"] or name
            answer["line_type_intelligence"] = {
                "error_code": None, "mobile_country_code": mcc, "mobile_network_code": mnc,
                "carrier_name": name, "type": f["line_type"],
            }  # fmt: skip
        if "line_status" in fields:
            answer["line_status"] = {"status": f["line_status"], "error_code": None}
        if "reassigned_number" in fields:
            answer["reassigned_number"] = _reassigned(consent, f)
        return answer


def _reassigned(consent: date | None, facts: dict[str, Any]) -> dict[str, Any]:
    """The package, its date echoed as YYYY-MM-DD: the safe-harbour record of the question asked."""
    if consent is None:  # guess: the package needs LastVerifiedDate (error 60617, not enough parameters)
        return {"last_verified_date": None, "is_number_reassigned": None, "error_code": 60617}
    since = reassigned_since(consent, facts["reassigned_on"], no_data=facts["rnd_no_data"])
    verdict = {True: "yes", False: "no", None: "no_data_available"}[since]
    return {"last_verified_date": consent.isoformat(), "is_number_reassigned": verdict, "error_code": None}


if __name__ == "__main__":
    sys.exit(run(TwilioLookupSimulator))
