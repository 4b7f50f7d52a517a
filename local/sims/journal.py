"""The request log every simulator keeps: what was asked, of which subjects, and how it was answered.

Credentials never reach it: secret headers are replaced, and every secret value the request carried
(secret headers, query and route parameters, and whatever a handler adds to ``req.secrets``) is
replaced wherever it appears in the path or the body."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

from local.loopback import Answer, Request

REDACTED = "[redacted]"


class Journal:
    def __init__(self, secret_headers: frozenset[str], secret_params: frozenset[str]) -> None:
        self.secret_headers = secret_headers
        self.secret_params = secret_params
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def record(self, req: Request, route: str | None) -> dict[str, Any]:
        """A new entry, visible at once (a hung request shows with status None)."""
        secrets = [v for k, v in req.headers.items() if k in self.secret_headers]
        secrets += [v[0] for k, v in req.query.items() if k in self.secret_params and v]
        secrets += [v for k, v in req.params.items() if k in self.secret_params]
        req.secrets.extend(s for s in secrets if s)
        entry: dict[str, Any] = {
            "method": req.method,
            "path": req.raw_path,
            "route": route,
            "subjects": [],
            "fault": None,
            "status": None,
            "headers": {k: (REDACTED if k in self.secret_headers else v) for k, v in req.headers.items()},
            "body_text": req.body.decode("utf-8", "replace"),
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        with self._lock:
            entry["seq"] = len(self._entries) + 1
            self._redact(entry, req.secrets)
            self._entries.append(entry)
        return entry

    def finish(self, entry: dict[str, Any], req: Request, answer: Answer | None) -> None:
        with self._lock:
            entry.update(subjects=list(req.subjects), fault=req.fault, status=answer.status if answer else None)
            self._redact(entry, req.secrets)

    def entries(self) -> list[dict[str, Any]]:
        """Oldest first: seq, time, method, path (query included), route (the template matched, None for
        none), subjects, fault, status (None in flight or dropped), headers, body_text."""
        with self._lock:
            return copy.deepcopy(self._entries)

    def count(self, key: str, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for e in self._entries if key in e["subjects"] and status in (None, e["status"]))

    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        with self._lock:
            for entry in self._entries:
                for key in dict.fromkeys(entry["subjects"]):
                    totals[key] = totals.get(key, 0) + 1
        return totals

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @staticmethod
    def _redact(entry: dict[str, Any], secrets: list[str]) -> None:
        variants = {
            form for secret in secrets if secret for form in (secret, quote(secret, safe=""), quote_plus(secret))
        }
        for secret in sorted(variants, key=len, reverse=True):
            for name in ("path", "body_text"):
                entry[name] = entry[name].replace(secret, REDACTED)
