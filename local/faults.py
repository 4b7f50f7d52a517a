"""AWS's faults in the local stack: what moto never does, injected at its HTTP front door.

moto answers every request, applies each one whole and at once, reads an index as strongly as its table
and never hands a queued message out twice. AWS does all of these. With a :class:`FaultPlan`
(``python -m local.stack --aws-faults[=SPEC]``, or ``AWS_FAULTS=SPEC``):

* ``conflict:R`` - a DynamoDB write is answered ``TransactionConflictException`` (a TransactWriteItems:
  ``TransactionCanceledException`` with one ``TransactionConflict`` reason) with probability R;
* ``throttle:R`` - any DynamoDB request is answered ``ProvisionedThroughputExceededException`` or
  ``ThrottlingException`` with probability R. Both as DynamoDB answers them (HTTP 400, its JSON error
  body), nothing applied: botocore's retries, the store's ``retry_conflicts`` and ``StoreUnavailable``
  see real errors;
* ``lost-answer:R`` - a write (DynamoDB, SQS, EventBridge, S3) is applied and answered 500 with
  probability R, as when its answer is lost on the way back: the client sends it again, and finds its
  own write there (a condition failing on itself, a message or event sent twice);
* ``stale-index:S`` - a Query on an index is answered as the items stood S seconds ago (local/stale_index.py);
* ``duplicate:R`` - the retry and callback pollers hand a received message to two concurrent invocations
  with probability R (local/poller.py);
* ``kill:R`` - the worker process that sent a write (DynamoDB, SQS, EventBridge, S3) is SIGKILLed with
  probability R, before moto applies the write or after it (durable, its caller never told), when the
  function it runs is one of ``kill-functions:A+B`` (default: all but the API's, whose kill is a 502 the
  vendor sees: tests/crash covers those);
* ``seed:N`` - the draws' seed.

Errors and kills reach only the functions: each worker's clients carry ``app/tfw-<pid>`` in their
User-Agent (``AWS_SDK_UA_APP_ID``). The stack's pollers stand for AWS's own machinery, and an audit reads
what is there: neither is failed. ``GET /_local/faults`` on moto's port answers what was injected.

The same front door holds a :class:`Gate` for the crash tests (tests/crash): the n-th request of an
operation held, before moto applies it or after, while the test kills its caller.
"""

from __future__ import annotations

import io
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from local.fault_plan import DEFAULT_SPEC, FaultPlan
from local.stale_index import StaleIndex

__all__ = ["DEFAULT_SPEC", "FaultLayer", "FaultPlan", "Gate", "request_name"]

WRITES = {
    "dynamodb": frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}),
    "sqs": frozenset({"SendMessage", "SendMessageBatch", "DeleteMessage", "DeleteMessageBatch"}),
    "events": frozenset({"PutEvents"}),
    "s3": frozenset({"PutObject", "PutObjectLegalHold", "DeleteObject"}),
}
THROTTLE_CODES = (
    ("ProvisionedThroughputExceededException", "com.amazonaws.dynamodb.v20120810#"),
    ("ThrottlingException", "com.amazon.coral.availability#"),
)
DYNAMODB_ERROR = "com.amazonaws.dynamodb.v20120810#"
# A write applied whose answer never arrives: what the caller sees instead (each a 500 botocore retries).
LOST_ANSWER_ERRORS = {"dynamodb": DYNAMODB_ERROR + "InternalServerError", "events": "InternalException"}
FAULTS_PATH = "/_local/faults"
_CALLER = re.compile(r"app/tfw-([\w-]+)")
_SCOPE = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request")


# --------------------------------------------------------------------------------------------- the gate


@dataclass
class Gate:
    """Holds one request: the ``nth`` named ``target`` (an X-Amz-Target, or ``S3.<operation>``).

    ``after=True``: moto applies it, the answer waits (durable write, caller not told). ``after=False``:
    it waits unapplied and, once released, is answered 500 without being applied (the caller died
    before its write arrived). ``hit`` is set when the request is held; ``release()`` lets it go.
    """

    target: str = ""
    nth: int = 1
    after: bool = True
    seen: int = 0
    hit: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, target: str, *, nth: int = 1, after: bool) -> None:
        with self._guard:
            self.target, self.nth, self.after, self.seen = target, nth, after, 0
            self.hit = threading.Event()
            self._released = threading.Event()

    def release(self) -> None:
        with self._guard:
            self.target = ""
            self._released.set()

    def wait_hit(self, timeout: float = 30.0) -> None:
        if not self.hit.wait(timeout):
            raise TimeoutError(f"no {self.target} request reached moto within {timeout:.0f} s")

    def holds(self, name: str) -> tuple[threading.Event, threading.Event, bool] | None:
        """(hit, released, after) when this request is the one to hold."""
        with self._guard:
            if not self.target or name != self.target:
                return None
            self.seen += 1
            if self.seen != self.nth:
                return None
            return self.hit, self._released, self.after


# --------------------------------------------------------------------------------------- the front door

_layers: dict[str, FaultLayer] = {}
_original: Callable[..., Any] | None = None


def _install_front_door() -> None:
    """Once per process: moto's server app asks the layer of its port, if any, first. After motolock's
    serialisation, so a request held here holds no lock."""
    global _original
    if _original is not None:
        return
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    from local.motolock import serialise_moto

    serialise_moto()
    original = DomainDispatcherApplication.__call__
    _original = original

    def front_door(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
        layer = _layers.get(str(environ.get("SERVER_PORT")))
        if layer is None:
            return original(app, environ, start_response)
        return layer.handle(lambda env, start: original(app, env, start), environ, start_response)

    setattr(DomainDispatcherApplication, "__call__", front_door)  # noqa: B010 - a method replaced on the class


class FaultLayer:
    """The faults of ``plan`` and a :class:`Gate`, in front of the moto server on ``port``.

    ``running(pid)``: the function a worker process of this stack runs now (None: not one of ours, or
    idle); ``kill(pid)``: SIGKILL that worker. Without them nothing is killed.
    """

    def __init__(
        self,
        plan: FaultPlan,
        port: int,
        *,
        running: Callable[[int], str | None] = lambda pid: None,
        kill: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plan, self.port = plan, port
        self.gate = Gate()
        self.stale = StaleIndex(plan.stale_index, clock=clock) if plan.stale_index > 0 else None
        self.injected: Counter[str] = Counter()
        # Faults injected elsewhere (the pollers' duplicate deliveries), reported with these.
        self.elsewhere: dict[str, Callable[[], int]] = {}
        self._running, self._kill = running, kill
        self._rng = random.Random(plan.seed)
        self._draw_lock = threading.Lock()

    def install(self) -> FaultLayer:
        _install_front_door()
        _layers[str(self.port)] = self
        return self

    def stop(self) -> None:
        self.uninstall()

    def uninstall(self) -> None:
        self.gate.release()
        if _layers.get(str(self.port)) is self:
            del _layers[str(self.port)]

    def summary(self) -> dict[str, Any]:
        answered = self.stale.answered if self.stale else 0
        injected = dict(self.injected) | {name: count() for name, count in self.elsewhere.items()}
        return {"plan": self.plan.describe(), "injected": injected, "stale_index_queries": answered}

    # -- one request ----------------------------------------------------------------------------------

    def handle(self, call: Callable[..., Any], environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == FAULTS_PATH:
            return _answer(start_response, 200, self.summary())
        service, operation = request_name(environ)
        held = self.gate.holds(f"{service}.{operation}" if service == "s3" else environ.get("HTTP_X_AMZ_TARGET", ""))
        if held is not None and not held[2]:
            held[0].set()
            held[1].wait(120)
            return _error(start_response, 500, "InternalFailure", "crash test: the caller died before this write")
        request = _read_json(environ) if service == "dynamodb" and self.plan.active else {}
        caller = _CALLER.search(environ.get("HTTP_USER_AGENT", ""))
        victim: int | None = None
        lost = False
        if caller is not None:
            if (error := self._error(service, operation, request)) is not None:
                return error(start_response)
            victim = self._victim(caller.group(1), service, operation)
            lost = operation in WRITES.get(service, ()) and self._draw(self.plan.lost_answer)
        if victim is not None and self._draw(0.5):
            self._kill_now(victim, operation, "before")
            return _error(start_response, 500, "InternalFailure", "killed before this write")
        if lost:  # applied, and answered as if it failed (botocore sends it again)
            self._apply(call, environ, lambda *_: lambda data: None, service, operation, request)
            self.injected[f"lost answer {operation}"] += 1
            return _error(start_response, 500, LOST_ANSWER_ERRORS.get(service, "InternalFailure"), "Internal error")
        result = self._apply(call, environ, start_response, service, operation, request)
        if held is not None:
            held[0].set()
            held[1].wait(120)
        if victim is not None:
            self._kill_now(victim, operation, "after")
        return result

    def _apply(
        self,
        call: Callable[..., Any],
        environ: dict[str, Any],
        start_response: Any,
        service: str,
        operation: str,
        request: dict[str, Any],
    ) -> Any:
        if self.stale is None or service != "dynamodb":
            return call(environ, start_response)
        if operation == "Query" and request.get("IndexName"):
            with self.stale.answering():
                return call(environ, start_response)
        from local.motolock import moto_lock

        with moto_lock():  # the items as they were, then the write: no request comes between
            self.stale.record(_dynamodb_backend(environ), operation, request)
            return call(environ, start_response)

    def _draw(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._draw_lock:
            return self._rng.random() < rate

    def _error(self, service: str, operation: str, request: dict[str, Any]) -> Callable[[Any], Any] | None:
        """The error DynamoDB would answer this request with, if one is drawn."""
        if service != "dynamodb":
            return None
        if self._draw(self.plan.throttle):
            with self._draw_lock:
                code, prefix = self._rng.choice(THROTTLE_CODES)
            self.injected[f"throttle {operation}"] += 1
            return lambda start: _error(start, 400, prefix + code, "Rate of requests exceeds the allowed throughput.")
        if operation not in WRITES["dynamodb"] or operation == "BatchWriteItem" or not self._draw(self.plan.conflict):
            return None
        self.injected[f"conflict {operation}"] += 1
        if operation != "TransactWriteItems":
            return lambda start: _error(
                start, 400, DYNAMODB_ERROR + "TransactionConflictException", "Transaction is ongoing for the item"
            )
        count = max(1, len(request.get("TransactItems") or []))
        with self._draw_lock:
            busy = self._rng.randrange(count)
        return lambda start: _answer(start, 400, _cancelled(count, busy))

    def _victim(self, caller: str, service: str, operation: str) -> int | None:
        """The worker to kill for this write, if a kill is drawn."""
        if self._kill is None or not caller.isdigit() or operation not in WRITES.get(service, ()):
            return None
        function = self._running(int(caller))
        if function is None or function not in self.plan.kill_functions or not self._draw(self.plan.kill):
            return None
        return int(caller)

    def _kill_now(self, pid: int, operation: str, when: str) -> None:
        function = self._running(pid) or "?"
        if self._kill is not None:
            self._kill(pid)
        self.injected[f"kill {function} {when} {operation}"] += 1


# ------------------------------------------------------------------------------------------- requests


def request_name(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, operation): the service from the signature's credential scope, the operation from the
    X-Amz-Target (JSON protocols) or, for S3, from the method and the query."""
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = scope.group(2) if scope else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if service == "s3":
        return service, _s3_operation(environ)
    return service, ""


def _s3_operation(environ: dict[str, Any]) -> str:
    method, query = environ.get("REQUEST_METHOD", ""), environ.get("QUERY_STRING", "")
    object_path = environ.get("PATH_INFO", "").strip("/").count("/") >= 1
    if method == "PUT" and "legal-hold" in query:
        return "PutObjectLegalHold"
    if method == "PUT" and object_path:
        return "PutObject"
    if method == "DELETE" and object_path:
        return "DeleteObject"
    if method == "HEAD" and object_path:
        return "HeadObject"
    if method == "GET" and object_path:
        return "GetObject"
    return f"{method}{'' if object_path else 'Bucket'}"


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON body, read once and put back for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _dynamodb_backend(environ: dict[str, Any]) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][scope.group(1) if scope else "us-east-1"]


def _cancelled(count: int, busy: int) -> dict[str, Any]:
    reasons: list[dict[str, str]] = [{"Code": "None"} for _ in range(count)]
    reasons[busy] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    codes = ", ".join(reason["Code"] for reason in reasons)
    return {
        "__type": DYNAMODB_ERROR + "TransactionCanceledException",
        "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        "CancellationReasons": reasons,
    }


def _error(start_response: Any, status: int, error_type: str, message: str) -> Iterable[bytes]:
    return _answer(start_response, status, {"__type": error_type, "message": message})


def _answer(start_response: Any, status: int, body: dict[str, Any]) -> Iterable[bytes]:
    payload = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(payload)))],
    )
    return [payload]
