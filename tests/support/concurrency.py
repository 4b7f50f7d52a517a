"""Many Lambda containers at once: the real handlers in spawned OS processes, one shared moto server and
the TrustedForm simulator, both on 127.0.0.1 in the calling process.

Used by tests/concurrency (20 processes) and bench/concurrency.py (50). Each worker process is one
warm Lambda container: a fresh interpreter (``spawn``) with the functions' environment, the handlers
imported and the service's clients built once. For every round each worker gets one task over its own
pipe, waits on a shared barrier so that all of them really start together, runs the handler
(``LocalApiGateway.handle`` for the API, ``local.functions.invoke`` for the retry worker) and sends
back what it answered.

Each scenario checks what AWS Lambda's concurrency must not break: TrustedForm is asked once per
certificate (the simulator's request log), one consistent lead stands in DynamoDB, no 5xx. A scenario
returns a :class:`ScenarioReport` whose ``problems`` are empty when all holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from local.backend import Backend as LocalBackend
from tests.support.stack import lead

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYER = REPO_ROOT / "layers" / "common"
TF_API_KEY = "tf-concurrency-key-0123456789abcdef"
VENDOR = "acme-concurrent"
# As tests/support/stack.py's FAST_RETRIES (the rules' cache as deployed): a pending lead's retry
# message is visible after about a second.
FAST_RETRIES = {"RETRY_BASE_SECONDS": "1", "RETRY_CAP_SECONDS": "2", "ACCOUNT_ERROR_DELAY_SECONDS": "1"}
FUNCTIONS = ("AuthorizerFunction", "IntakeFunction", "RetryFunction", "ConsentFunction", "SweeperFunction")
SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}
# A worker's environment is the container's: these come only from the stack, never from the caller.
CONTAINER_PREFIXES = ("AWS_", "TRUSTEDFORM_", "RETRY_", "POWERTOOLS_", "SYNC_", "ACCOUNT_", "TABLE_", "CERTIFICATE_")
# Containers racing at once in tests/concurrency: at least 20 (TF_CONCURRENCY_PROCESSES raises it;
# bench/concurrency.py runs 50).
PROCESSES = max(20, int(os.environ.get("TF_CONCURRENCY_PROCESSES", "20")))
BARRIER_TIMEOUT = 60.0  # seconds a worker waits for the others at the start line
ROUND_TIMEOUT = 90.0  # seconds a round (every worker's one invocation) may take
READY_TIMEOUT = 120.0  # seconds the whole pool may take to start (50 cold starts on 2 cores)
# A vendor told 503 store_unavailable (the table did not answer in time, on a busy machine too) sends the same
# lead again, as the API asks: the race is judged on the answer it then gets. Seconds between sends: a
# fraction of the Retry-After a vendor honours, the test's time.
VENDOR_RESENDS = 3
RESEND_PAUSE = 0.2
MESSAGE_TIMEOUT = 15.0  # seconds to wait for a pending lead's retry message to become visible


def container_context() -> Any:
    """Fresh processes forked from a server that has already imported the heavy libraries (boto3,
    httpx, pydantic, Powertools): a new interpreter each, as Lambda's, without paying those imports 20
    times. tf_retainer itself is imported in each container, after its environment is set."""
    from local.functions import worker_context

    return worker_context()


# --------------------------------------------------------------------------- the worker process


@dataclass
class Task:
    kind: str  # "post" | "get" | "retry" | "revoke" | "contact" | "gates" | "honour" | "sweep"
    payload: dict[str, Any]


# The worker's share of the pool's acknowledgement mark (time.time() of the round's first 2xx to a "revoke"
# task, 0.0 before): a "gates" task goes on asking until enough of its questions started after it.
_ACKNOWLEDGED: Any = None


@dataclass
class Outcome:
    """What one invocation answered (an API status and JSON body, or the retry function's result)."""

    worker: int
    pid: int
    kind: str
    status: int  # HTTP status; 200 for a retry invocation that returned; 502 when the function raised
    body: Any
    started: float  # time.time() when the worker left the start line
    elapsed_ms: float
    error: str | None = None  # the function's traceback when it raised
    ended: float = 0.0  # time.time() when the answer was back (the caller's acknowledgement)

    @property
    def is_5xx(self) -> bool:
        return self.status >= 500

    @property
    def lead_id(self) -> str | None:
        return self.body.get("lead_id") if isinstance(self.body, dict) else None

    @property
    def reason(self) -> str | None:
        return self.body.get("reason") if isinstance(self.body, dict) else None

    def label(self) -> str:
        if self.is_5xx:
            return f"{self.kind}: {self.status}"
        if self.kind == "retry":
            failures = (self.body or {}).get("batchItemFailures") or []
            return "retry: redeliver" if failures else "retry: done"
        if self.kind == "sweep":
            body = self.body if isinstance(self.body, dict) else {}
            return f"sweep: {len(body.get('recovered') or [])} requeued, {body.get('skipped', 0)} skipped"
        reason = f" {self.reason}" if self.reason else ""
        status = self.body.get("status") if isinstance(self.body, dict) else None
        return f"{self.kind}: {self.status} {status}{reason}"


def worker_main(
    index: int, env: dict[str, str], barrier: Any, conn: Any, log_path: str, acknowledged: Any = None
) -> None:
    """One Lambda container: set up like Lambda's init phase, then one invocation per task."""
    global _ACKNOWLEDGED
    _ACKNOWLEDGED = acknowledged
    log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - the process's stdout/stderr until it exits
    os.dup2(log.fileno(), 1)  # Powertools logs and metrics (EMF) go to stdout, as in CloudWatch Logs
    os.dup2(log.fileno(), 2)
    for name in list(os.environ):
        if name.startswith(CONTAINER_PREFIXES) or name in env:
            del os.environ[name]
    os.environ.update(env)
    for path in (str(REPO_ROOT), str(LAYER)):
        if path not in sys.path:
            sys.path.insert(0, path)
    started = time.perf_counter()
    # Imported only now: Powertools reads POWERTOOLS_* when tf_retainer.runtime.observability is first imported.
    from tf_retainer.wiring import default_deps

    from local.apigw import LocalApiGateway
    from local.functions import invoke, load_handler

    for function in FUNCTIONS:
        load_handler(function)
    default_deps()  # the clients, as the handler module's first use builds them
    # No authorizer cache: every POST runs the authorizer too (one more DynamoDB read in the race).
    gateway = LocalApiGateway(authorizer_ttl=0)
    conn.send(("ready", os.getpid(), (time.perf_counter() - started) * 1000))

    while True:
        try:
            message = conn.recv()
        except EOFError:
            break
        if message is None:
            break
        task, together = message
        if together:
            try:
                barrier.wait(BARRIER_TIMEOUT)
            except threading.BrokenBarrierError:
                conn.send(Outcome(index, os.getpid(), task.kind, 599, None, time.time(), 0.0, "barrier broken"))
                continue
        begun, clock = time.time(), time.perf_counter()
        error = None
        try:
            status, body = _perform(task, gateway, invoke)
        except Exception:  # a function error: API Gateway answers 502, an SQS batch fails whole
            status, body, error = 502, None, traceback.format_exc()
        elapsed, ended = (time.perf_counter() - clock) * 1000, time.time()
        conn.send(Outcome(index, os.getpid(), task.kind, status, body, begun, elapsed, error, ended))
    # As Lambda ends a container: no interpreter teardown (which costs a busy machine seconds per pool).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _post_as_a_vendor(gateway: Any, payload: dict[str, Any]) -> Any:
    headers = {"Content-Type": "application/json", "x-api-key": payload["key"]}
    body = json.dumps(payload["body"]).encode()
    response = gateway.handle("POST", "/leads", headers, body)
    for _ in range(VENDOR_RESENDS):
        if response.status != 503:
            break
        time.sleep(RESEND_PAUSE)
        response = gateway.handle("POST", "/leads", headers, body)
    return response


def _perform(task: Task, gateway: Any, invoke: Callable[[str, dict[str, Any]], Any]) -> tuple[int, Any]:
    payload = task.payload
    if payload.get("delay"):  # released with the others, this container's request leaves this much later
        time.sleep(payload["delay"])
    if payload.get("clock"):
        # This container's clock reads the given instant throughout the invocation: two containers
        # reading the same microsecond, made certain instead of left to chance.
        from tf_retainer.wiring import default_deps

        deps, instant = default_deps(), datetime.fromisoformat(payload["clock"])
        real_clock, deps.clock = deps.clock, lambda: instant
        try:
            return _perform(Task(task.kind, {**payload, "clock": None, "delay": None}), gateway, invoke)
        finally:
            deps.clock = real_clock
    if task.kind == "post":
        response = _post_as_a_vendor(gateway, payload)
    elif task.kind == "get":
        response = gateway.handle("GET", f"/leads/{payload['lead_id']}", {"x-api-key": payload["key"]}, b"")
    elif task.kind == "retry":
        return 200, invoke("RetryFunction", payload["event"])
    elif task.kind == "revoke":
        headers = {"Content-Type": "application/json", "x-api-key": payload["key"]}
        path = payload.get("path", "/revocations")  # or /revocations/batch
        response = gateway.handle("POST", path, headers, json.dumps(payload["body"]).encode())
        if 200 <= response.status < 300 and _ACKNOWLEDGED is not None:
            with _ACKNOWLEDGED.get_lock():
                _ACKNOWLEDGED.value = _ACKNOWLEDGED.value or time.time()
    elif task.kind == "contact":
        headers = {"Content-Type": "application/json", "x-api-key": payload["key"]}
        path = f"/leads/{payload['lead_id']}/contacts"
        response = gateway.handle("POST", path, headers, json.dumps(payload["body"]).encode())
    elif task.kind == "gates":
        return 200, _gate_checks(gateway, payload)
    elif task.kind == "honour":  # the scheduled run of ConsentFunction (EventBridge Scheduler's event)
        return 200, invoke("ConsentFunction", SCHEDULED)
    elif task.kind == "sweep":  # the scheduled SweeperFunction
        return 200, invoke("SweeperFunction", SCHEDULED)
    else:
        raise ValueError(f"unknown task {task.kind!r}")
    return response.status, (response.json() if response.body else None)


def _gate_checks(gateway: Any, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The call gate asked about one lead again and again, as a dialer polling it: at most ``max_checks``
    questions, ending once ``after`` of them started after the pool's acknowledgement mark. Each question's
    start and end (time.time()) and answer."""
    path, headers = f"/leads/{payload['lead_id']}/contactable", {"x-api-key": payload["key"]}
    checks: list[dict[str, Any]] = []
    for _ in range(payload["max_checks"]):
        started = time.time()
        response = gateway.handle("GET", path, headers, b"", query={"channel": payload["channel"]})
        body = response.json() if response.body else {}
        checks.append(
            {
                "started": started,
                "ended": time.time(),
                "status": response.status,
                "contactable": body.get("contactable"),
                "reason": body.get("reason"),
            }
        )
        mark = _ACKNOWLEDGED.value if _ACKNOWLEDGED is not None else 0.0
        if mark and sum(check["started"] > mark for check in checks) >= payload["after"]:
            break
    return checks


class LambdaPool:
    """``size`` worker processes (``spawn``), each one warm Lambda container, sharing one start barrier."""

    def __init__(self, size: int, env: dict[str, str], log_dir: Path) -> None:
        ctx = container_context()
        self.size = size
        self.log_dir = log_dir
        self.barrier = ctx.Barrier(size)
        self.acknowledged = ctx.Value("d", 0.0)  # see _ACKNOWLEDGED: cleared before every round
        self.processes: list[Any] = []
        self.connections: list[Any] = []
        self.broken = ""
        log_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            for index in range(size):
                parent, child = ctx.Pipe()
                process = ctx.Process(
                    target=worker_main,
                    args=(
                        index,
                        env,
                        self.barrier,
                        child,
                        str(log_dir / f"lambda-{index:02d}.log"),
                        self.acknowledged,
                    ),
                    name=f"tf-lambda-{index:02d}",
                    daemon=True,
                )
                process.start()
                child.close()
                self.processes.append(process)
                self.connections.append(parent)
            self.cold_start_ms = [self._receive(index, started + READY_TIMEOUT)[2] for index in range(size)]
        except BaseException:
            self.close()
            raise
        self.start_seconds = time.monotonic() - started

    def _receive(self, index: int, deadline: float) -> Any:
        conn, process = self.connections[index], self.processes[index]
        while not conn.poll(0.2):
            if not process.is_alive():
                raise RuntimeError(f"worker {index} exited ({process.exitcode}): see {self.log_path(index)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {index} did not answer in time: see {self.log_path(index)}")
        return conn.recv()

    def log_path(self, index: int) -> Path:
        return self.log_dir / f"lambda-{index:02d}.log"

    def run(self, tasks: list[Task], *, together: bool = True) -> list[Outcome]:
        """One invocation per task, task i on worker i; ``together``: one task per worker, all released
        at once by the barrier."""
        if together and len(tasks) != self.size:
            raise ValueError(f"a synchronised round needs {self.size} tasks, got {len(tasks)}")
        if len(tasks) > self.size:
            raise ValueError("more tasks than workers")
        if self.broken:
            raise RuntimeError(f"an earlier round failed ({self.broken}): start a new pool")
        if self.barrier.broken:
            self.barrier.reset()
        self.acknowledged.value = 0.0
        for conn, task in zip(self.connections, tasks, strict=False):
            conn.send((task, together))
        deadline = time.monotonic() + ROUND_TIMEOUT
        try:
            return [self._receive(index, deadline) for index in range(len(tasks))]
        except BaseException as exc:
            # Late answers would be read as the next round's: this pool is done. Free the start line.
            self.broken = f"{type(exc).__name__}: {exc}"
            self.barrier.abort()
            raise

    def __enter__(self) -> LambdaPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for conn in self.connections:
            with contextlib.suppress(OSError):  # a worker already gone
                conn.send(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()  # this pool's own worker, by its handle
                process.join(timeout=5)
        for conn in self.connections:
            conn.close()
        self.processes, self.connections = [], []


# --------------------------------------------------------------------------- moto server and simulator


class Backend(LocalBackend):
    """The local backend (one moto server, serialised per request, and the simulator, on 127.0.0.1, with
    the template's resources), one vendor key, and the retry queue's event source mapping."""

    def __init__(self) -> None:
        super().__init__(TF_API_KEY)
        self.vendor_key = ""
        self._held: dict[str, list[dict[str, Any]]] = {}

    def start(self) -> Backend:
        from local.poller import RetryPoller

        super().start()
        self.poller = RetryPoller(self.resources, sqs=self.sqs)
        self.vendor_key = self.add_vendor(VENDOR)
        return self

    def container_env(self) -> dict[str, str]:
        """A function's environment on this stack: the template's, the moto endpoint, the simulator."""
        return self.function_environment(FAST_RETRIES)

    # --- what happened -----------------------------------------------------------------------------

    def posts(self, cert_id: str) -> list[dict[str, Any]]:
        """Every retain POST the simulator received for the certificate."""
        return [request for request in self.simulator.requests if request["cert_id"] == cert_id]

    def leads_for_cert(self, cert_id: str) -> list[Any]:
        """Every lead state naming the certificate (a scan: its cert_id is packed, read through the codec)."""
        from tf_retainer.store.codec import deserialize, serialize

        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.resources.table_name,
            FilterExpression="sk = :state",
            ExpressionAttributeValues=serialize({":state": "STATE"}),
            ConsistentRead=True,
        )
        states = [self.leads.table.codec.lead(deserialize(item)) for page in pages for item in page["Items"]]
        return [lead for lead in states if lead.cert_id == cert_id]

    def retry_message(self, lead_id: str, timeout: float = MESSAGE_TIMEOUT) -> dict[str, Any]:
        """Receive the lead's retry message once it is visible (others received meanwhile are kept for
        their own leads)."""
        deadline = time.monotonic() + timeout
        while not self._held.get(lead_id):
            for message in self.receive(10, timeout=0.0):
                self._held.setdefault(json.loads(message["Body"])["lead_id"], []).append(message)
            if self._held.get(lead_id):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no retry message for lead {lead_id} within {timeout:.0f} s")
            time.sleep(0.2)
        return self._held[lead_id].pop(0)


# --------------------------------------------------------------------------- scenarios


@dataclass
class ScenarioReport:
    name: str
    processes: int
    wall_seconds: float = 0.0
    start_spread_ms: float = 0.0  # between the first and the last worker leaving the start line
    posts: int = 0  # retain POSTs the simulator received for the scenario's certificate
    retains: int = 0  # those answered 200: a certificate retained (a retain billed)
    five_xx: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    final_states: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # tracebacks of functions that raised
    # The bodies of answers refusing input the scenario sent as valid: what the function found wrong with it.
    refusals: list[str] = field(default_factory=list)

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def summary(self) -> str:
        lines = [
            f"{self.name}: {self.processes} processes, {self.wall_seconds:.2f} s, start spread "
            f"{self.start_spread_ms:.1f} ms, {self.posts} POST(s), {self.retains} retain(s), {self.five_xx} 5xx",
            f"  answers: {dict(self.answers)}",
            f"  final states: {dict(self.final_states)}",
        ]
        lines += [f"  PROBLEM: {problem}" for problem in self.problems]
        lines += [f"  ERROR: {error}" for error in self.errors[:3]]
        lines += [f"  REFUSED: {refusal}" for refusal in self.refusals[:3]]
        return "\n".join(lines)


# Reasons that say the request itself was wrong: never expected of a scenario's leads, kept whole when seen.
INPUT_REFUSALS = frozenset({"invalid_request", "invalid_certificate_url", "missing_contact", "invalid_leadid_token"})


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _round(pool: LambdaPool, name: str, tasks: list[Task]) -> tuple[ScenarioReport, list[Outcome]]:
    report = ScenarioReport(name, pool.size)
    started = time.perf_counter()
    outcomes = pool.run(tasks)
    report.wall_seconds = time.perf_counter() - started
    starts = [outcome.started for outcome in outcomes]
    report.start_spread_ms = (max(starts) - min(starts)) * 1000
    report.answers = Counter(outcome.label() for outcome in outcomes)
    report.five_xx = sum(outcome.is_5xx for outcome in outcomes)
    report.errors = [outcome.error for outcome in outcomes if outcome.error]
    report.refusals = [json.dumps(outcome.body)[:600] for outcome in outcomes if outcome.reason in INPUT_REFUSALS]
    report.expect(report.five_xx == 0, f"{report.five_xx} invocation(s) failed with 5xx")
    return report, outcomes


def _settle(backend: Backend, report: ScenarioReport, cert_id: str) -> list[Any]:
    """Fill in the retains and final states; returns the leads holding the certificate."""
    posts = backend.posts(cert_id)
    report.posts = len(posts)
    report.retains = sum(post["status"] == 200 for post in posts)
    leads = backend.leads_for_cert(cert_id)
    report.final_states = Counter(lead.status.value for lead in leads)
    return leads


def _check_one_lead(
    backend: Backend, report: ScenarioReport, lead_id: str, cert_id: str, *, attempts: int, vendor_lead_id: str | None
) -> None:
    """The lead retained once, its claim, its vendor lead_id, its history and evidence all agreeing."""
    record = backend.reader.read_lead(lead_id)
    if record is None:
        report.problems.append(f"lead {lead_id} is not stored")
        return
    lead = record.lead
    report.expect(lead.status.value == "retained", f"lead {lead_id} is {lead.status.value}, not retained")
    report.expect(lead.attempts == attempts, f"lead {lead_id} records {lead.attempts} attempts, not {attempts}")
    report.expect(lead.next_attempt_at is None, f"lead {lead_id} is retained with a next attempt planned")
    history = Counter(event.type for event in record.history)
    report.expect(history["received"] == 1, f"history has {history['received']} 'received' events")
    report.expect(history["attempt"] == attempts, f"history has {history['attempt']} attempts, not {attempts}")
    report.expect(history["retained"] == 1, f"history has {history['retained']} 'retained' events")
    report.expect(len(record.exchanges) == attempts, f"{len(record.exchanges)} exchanges kept, not {attempts}")
    certificate = backend.reader.read_certificate(cert_id)
    claim = certificate.claim if certificate else None
    report.expect(claim is not None and claim.lead_id == lead_id, f"the claim names {claim and claim.lead_id}")
    claimed = claim.status.value if claim is not None and claim.status is not None else None
    report.expect(claimed == "retained", f"the claim is {claimed}")
    if vendor_lead_id is not None:
        found = backend.reader.find_vendor_lead(VENDOR, vendor_lead_id)
        report.expect(found == lead_id, f"vendor lead_id {vendor_lead_id} maps to {found}, not {lead_id}")


def same_lead(backend: Backend, pool: LambdaPool) -> ScenarioReport:
    """1. The same lead (same vendor lead_id, same body) posted by every process at once."""
    from local.simulator import make_web_cert_id

    cert_id, vendor_lead_id = make_web_cert_id(), _unique("same")
    task = Task("post", {"key": backend.vendor_key, "body": lead(cert_id, lead_id=vendor_lead_id)})
    report, outcomes = _round(pool, "same lead", [task] * pool.size)
    leads = _settle(backend, report, cert_id)
    lead_ids = {outcome.lead_id for outcome in outcomes if not outcome.is_5xx}
    report.expect(len(lead_ids) == 1, f"the answers name {len(lead_ids)} lead ids: {sorted(map(str, lead_ids))}")
    statuses = {outcome.status for outcome in outcomes}
    report.expect(statuses <= {201, 202}, f"answer statuses {sorted(statuses)}, expected 201 or 202 only")
    report.expect(len(leads) == 1, f"{len(leads)} leads hold the certificate")
    report.expect(report.posts == 1 and report.retains == 1, f"{report.posts} POSTs, {report.retains} retains")
    if len(lead_ids) == 1 and None not in lead_ids:
        _check_one_lead(backend, report, str(lead_ids.pop()), cert_id, attempts=1, vendor_lead_id=vendor_lead_id)
    return report


def same_certificate(backend: Backend, pool: LambdaPool) -> ScenarioReport:
    """2. Different leads (their own vendor lead_ids) with one certificate, from every process at once."""
    from local.simulator import make_web_cert_id

    cert_id, prefix = make_web_cert_id(), _unique("cert")
    tasks = [
        Task("post", {"key": backend.vendor_key, "body": lead(cert_id, lead_id=f"{prefix}-{index}")})
        for index in range(pool.size)
    ]
    report, outcomes = _round(pool, "same certificate", tasks)
    leads = _settle(backend, report, cert_id)
    winners = [outcome for outcome in outcomes if outcome.status == 201]
    refused = [outcome for outcome in outcomes if outcome.status == 422 and outcome.reason == "certificate_reused"]
    report.expect(len(winners) == 1, f"{len(winners)} leads answered 201 retained")
    report.expect(len(refused) == pool.size - 1, f"{len(refused)} answered 422 certificate_reused")
    report.expect(len({outcome.lead_id for outcome in outcomes}) == pool.size, "two answers name the same lead")
    report.expect(report.posts == 1 and report.retains == 1, f"{report.posts} POSTs, {report.retains} retains")
    report.expect(len(leads) == pool.size, f"{len(leads)} leads stored for {pool.size} posts")
    if len(winners) != 1:
        return report
    owner = str(winners[0].lead_id)
    _check_one_lead(backend, report, owner, cert_id, attempts=1, vendor_lead_id=f"{prefix}-{winners[0].worker}")
    others = [lead for lead in leads if lead.lead_id != owner]
    wrong = [lead.lead_id for lead in others if (lead.status.value, lead.owner_lead_id) != ("rejected", owner)]
    report.expect(not wrong, f"{len(wrong)} refused lead(s) not rejected in favour of {owner}")
    reasons = Counter(lead.reason.value if lead.reason else None for lead in others)
    report.expect(reasons == Counter({"certificate_reused": len(others)}), f"refused leads' reasons: {reasons}")
    # Every refusal is in the evidence: the refused lead's own history and the certificate's.
    unrecorded = [lead.lead_id for lead in others if _history(backend, lead.lead_id)["certificate_reused"] != 1]
    report.expect(not unrecorded, f"{len(unrecorded)} refused lead(s) without certificate_reused in their history")
    certificate = backend.reader.read_certificate(cert_id)
    cert_history = Counter(event.type for event in certificate.history) if certificate else Counter()
    report.expect(
        cert_history["certificate_reused"] == len(others) and cert_history["rejected"] == len(others),
        f"the certificate's history has {cert_history['certificate_reused']} certificate_reused and "
        f"{cert_history['rejected']} rejected events for {len(others)} refusals",
    )
    # And on the holder's side: a count on its claim (an event on the owner's history before that).
    counted = getattr(certificate.claim, "reuse_attempts", None) if certificate and certificate.claim else None
    if counted is None:
        counted = _history(backend, owner)["certificate_reuse_attempt"]
    report.expect(counted == len(others), f"{counted} reuse attempts counted for the holder, not {len(others)}")
    return report


def _history(backend: Backend, lead_id: str) -> Counter[str]:
    """The lead's history events by type (none for a lead not stored)."""
    record = backend.reader.read_lead(lead_id)
    return Counter(event.type for event in record.history) if record else Counter()


def pending_lead(backend: Backend, pool: LambdaPool, vendor_lead_id: str) -> tuple[str, str, dict[str, Any]]:
    """A lead whose first attempt met a 503 (the next one succeeds): (cert id, lead id, its retry message)."""
    from local.simulator import make_web_cert_id

    cert_id = make_web_cert_id()
    backend.simulator.script(cert_id, ["unavailable", "success"])
    body = lead(cert_id, lead_id=vendor_lead_id)
    [posted] = pool.run([Task("post", {"key": backend.vendor_key, "body": body})], together=False)
    if posted.status != 202 or posted.body.get("status") != "pending":
        raise AssertionError(f"the lead is not pending: {posted.status} {posted.body} {posted.error}")
    lead_id = str(posted.lead_id)
    return cert_id, lead_id, backend.retry_message(lead_id)


def same_retry_message(backend: Backend, pool: LambdaPool) -> ScenarioReport:
    """3. One pending lead's retry message delivered to every process at once."""
    vendor_lead_id = _unique("retry")
    cert_id, lead_id, message = pending_lead(backend, pool, vendor_lead_id)
    event = backend.poller.event([message])
    tasks = [Task("retry", {"event": event})] * pool.size
    report, outcomes = _round(pool, "same retry message", tasks)
    done = [outcome for outcome in outcomes if outcome.label() == "retry: done"]
    report.expect(len(done) >= 1, "no delivery was done with the message")
    # A late redelivery (a delivery told to come back, after the visibility timeout) is a duplicate.
    [late] = pool.run([Task("retry", {"event": event})], together=False)
    report.expect(late.label() == "retry: done", f"a late redelivery answered {late.label()} {late.error or ''}")
    leads = _settle(backend, report, cert_id)
    report.expect(len(leads) == 1, f"{len(leads)} leads hold the certificate")
    report.expect(report.posts == 2, f"{report.posts} POSTs: the intake attempt and one retry expected")
    report.expect(report.retains == 1, f"{report.retains} retains")
    _check_one_lead(backend, report, lead_id, cert_id, attempts=2, vendor_lead_id=vendor_lead_id)
    return report


def post_racing_retry(backend: Backend, pool: LambdaPool) -> ScenarioReport:
    """4. A pending lead's retry message delivered to half the processes while the other half re-post it."""
    vendor_lead_id = _unique("race")
    cert_id, lead_id, message = pending_lead(backend, pool, vendor_lead_id)
    event = backend.poller.event([message])
    body = lead(cert_id, lead_id=vendor_lead_id)
    tasks = [
        Task("retry", {"event": event}) if index % 2 else Task("post", {"key": backend.vendor_key, "body": body})
        for index in range(pool.size)
    ]
    report, outcomes = _round(pool, "post racing its retry", tasks)
    answers = [outcome for outcome in outcomes if outcome.kind == "post"]
    ids = {outcome.lead_id for outcome in answers}
    report.expect(ids == {lead_id}, f"re-posts were answered with lead ids {sorted(map(str, ids))}, not {lead_id}")
    statuses = {outcome.status for outcome in answers}
    report.expect(statuses <= {201, 202}, f"re-post statuses {sorted(statuses)}, expected 201 or 202 only")
    retries = [outcome for outcome in outcomes if outcome.kind == "retry"]
    report.expect(any(o.label() == "retry: done" for o in retries), "no delivery was done with the message")
    leads = _settle(backend, report, cert_id)
    report.expect(len(leads) == 1, f"{len(leads)} leads hold the certificate")
    report.expect(report.posts == 2, f"{report.posts} POSTs: the intake attempt and one retry expected")
    report.expect(report.retains == 1, f"{report.retains} retains")
    _check_one_lead(backend, report, lead_id, cert_id, attempts=2, vendor_lead_id=vendor_lead_id)
    # Afterwards every re-post reads the settled lead.
    [after] = pool.run([Task("post", {"key": backend.vendor_key, "body": body})], together=False)
    report.expect(
        (after.status, after.lead_id) == (201, lead_id), f"a later re-post answered {after.status} {after.body}"
    )
    return report


SCENARIOS: dict[str, Callable[[Backend, LambdaPool], ScenarioReport]] = {
    "same-lead": same_lead,
    "same-certificate": same_certificate,
    "same-retry-message": same_retry_message,
    "post-racing-retry": post_racing_retry,
}
