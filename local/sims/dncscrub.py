"""A DNC.com (Contact Center Compliance) simulator: the Full Scrub API, the Litigator API and the
Reassigned Authority APIs (FCC RND Basic, Enhanced RND), built against docs.dncscrub.com (what we built
against, and what is a guess: docs/providers.md; the shapes: tests/contract/dncscrub.json).

Routes (paths case-insensitive, as on DNC.com's IIS hosts; production hosts www.dncscrub.com for the
scrub and dataapi.dncscrub.com for the rest):

* ``GET|POST /app/main/rpc/scrub`` (phoneList, version, output json|csv, projId, campaignId; POST: a JSON
  body with the same names). Key in header ``loginId``; a wrong or missing key answers 200 with the HTML
  login page, as DNC.com does.
* ``GET|POST /v1.5/scrub/litigator`` (``phoneList``, up to 100 by GET, 10,000 by POST as ``PhoneList``).
* ``GET|POST /v1.5/Data/RNDBasic`` and ``/v1.5/Data/EnhancedRND`` (``phoneNumber`` + ``date``; POST:
  ``{"Data": [{"phoneNumber", "date"}], "useSandbox", "ProjId"}`` or the bare array, up to 1,000).
  v1.4 paths answer too. Key in header ``loginId``, the query or the POST body; 401 when wrong.

Facts per number (``sim.script("7075276405", national_dnc="2003-06-01")``; unscripted: a clean landline
in CA): ``national_dnc`` / ``state_dnc`` (the date listed, or None), ``internal_dnc`` (on the buyer's
project DNC list), ``litigator``, ``line_type`` (Wireless, VoIP, AllOther), ``region``, ``locale``,
``reassigned_on`` / ``rnd_no_data`` (``local.sims.rnd``) and ``ccc_reassigned_on`` (CCC's carrier data,
from July 2018; unscripted: the same as ``reassigned_on``).
"""

from __future__ import annotations

import csv
import io
import re
import sys
from datetime import date
from typing import Any, ClassVar

from local.sims.cli import run
from local.sims.http import Answer, Request, SimServer
from local.sims.rnd import is_iso_date_or_none, parse_date, reassigned_since
from local.sims.script import is_bool, is_str, is_str_or_none, one_of

MAX_SCRUB = 10_000
MAX_LITIGATOR_GET = 100
MAX_RND = 1_000
DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%m/%d/%y", "%Y%m%d")
CCC_DATA_START = date(2018, 7, 1)
WIRELESS_PROHIBITED_STATES = frozenset({"WY", "NJ", "TX", "LA", "AZ"})
SCRUB_FIELDS = (
    "Phone", "ResultCode", "Reserved", "Reason", "RegionAbbrev", "Country", "Locale", "CarrierInfo",
    "NewReassignedAreaCode", "TZCode", "CallingWindow", "UTCOffset", "DoNotCallToday",
    "CallingTimeRestrictions", "EBRType", "IsWirelessOrVoIP", "LineType",
)  # fmt: skip
CARRIERS = {
    "Wireless": '5820;WIRELESS;"Verizon Wireless:Verizon Wireless"',
    "VoIP": '981E;CLEC;"Bandwidth.com CLEC LLC:Bandwidth.com"',
    "AllOther": '9740;RBOC;"AT&T California:AT&T California"',
}
# what DNC.com's web app answers a call without a valid loginId (a client must look for the title)
LOGIN_PAGE = "<!DOCTYPE html><html><head><title>Login</title></head><body><form>Login</form></body></html>"
_TEN_DIGITS = re.compile(r"\d{10}")


def ten_digits(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


class DncScrubSimulator(SimServer):
    """DNC.com (Contact Center Compliance) scrub, litigator and reassigned-number APIs."""

    NAME = "dncscrub"
    SUBJECTS = "numbers"
    DEFAULT_PORT = 8911
    SECRET_HEADERS = frozenset({"authorization", "loginid"})
    SECRET_PARAMS = frozenset({"loginId", "loginid"})
    FACTS: ClassVar = {
        "national_dnc": (is_iso_date_or_none, "an ISO date or null"),
        "state_dnc": (is_iso_date_or_none, "an ISO date or null"),
        "internal_dnc": (is_bool, "a boolean"),
        "litigator": (is_bool, "a boolean"),
        "line_type": one_of("Wireless", "VoIP", "AllOther"),
        "region": (lambda v: isinstance(v, str) and bool(re.fullmatch(r"[A-Z]{2}", v)), "a 2-letter state"),
        "locale": (is_str, "a string"),
        "reassigned_on": (is_iso_date_or_none, "an ISO date or null"),
        "ccc_reassigned_on": (is_iso_date_or_none, "an ISO date or null"),
        "rnd_no_data": (is_bool, "a boolean"),
        "carrier": (is_str_or_none, "a string or null (null: by line type)"),
    }
    DEFAULT_FACTS: ClassVar = {
        "national_dnc": None, "state_dnc": None, "internal_dnc": False, "litigator": False,
        "line_type": "AllOther", "region": "CA", "locale": "Santa Rosa", "reassigned_on": None,
        "rnd_no_data": False, "carrier": None,
    }  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for method in ("GET", "POST"):
            self.route(method, "/app/main/rpc/scrub", self._scrub, ignore_case=True)
            for version in ("v1.4", "v1.5"):
                self.route(method, f"/{version}/scrub/litigator", self._litigator, ignore_case=True)
                self.route(method, f"/{version}/Data/RNDBasic", self._rnd, ignore_case=True)
                self.route(method, f"/{version}/Data/EnhancedRND", self._rnd, ignore_case=True)

    def normalise(self, key: str) -> str:
        return ten_digits(key)

    def fault_answer(self, status: int, kind: str) -> Answer:
        # guess: DNC.com documents no 5xx or 429 body; its data API is ASP.NET, whose errors carry Message
        return Answer.json(status, {"Message": "An error has occurred."})

    # -- Full Scrub ---------------------------------------------------------------------------------
    def _scrub(self, req: Request) -> Answer | None:
        params = {k: v[0] for k, v in req.query.items()}
        if req.method == "POST" and req.body.strip():
            try:
                body = req.json()
            except ValueError:
                return Answer.text(400, "Invalid request body")  # guess
            if not isinstance(body, dict):
                return Answer.text(400, "Invalid request body")  # guess
            params.update({k: str(v) for k, v in body.items() if v is not None})
        entries = [e for e in params.get("phoneList", "").split(",") if e.strip()]
        req.subjects = [ten_digits(e.partition("|")[0]) for e in entries]
        if req.header("loginId") not in self.api_keys:
            return Answer.text(200, LOGIN_PAGE, "text/html; charset=utf-8")
        version, output = params.get("version", "5"), params.get("output", "json").lower()
        problem = (
            "phoneList is required" if not entries
            else f"at most {MAX_SCRUB} numbers a request" if len(entries) > MAX_SCRUB
            else "version must be a number" if not version.isdigit()
            else "output must be json or csv" if output not in ("json", "csv")
            else None
        )  # fmt: skip
        if problem:
            return Answer.text(400, problem)  # guess: the status and text are undocumented
        rows = [self._scrub_row(e, int(version)) for e in entries]
        if output == "json":
            return self.serve(req, lambda: Answer.json(200, rows))
        return self.serve(req, lambda: Answer(200, _csv(rows).encode(), "text/csv"))

    def _scrub_row(self, entry: str, version: int) -> dict[str, str]:
        raw, _, reserved = entry.strip().partition("|")
        phone = ten_digits(raw)
        f = self.facts(phone)
        line_type = f["line_type"]
        wireless = line_type in ("Wireless", "VoIP")
        row = dict.fromkeys(SCRUB_FIELDS, "")
        row.update(Phone=phone, Reserved=reserved, RegionAbbrev=f["region"], Country="US", Locale=f["locale"])
        row.update(CarrierInfo=f["carrier"] or CARRIERS[line_type], TZCode="4", UTCOffset="-420")
        row.update(CallingTimeRestrictions="4", IsWirelessOrVoIP="1" if wireless else "0", LineType=line_type)
        listed = [
            f"National (USA) {f['national_dnc']}" if f["national_dnc"] else "",
            f"State ({f['region']}) {f['state_dnc']}" if f["state_dnc"] else "",
            "",
            "W" if wireless else "",
        ]
        if not _TEN_DIGITS.fullmatch(phone):
            code, reason = "M", ""
        elif phone[0] in "01" or phone[3] in "01" or (phone[3:6] == "555" and phone[6:8] == "01"):
            code, reason = "I", ""
        elif f["internal_dnc"]:
            code, reason = "P", "Project DNC"  # guess: the reason text of a project (internal) DNC match
        elif f["litigator"]:
            code, reason = "D", "Litigator"
        elif f["national_dnc"] or f["state_dnc"]:
            code, reason = "D", ";".join(listed[:3]) + ";"
        elif line_type == "VoIP" and version >= 3:
            code, reason = "Y", ";".join(listed)
        elif wireless:
            code, reason = ("L" if f["region"] in WIRELESS_PROHIBITED_STATES else "W"), ";".join(listed)
        else:
            code, reason = "C", ";;;"
        callable_ = code not in ("M", "I", "P", "D")
        row.update(ResultCode=code, Reason=reason, DoNotCallToday="0" if callable_ else "")
        row["CallingWindow"] = "8:00-21:00;8:00-21:00;8:00-21:00" if callable_ else ""
        return row

    # -- data API: authentication shared by litigator and RND ----------------------------------------
    def _data_params(self, req: Request) -> tuple[Answer | None, Any]:
        """(refusal, body): the key from header, query or body (documented for the litigator API)."""
        body: Any = None
        if req.method == "POST":
            try:
                body = req.json()
            except ValueError:
                return _message(400, "The request is invalid."), None
        key = req.header("loginId") or req.arg("loginId")
        if key is None and isinstance(body, dict):
            key = body.get("loginId") or body.get("LoginId")
            req.secrets.append(str(key or ""))
        if key not in self.api_keys:
            # guess: the 401 body is ASP.NET's default
            return _message(401, "Authorization has been denied for this request."), body
        return None, body

    # -- Litigator ----------------------------------------------------------------------------------
    def _litigator(self, req: Request) -> Answer | None:
        refusal, body = self._data_params(req)
        if req.method == "POST":
            listed = str((body or {}).get("PhoneList") or (body or {}).get("phoneList") or "")
        else:
            listed = req.arg("phoneList") or ""
        phones = [p.strip() for p in listed.split(",") if p.strip()]
        req.subjects = [ten_digits(p) for p in phones]
        limit = MAX_LITIGATOR_GET if req.method == "GET" else MAX_SCRUB
        if refusal is None and (not phones or len(phones) > limit or not all(map(_TEN_DIGITS.fullmatch, phones))):
            refusal = _message(400, f"phoneList must hold 1 to {limit} 10-digit phone numbers")  # guess: text
        if refusal is not None:
            return refusal
        rows = [{"Phone": int(p), "IsLitigator": self.facts(p)["litigator"]} for p in phones]
        return self.serve(req, lambda: Answer.json(200, rows))

    # -- Reassigned Authority (FCC RND Basic, Enhanced RND) -----------------------------------------
    def _rnd(self, req: Request) -> Answer | None:
        enhanced = "enhanced" in req.path.lower()
        refusal, body = self._data_params(req)
        sandbox = False
        if req.method == "GET":
            items: Any = [{"phoneNumber": req.arg("phoneNumber"), "date": req.arg("date")}]
            sandbox = (req.arg("useSandbox") or "").lower() == "true"
        elif isinstance(body, dict):
            items, sandbox = body.get("Data"), body.get("useSandbox") is True
        else:
            items = body  # the older documented body: a bare array
        if not isinstance(items, list) or not items or len(items) > MAX_RND:
            items = None
        req.subjects = [ten_digits(str(i.get("phoneNumber") or "")) for i in items or () if isinstance(i, dict)]
        if refusal is not None:
            return refusal
        try:
            asked = [_rnd_item(i) for i in items or ()]
        except ValueError as exc:
            return _message(400, str(exc))
        if not asked:
            return _message(400, f"the data property is missing or empty, or has more than {MAX_RND} numbers")
        # RNDBasic's POST answer alone documents IsSandBox
        shown = sandbox if req.method == "POST" and not enhanced else None
        rows = [self._rnd_row(phone, consent, enhanced, shown) for phone, consent in asked]
        if req.method == "GET":
            return self.serve(req, lambda: Answer.json(200, rows[0]))
        return self.serve(req, lambda: Answer.json(200, rows))

    def _rnd_row(self, phone: str, consent: date, enhanced: bool, sandbox: bool | None) -> dict[str, Any]:
        f = self.facts(phone)
        fcc = reassigned_since(consent, f["reassigned_on"], no_data=f["rnd_no_data"])
        row: dict[str, Any] = {"PhoneNumber": phone, "IsReassigned": fcc}
        if enhanced:
            ccc_on = f.get("ccc_reassigned_on", f["reassigned_on"])
            ccc = reassigned_since(consent, ccc_on, data_start=CCC_DATA_START)
            row["IsReassigned"] = fcc if fcc is not None else ccc  # guess: how the two sources combine
        # guess: safe harbour is offered only on a "not reassigned" answer
        row["HasSafeHarbor"] = row["IsReassigned"] is False
        if enhanced:
            row["CCCIsReassigned"] = ccc
        elif sandbox is not None:
            row["IsSandBox"] = sandbox
        return row


def _rnd_item(item: Any) -> tuple[str, date]:
    if not isinstance(item, dict) or not isinstance(item.get("phoneNumber"), str) or not item.get("date"):
        raise ValueError("each item needs phoneNumber and date")
    if not _TEN_DIGITS.fullmatch(item["phoneNumber"]):
        raise ValueError("phoneNumber must be a 10-digit number without leading 1 or +")
    try:
        return item["phoneNumber"], parse_date(str(item["date"]), DATE_FORMATS)
    except ValueError:
        raise ValueError("date must be MM/DD/YYYY, YYYY-MM-DD, MM/DD/YY or YYYYMMDD") from None


def _message(status: int, text: str) -> Answer:
    return Answer.json(status, {"Message": text})


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(row[name] for name in SCRUB_FIELDS)
    return out.getvalue()


if __name__ == "__main__":
    sys.exit(run(DncScrubSimulator))
