"""A Jornaya (Verisk / InfutorData) TCPA Guardian simulator: the buyer-side audit of a LeadiD token, built
against the "TCPA Guardian (3rd Party) API" (marketing.verisk.com/docs/tcpa-guardian-3rd-party-api), its
glossary, FAQ and brand-names pages. Those pages give the request, the facts and one error body; the
answer's JSON layout is not in what we could read, so it follows the lead-audit structure described
from Jornaya's reference (audit.authentic / reason / result, audit.market.leadid.tcpa, ``*_rule`` = 1
green, 2 yellow, 3 red); the value spellings are guesses (docs/providers.md). Shapes:
tests/contract/jornaya.json.

Routes (paths case-insensitive; production host api.leadid.com):

* ``GET|POST /SingleQuery?lac=&id=&lak=&lpc=&data=&brand_names=`` (POST: the same names as a form, or
  ``{"single_query": {"lead_id", "brand_names", ...}}`` as documented for brand names);
* ``GET /Authenticate?lac=&id=``.

Credentials: ``lac`` (account code: one of ``api_keys``) and ``lak`` (audit key: one of
``audit_keys``, each with its audit profile, ``sim.profile(lak, ...)``). A token that is not 36
characters of UUID, or not issued, answers 200 with ``authentic: 0`` and reason 4; expired (older than a
year) 1; queried more than 100 times 2; opted out 3 - all documented.

Facts per token (unscripted: a good lead): ``issued``, ``created_at``, ``opted_out``, ``call_center``,
``disclosure`` (match, mismatch, no_label), ``consent`` (active, passive, passive_decline,
active_decline, no_interaction), ``consent_type``, ``font_px`` (-> prominence, Jornaya's table),
``contrast`` (0-100), ``visible``, ``captured``, ``stored``, ``brands`` (the brands consented to; null:
any asked about), ``witnessed`` (the lead data the script saw; null: whatever is sent matches).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from local.sims.cli import run
from local.sims.http import CONTROL_PREFIX, Answer, Request, SimServer
from local.sims.script import is_bool, is_number, is_str, is_str_list, one_of

TOKEN = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
TOKEN_LIFETIME = timedelta(days=365)
QUERY_LIMIT = 100
MAX_BRANDS = 30
REQUIRED = ("lac", "id", "lak", "lpc")
# reason codes when authentic is 0
EXPIRED, QUERY_LIMIT_REACHED, OPTED_OUT, INVALID_TOKEN = 1, 2, 3, 4
GREEN, YELLOW, RED = 1, 2, 3
CONSENTS = ("active", "passive", "passive_decline", "active_decline", "no_interaction")
DEFAULT_PROFILE: dict[str, Any] = {
    # Jornaya's recommendation: 12pt (16px, prominence 100); 40% contrast; guesses for the rest
    "min_prominence": 50,
    "min_contrast": 40,
    "consent": {
        "active": GREEN,
        "no_interaction": GREEN,
        "passive": YELLOW,
        "passive_decline": RED,
        "active_decline": RED,
    },
    "failing": {
        "disclosure": RED,
        "visibility": RED,
        "prominence": YELLOW,
        "contrast": YELLOW,
        "capture": RED,
        "stored": RED,
        "brand_name_present": RED,
        "data_integrity": YELLOW,
        "call_center": GREEN,
    },
    "brand_names": "",  # the profile's brands, used when a request names none
}


def prominence(font_px: float) -> float:
    """Jornaya's prominence value: 0 below 9px, 12.5 a pixel from 9px, 100 from 16px."""
    return 0.0 if font_px < 9 else min(100.0, (int(font_px) - 8) * 12.5)


def _lead_data(raw: str) -> dict[str, str]:
    """``email;joe@smith.com|f_name;joe`` -> {"email": ..., "f_name": ...}; ValueError when malformed."""
    pairs = [p for p in raw.split("|") if p]
    if not all(";" in p for p in pairs):
        raise ValueError("data must be label;value pairs separated by |")
    return {label.strip(): value.strip() for label, _, value in (p.partition(";") for p in pairs)}


def _same(label: str, sent: str, seen: str) -> bool:
    if label.startswith("phone"):
        return re.sub(r"\D", "", sent)[-10:] == re.sub(r"\D", "", seen)[-10:]
    return sent.casefold() == seen.casefold()


class JornayaSimulator(SimServer):
    """Jornaya TCPA Guardian (LeadiD SingleQuery) and token authentication."""

    NAME = "jornaya"
    SUBJECTS = "tokens"
    DEFAULT_PORT = 8914
    SECRET_PARAMS = frozenset({"lac", "lak", "agency"})
    FACTS: ClassVar = {
        "issued": (is_bool, "a boolean"),
        "created_at": (lambda v: v is None or isinstance(v, str), "an ISO date-time or null (null: an hour ago)"),
        "opted_out": (is_bool, "a boolean"),
        "call_center": (is_bool, "a boolean"),
        "disclosure": one_of("match", "mismatch", "no_label"),
        "consent": one_of(*CONSENTS),
        "consent_type": (is_str, "a string (checkbox, radio, submit, ...)"),
        "font_px": (lambda v: is_number(v) and v >= 0, "a number of pixels"),
        "contrast": (lambda v: is_number(v) and 0 <= v <= 100, "a number 0-100"),
        "visible": (is_bool, "a boolean"),
        "captured": (is_bool, "a boolean"),
        "stored": (is_bool, "a boolean"),
        "brands": (lambda v: v is None or is_str_list(v), "null or an array of brand names"),
        "witnessed": (
            lambda v: v is None or (isinstance(v, dict) and is_str_list(list(v.values()))),
            "null or an object of label -> value",
        ),
    }
    DEFAULT_FACTS: ClassVar = {
        "issued": True, "created_at": None, "opted_out": False, "call_center": False, "disclosure": "match",
        "consent": "active", "consent_type": "checkbox", "font_px": 16, "contrast": 87, "visible": True,
        "captured": True, "stored": True, "brands": None, "witnessed": None,
    }  # fmt: skip

    def __init__(self, *args: Any, audit_keys: tuple[str, ...] = ("sim-audit-key",), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.audit_keys = audit_keys
        self.profiles = {lak: copy.deepcopy(DEFAULT_PROFILE) for lak in audit_keys}
        self.route("GET", "/SingleQuery", self._single_query, ignore_case=True)
        self.route("POST", "/SingleQuery", self._single_query, ignore_case=True)
        self.route("GET", "/Authenticate", self._authenticate, ignore_case=True)
        self.route("POST", CONTROL_PREFIX + "profiles/{lak}", self._profile_control, control=True)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--audit-key", action="append", dest="audit_keys", help="accepted lak (repeatable)")

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> JornayaSimulator:
        keys = tuple(args.audit_keys or ("sim-audit-key",))
        return cls(args.host, args.port, args.api_keys or ("sim-key",), args.latency, args.retry_after, audit_keys=keys)

    def normalise(self, key: str) -> str:
        return key.strip().upper()

    def reset(self) -> None:
        """Scripts, the request log and the audit profiles (back to the defaults)."""
        super().reset()
        self.profiles = {lak: copy.deepcopy(DEFAULT_PROFILE) for lak in self.audit_keys}

    def profile(self, lak: str, **rules: Any) -> dict[str, Any]:
        """Create or change the audit profile of audit key ``lak`` (keys as in DEFAULT_PROFILE)."""
        unknown = set(rules) - set(DEFAULT_PROFILE)
        if unknown:
            raise ValueError(f"unknown profile settings {sorted(unknown)}")
        profile = self.profiles.setdefault(lak, copy.deepcopy(DEFAULT_PROFILE))
        for name, value in rules.items():
            profile[name] = {**profile[name], **value} if isinstance(profile[name], dict) else value
        return profile

    def fault_answer(self, status: int, kind: str) -> Answer:
        return _error(status, status, kind.replace("_", " "))  # guess: Jornaya documents no 5xx or 429

    # -- requests ----------------------------------------------------------------------------------
    def _params(self, req: Request) -> dict[str, str]:
        params = {k: v[0] for k, v in req.query.items()}
        if req.method == "POST" and req.body.strip():
            if "json" in (req.header("Content-Type") or ""):
                body = req.json().get("single_query") or {}
                params.update({("id" if k == "lead_id" else k): str(v) for k, v in body.items()})
            else:
                params.update(req.form())
        # credentials from a body, too, stay out of the request log
        req.secrets.extend(params[name] for name in self.SECRET_PARAMS if params.get(name))
        return params

    def _authenticate(self, req: Request) -> Answer | None:
        params = self._params(req)
        token = params.get("id", "")
        req.subjects = [self.normalise(token)] if token else []
        if params.get("lac") not in self.api_keys:
            return _error(401, 1001, "Invalid account code")  # guess: status, code and message
        reason = self._inauthentic(token)
        body = {"authentic": 0 if reason else 1, "token": token, **({"reason": reason} if reason else {})}
        return self.serve(req, lambda: Answer.json(200, {"authenticate": body}))

    def _single_query(self, req: Request) -> Answer | None:
        try:
            params = self._params(req)
        except (ValueError, AttributeError):
            return _error(400, 1000, "Invalid request body")  # guess
        token = params.get("id", "")
        req.subjects = [self.normalise(token)] if token else []
        missing = [name for name in REQUIRED if not params.get(name)]
        if missing:
            return _error(400, 1000, f"Missing required parameter: {missing[0]}")  # guess
        if params["lac"] not in self.api_keys:
            return _error(401, 1001, "Invalid account code")  # guess
        profile = self.profiles.get(params["lak"])
        if profile is None:
            return _error(401, 1002, "Invalid audit key")  # guess
        brands_raw = params.get("brand_names") or profile["brand_names"]
        brands = [b for b in brands_raw.split("|") if b] if brands_raw else []
        if len(brands) > MAX_BRANDS:  # documented: code and message; the status is a guess
            return _error(400, 1050, "Brand names parameter limit of 30 was reached")
        if params.get("format", "json").lower() != "json":
            return Answer.json(400, {"error": "Simulator: only format=json is simulated"})
        try:
            sent = _lead_data(params.get("data", ""))
        except ValueError as exc:
            return _error(400, 1000, str(exc))  # guess
        transid = str(uuid.uuid4()).upper()
        reason = self._inauthentic(token)
        if reason:
            audit = {"authentic": 0, "reason": reason, "reg_rule": RED, "result": RED, "token": token}
            return self.serve(req, lambda: Answer.json(200, {"audit": audit, "transid": transid}))
        audit = self._audit(token, profile, sent, brands, brands_raw)
        return self.serve(req, lambda: Answer.json(200, {"audit": audit, "transid": transid}))

    def _inauthentic(self, token: str) -> int | None:
        """The documented reason a token is not authentic, or None."""
        f = self.facts(token)
        if not TOKEN.fullmatch(token) or not f["issued"]:
            return INVALID_TOKEN
        created = datetime.fromisoformat(f["created_at"]) if f["created_at"] else datetime.now(UTC)
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        if datetime.now(UTC) - created > TOKEN_LIFETIME:
            return EXPIRED
        if self.count(token, 200) >= QUERY_LIMIT:
            return QUERY_LIMIT_REACHED
        return OPTED_OUT if f["opted_out"] else None

    def _audit(
        self, token: str, profile: dict[str, Any], sent: dict[str, str], brands: list[str], brands_raw: str
    ) -> dict[str, Any]:
        f = self.facts(token)
        failing = profile["failing"]
        seen = f["witnessed"]
        matched = {k: seen is None or (k in seen and _same(k, v, seen[k])) for k, v in sent.items()}
        consented = {b: f["brands"] is None or b.casefold() in {x.casefold() for x in f["brands"]} for b in brands}
        checks = {  # check -> (value, passed)
            "disclosure": (f["disclosure"], f["disclosure"] == "match"),
            "prominence": (prominence(f["font_px"]), prominence(f["font_px"]) >= profile["min_prominence"]),
            "contrast": (f["contrast"], f["contrast"] >= profile["min_contrast"]),
            "visibility": ("visible" if f["visible"] else "not_visible", f["visible"]),
            "capture": (int(f["captured"]), f["captured"]),
            "stored": (int(f["stored"]), f["stored"]),
        }
        tcpa: dict[str, Any] = {}
        for name, (value, passed) in checks.items():
            tcpa[name], tcpa[f"{name}_rule"] = value, GREEN if passed else failing[name]
        tcpa.update(consent=f["consent"], consent_rule=profile["consent"][f["consent"]], type=f["consent_type"])
        if brands:
            tcpa["brand_names"] = brands_raw  # documented: echoed exactly as submitted
            tcpa["brand_name_present"] = [{"brand_name": b, "present": int(ok)} for b, ok in consented.items()]
            tcpa["brand_name_present_rule"] = GREEN if all(consented.values()) else failing["brand_name_present"]
        tcpa["result"] = max(v for k, v in tcpa.items() if k.endswith("_rule"))
        integrity_rule = GREEN if all(matched.values()) else failing["data_integrity"]
        call_center_rule = failing["call_center"] if f["call_center"] else GREEN
        return {
            "authentic": 1,
            "token": token,
            "reg_rule": GREEN,
            "call_center": int(f["call_center"]),
            "call_center_rule": call_center_rule,
            "data_integrity": int(all(matched.values())),
            "data_integrity_rule": integrity_rule,
            "data_integrity_passed": [k for k, ok in matched.items() if ok],
            "data_integrity_failed": [k for k, ok in matched.items() if not ok],
            "fields": {k: int(ok) for k, ok in matched.items()},
            "market": {"leadid": {"tcpa": tcpa}},
            "result": max(tcpa["result"], integrity_rule, call_center_rule),
        }

    def _profile_control(self, req: Request) -> Answer:
        rules = req.json() if req.body.strip() else {}
        if not isinstance(rules, dict):
            raise ValueError("body must be an object of profile settings")
        return Answer.json(200, self.profile(req.params["lak"], **rules))


def _error(status: int, code: int, message: str) -> Answer:
    """The one error envelope Jornaya documents (for the brand-names limit)."""
    return Answer.json(status, {"error": {"code": code, "message": message}, "transid": str(uuid.uuid4()).upper()})


if __name__ == "__main__":
    sys.exit(run(JornayaSimulator))
