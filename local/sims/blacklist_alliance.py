"""A Blacklist Alliance simulator: the phone lookup behind its Litigation Firewall (the litigator scrub
LeadConduit sells as an add-on). Blacklist Alliance publishes no public API reference: the routes and
fields come from ActiveProspect's integration page (the appended fields, the code levels), public client
code that calls the API (an unofficial Node.js client, integrations on GitHub) and the examples in them.
Everything not in ActiveProspect's page is marked a guess in docs/providers.md; the shapes:
tests/contract/blacklist_alliance.json.

Routes (paths case-insensitive; production host api.blacklistalliance.net):

* ``GET /lookup?key=K&phone=N&ver=v5&resp=json`` (the "simple" API);
* ``GET /standard/api/{ver}/Lookup/key/{key}/phone/{phone}/response/{resp}`` (the "standard" API; the
  order ``.../response/{resp}/phone/{phone}`` seen in client code answers too).

The key travels in the query or the path (so the request log redacts it). A wrong key answers 401 with
the text ``API Key Not Found`` (text seen in client code; the status is a guess).

Facts per number (unscripted: clean, wireless): ``codes`` (the data feeds it is on, e.g.
``["plaintiff-primary"]``; empty: ``Good``), ``wireless``, ``carrier_name``, ``carrier_type``,
``carrier_state``.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from typing import Any, ClassVar

from local.sims.cli import run
from local.sims.http import Answer, Request, SimServer
from local.sims.script import is_bool, is_str

VERSIONS = ("v1", "v2", "v3", "v5")
# ActiveProspect's code levels: the data feeds, by risk (0 = no code)
CODE_LEVELS = {
    "screamers": 5,
    "prelitigation1": 10,
    "prelitigation2": 10,
    "attorney-secondary": 15,
    "plaintiff-secondary": 20,
    "attorney-primary": 25,
    "plaintiff-primary": 30,
}
_CODE = re.compile(r"[a-z0-9][a-z0-9-]*")


def ten_digits(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def code_level(codes: list[str]) -> int:
    """The highest level among the codes (what LeadConduit appends as ``code_level``)."""
    return max((CODE_LEVELS.get(c, 0) for c in codes), default=0)


class BlacklistAllianceSimulator(SimServer):
    """Blacklist Alliance phone lookup (Litigation Firewall)."""

    NAME = "blacklist-alliance"
    SUBJECTS = "numbers"
    DEFAULT_PORT = 8913
    SECRET_PARAMS = frozenset({"key"})
    FACTS: ClassVar = {
        "codes": (
            lambda v: isinstance(v, list) and all(isinstance(c, str) and _CODE.fullmatch(c) for c in v),
            "an array of feed codes, e.g. plaintiff-primary",
        ),
        "wireless": (is_bool, "a boolean"),
        "carrier_name": (is_str, "a string"),
        "carrier_type": (is_str, "a string"),
        "carrier_state": (lambda v: isinstance(v, str) and len(v) == 2, "a 2-letter state"),
    }
    DEFAULT_FACTS: ClassVar = {
        "codes": [], "wireless": True, "carrier_name": "NEW CINGULAR WIRELESS PCS, LLC", "carrier_type": "PCS",
        "carrier_state": "CA",
    }  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.route("GET", "/lookup", self._simple, ignore_case=True)
        for path in ("phone/{phone}/response/{resp}", "response/{resp}/phone/{phone}"):
            self.route("GET", "/standard/api/{ver}/Lookup/key/{key}/" + path, self._standard, ignore_case=True)

    def normalise(self, key: str) -> str:
        return ten_digits(key)

    def fault_answer(self, status: int, kind: str) -> Answer:
        return Answer.json(status, {"status": "error", "message": kind.replace("_", " ")})  # guess

    def _simple(self, req: Request) -> Answer | None:
        params = {name: req.arg(name) for name in ("key", "phone", "ver", "resp")}
        return self._lookup(req, params["key"], params["phone"], params["ver"] or "v5", params["resp"] or "json")

    def _standard(self, req: Request) -> Answer | None:
        p = req.params
        return self._lookup(req, p["key"], p["phone"], p["ver"], p["resp"])

    def _lookup(self, req: Request, key: str | None, phone: str | None, ver: str, resp: str) -> Answer | None:
        number = ten_digits(phone or "")
        req.subjects = [number] if phone else []
        if key not in self.api_keys:
            return Answer.text(401, "API Key Not Found")
        if len(number) != 10:
            return Answer.text(400, "Invalid Phone Number")  # guess: status and text
        if ver.lower() not in VERSIONS:
            return Answer.text(400, "Invalid Version")  # guess
        if resp.lower() not in ("json", "raw"):
            return Answer.json(400, {"error": f"Simulator: response format {resp} not simulated"})
        answer = self._answer_for(number, ver.lower())
        if resp.lower() == "raw":  # guess: raw is the message alone
            return self.serve(req, lambda: Answer.text(200, answer["message"]))
        return self.serve(req, lambda: Answer.json(200, answer))

    def _answer_for(self, number: str, ver: str) -> dict[str, Any]:
        f = self.facts(number)
        codes = f["codes"]
        answer: dict[str, Any] = {
            "sid": str(uuid.uuid4()),
            "status": "success",
            "message": "Blacklisted" if codes else "Good",
            "code": ",".join(codes),
            "offset": 0,  # guess: its meaning is undocumented
            "wireless": 1 if f["wireless"] else 0,
            "phone": number,
            "results": 1 if codes else 0,  # guess: the number of matches
            "time": int(time.time()),  # guess: a Unix time
            "scrubs": "1",  # guess: its meaning is undocumented
        }
        if ver in ("v3", "v5"):  # the carrier arrived with v3
            answer["carrier"] = {
                "did": number, "type": f["carrier_type"], "name": f["carrier_name"], "state": f["carrier_state"],
                "ratecenter": "SANTA ROSA", "country": "US", "clli": "SNRSCA01", "lata": "722",
                "wireless": "Y" if f["wireless"] else "N", "lrn": number, "npa": number[:3], "nxx": number[3:6],
                "nxxx": number[6], "ocn": "6010", "port_type": "",
            }  # fmt: skip
        return answer


if __name__ == "__main__":
    sys.exit(run(BlacklistAllianceSimulator))
