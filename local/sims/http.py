"""The one loopback HTTP server our provider simulators are built on (standard library only).

A simulator subclasses ``SimServer``, registers its routes (``self.route("GET", "/v2/Things/{id}", fn)``)
and answers with ``Answer`` values. The base brings the rest, the same for every provider:

* HTTP/1.1 on 127.0.0.1 (a free port unless one is given), a thread per connection, keep-alive, request
  bodies up to 1 MiB (413 past that), chunked bodies read (``local.loopback``);
* subjects: what the provider answers per (a phone number, a token). A handler names its request's
  subjects (``req.subjects``) and hands the normal answer to ``serve``, which applies a fault instead
  when one is asked for: per request with header ``X-Simulator-Fault: <name>`` (takes precedence,
  consumes nothing), else scripted per subject (``local.sims.script``: faults and facts). A provider may
  add faults of its own (``EXTRA_FAULTS``: a status, or a behaviour its handler answers, reading
  ``req.fault``), as the TrustedForm simulator's behaviours would be;
* a request log (credentials redacted) with counts per subject: "one call per number per window";
* control endpoints, no auth: ``GET /_simulator/health``, ``GET /_simulator/requests``,
  ``GET /_simulator/counts``, ``POST /_simulator/reset``, ``GET|POST /_simulator/config`` and
  ``GET|POST /_simulator/{SUBJECTS}/{key}`` with ``{"faults": [...], "facts": {...}}``;
* the standalone process: ``local.sims.cli.run`` (``python -m local.sims.<provider> --port N --api-key K``).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote

from local.loopback import Answer, LoopbackServer, Request
from local.sims.journal import Journal
from local.sims.script import FAULT_STATUS, ExtraFaults, FactTable, Scripts, parse_fault

__all__ = ["CONTROL_PREFIX", "FAULT_HEADER", "Answer", "Request", "SimServer"]

log = logging.getLogger("tf_retainer.sims")

CONTROL_PREFIX = "/_simulator/"
FAULT_HEADER = "X-Simulator-Fault"
HANG_SECONDS = 30.0


Handle = Callable[[Request], Answer | None]


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handle: Handle
    control: bool


class SimServer:
    """A provider simulator on a real socket: subclass, set the class attributes, register routes.

    ``start()`` returns the base URL; ``stop()`` ends it (also on ``with``). Scripts and the request log
    survive stop/start; ``reset()`` clears them (keys, latency and retry_after stay)."""

    NAME: ClassVar[str] = "sim"
    SUBJECTS: ClassVar[str] = "subjects"  # the control path naming what facts and faults are kept per
    # fact name -> (check, what it must be); DEFAULT_FACTS: the unscripted subject
    FACTS: ClassVar[FactTable] = {}
    DEFAULT_FACTS: ClassVar[dict[str, Any]] = {}
    SECRET_HEADERS: ClassVar[frozenset[str]] = frozenset({"authorization"})
    SECRET_PARAMS: ClassVar[frozenset[str]] = frozenset()  # query and route parameters
    DEFAULT_PORT: ClassVar[int] = 0
    EXTRA_FAULTS: ClassVar[ExtraFaults] = {}  # the provider's own faults (local.sims.script.ExtraFaults)

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = ("sim-key",),
        latency: float = 0.0,
        retry_after: int = 2,
    ) -> None:
        self.host, self.port = host, port
        self.api_keys = frozenset([api_keys] if isinstance(api_keys, str) else api_keys)
        self.latency = float(latency)
        self.retry_after = retry_after
        self._routes: list[_Route] = []
        self.scripts = Scripts(self.FACTS, self.DEFAULT_FACTS, self.normalise, self.EXTRA_FAULTS)
        self.journal = Journal(self.SECRET_HEADERS, self.SECRET_PARAMS)
        self._server: LoopbackServer | None = None
        self._stopping = threading.Event()
        self.base_url: str | None = None
        for method, name, handle in (
            ("GET", "health", lambda r: Answer.json(200, {"status": "ok", "simulator": self.NAME})),
            ("GET", "requests", lambda r: Answer.json(200, self.requests)),
            ("GET", "counts", lambda r: Answer.json(200, self.counts())),
            ("POST", "reset", self._reset),
            ("GET", "config", self._config),
            ("POST", "config", self._config),
            ("GET", self.SUBJECTS + "/{key}", self._subject),
            ("POST", self.SUBJECTS + "/{key}", self._subject),
        ):
            self.route(method, CONTROL_PREFIX + name, handle, control=True)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Command-line options of this simulator beyond the common ones (``run``)."""

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> SimServer:
        return cls(args.host, args.port, args.api_keys or ("sim-key",), args.latency, args.retry_after)

    # -- routes ------------------------------------------------------------------------------------
    def route(
        self, method: str, template: str, handle: Handle, *, ignore_case: bool = False, control: bool = False
    ) -> None:
        """Serve ``method template`` with ``handle``; ``{name}`` in the template matches one path segment."""
        regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template))
        flags = re.IGNORECASE if ignore_case else 0
        self._routes.append(_Route(method, template, re.compile(regex + "/?", flags), handle, control))

    def not_found(self, req: Request, allowed: list[str]) -> Answer:
        """No route (or, with ``allowed``, another method): a provider may answer its own way."""
        if allowed:
            return Answer.json(405, {"error": "method not allowed"}, {"Allow": ", ".join(allowed)})
        return Answer.json(404, {"error": f"no route {req.method} {req.path}"})

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> str:
        if self._server is None:
            self._stopping = threading.Event()
            self._server = LoopbackServer((self.host, self.port), self._answer, f"{self.NAME}-simulator")
            self.base_url = self._server.serve(f"sim-{self.NAME}")
        return self.base_url or ""

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            self._stopping.set()  # wakes latency, slow and hang sleeps
            server.stop()

    def __enter__(self) -> SimServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection ------------------------------------------------------------------
    def normalise(self, key: str) -> str:
        """The canonical form of a subject key (a provider's number format, a token's case)."""
        return key

    def script(self, key: str, faults: Iterable[str] | str | None = None, **facts: Any) -> None:
        """Script a subject: faults consumed one per request naming it (the last repeats; None keeps the
        current ones, a list replaces them) and facts (unnamed ones keep their values). ValueError for an
        unknown fault or a bad fact, changing nothing."""
        self.scripts.script(key, faults, facts)

    def facts(self, key: str) -> dict[str, Any]:
        """The subject's facts: the defaults, then what was scripted."""
        return self.scripts.facts(key)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A copy of the request log, oldest first (``local.sims.journal``); credentials redacted."""
        return self.journal.entries()

    def count(self, key: str, status: int | None = None) -> int:
        """Requests naming the subject (any outcome, or only those answered ``status``)."""
        return self.journal.count(self.normalise(key), status)

    def counts(self) -> dict[str, int]:
        """Requests per subject."""
        return self.journal.counts()

    def reset(self) -> None:
        self.scripts.clear()
        self.journal.clear()

    # -- serving -----------------------------------------------------------------------------------
    def serve(self, req: Request, produce: Callable[[], Answer]) -> Answer | None:
        """Apply the request's fault (header, else one consumed from each scripted subject, the first
        that is not ``ok``), else ``produce()``. None: drop the connection unanswered."""
        requested = req.header(FAULT_HEADER)
        try:
            if requested is not None:
                fault = requested.strip()
                parse_fault(fault, self.EXTRA_FAULTS)
            else:
                fault = self.scripts.consume(req.subjects)
        except ValueError as exc:
            return Answer.json(400, {"error": f"Simulator: {exc}"})
        req.fault = fault
        kind, arg = parse_fault(fault, self.EXTRA_FAULTS)
        if kind == "slow" and not self._sleep(arg or 0.0):
            return None
        if kind in ("ok", "slow") or (kind in self.EXTRA_FAULTS and self.EXTRA_FAULTS[kind] is None):
            return produce()
        if kind in self.EXTRA_FAULTS:
            return self.fault_answer(self.EXTRA_FAULTS[kind] or 500, kind)
        if kind in ("hang", "drop"):
            if kind == "hang":
                self._sleep(HANG_SECONDS)
            return None
        if kind == "malformed":
            body = produce().body  # half of it: never parses
            return Answer(200, body[: len(body) // 2], "application/json")
        retry = str(int(arg if arg is not None else self.retry_after)) if kind == "throttled" else None
        answer = self.fault_answer(FAULT_STATUS[kind], kind)
        if retry is not None:
            answer.headers["Retry-After"] = retry
        return answer

    def fault_answer(self, status: int, kind: str) -> Answer:
        """The error a fault answers with; providers shape their own."""
        return Answer.json(status, {"error": kind})

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when the simulator is stopping."""
        return not self._stopping.wait(seconds) if seconds > 0 else not self._stopping.is_set()

    def _match(self, req: Request) -> tuple[_Route | None, list[str]]:
        allowed = []
        for route in self._routes:
            found = route.pattern.fullmatch(req.path)
            if found and route.method == req.method:
                req.params = {k: unquote(v) for k, v in found.groupdict().items()}
                return route, []
            if found:
                allowed.append(route.method)
        return None, allowed

    def _answer(self, req: Request) -> Answer | None:
        """One request, routed and answered (None: drop the connection)."""
        route, allowed = self._match(req)
        if route is not None and route.control:
            return self._control(route, req)
        entry = self.journal.record(req, route.template if route else None)
        answer: Answer | None = None
        try:
            if self._sleep(self.latency):
                answer = route.handle(req) if route else self.not_found(req, allowed)
            return answer
        finally:
            self.journal.finish(entry, req, answer)
            # never the subjects (phone numbers, tokens) or credentials: counts and outcome only
            log.info(
                "%s %s %s subjects=%d fault=%s status=%s",
                self.NAME,
                req.method,
                entry["route"] or "-",
                len(req.subjects),
                req.fault or "-",
                answer.status if answer else "dropped",
            )

    def _control(self, route: _Route, req: Request) -> Answer:
        try:
            return route.handle(req) or Answer.json(200, {})
        except (ValueError, TypeError) as exc:
            return Answer.json(400, {"error": str(exc)})

    # -- control endpoints -------------------------------------------------------------------------
    def _reset(self, req: Request) -> Answer:
        self.reset()
        return Answer.json(200, {"status": "reset"})

    def _config(self, req: Request) -> Answer:
        if req.method == "POST":
            config = json.loads(req.body or b"{}")
            if not isinstance(config, dict):
                raise ValueError("config must be an object")
            keys = config.get("api_keys", list(self.api_keys))
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise ValueError("api_keys must be an array of strings")
            self.api_keys = frozenset(keys)
            self.latency = max(0.0, float(config.get("latency", self.latency)))
            self.retry_after = int(config.get("retry_after", self.retry_after))
        # never echo the keys themselves
        return Answer.json(
            200, {"latency": self.latency, "retry_after": self.retry_after, "api_keys": len(self.api_keys)}
        )

    def _subject(self, req: Request) -> Answer:
        key = req.params["key"]
        if req.method == "POST":
            spec = json.loads(req.body or b"{}")
            if not isinstance(spec, dict) or set(spec) - {"faults", "facts"}:
                raise ValueError('body must be {"faults": [...], "facts": {...}}')
            faults, facts = spec.get("faults"), spec.get("facts") or {}
            if faults is not None and (not isinstance(faults, list) or not all(isinstance(f, str) for f in faults)):
                raise ValueError("faults must be an array of strings")
            if not isinstance(facts, dict):
                raise ValueError("facts must be an object")
            self.script(key, faults, **facts)
        faults_now = self.scripts.faults(key)
        return Answer.json(
            200,
            {
                "subject": self.normalise(key),
                "faults": faults_now,
                "facts": self.facts(key),
                "requests": self.count(key),
            },
        )
