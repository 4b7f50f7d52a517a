"""Crash tests' machinery: a moto server and the simulator on 127.0.0.1 in the test process, the real
handlers in spawned OS processes ("containers") that a test may SIGKILL at any step, and a gate in the
moto server that holds one chosen AWS request so a container can be killed at an exact point.

* :class:`CrashBackend` - ThreadedMotoServer (serialised with ``local.motolock``) on a free port, the
  TrustedForm simulator, the template's resources under a unique prefix, one vendor key.
* :class:`Container` - one spawned Python process with the functions' environment (the template's,
  ``AWS_ENDPOINT_URL``, ``TRUSTEDFORM_API_URL``, fake credentials) that runs tasks sent over a pipe:
  ``post`` (API Gateway -> authorizer -> IntakeFunction) or ``invoke`` (any function, e.g. the
  SweeperFunction or the RetryFunction with an SQS event). ``kill()`` is SIGKILL: no cleanup, no
  ``finally``, as Lambda ending a container (or the machine dying).
* ``backend.gate`` (``local.faults.Gate``, in the moto server's front door) - holds the n-th request
  with a given ``X-Amz-Target`` (or ``s3.<operation>``) at the moto server, either after moto applied it
  (the write is durable, the caller has not heard back) or before (the write never happens: the caller
  died first).
"""

from __future__ import annotations

import contextlib
import faulthandler
import functools
import json
import logging
import os
import signal
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.faults import FaultLayer, Gate

from local.backend import Backend

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYER = REPO_ROOT / "layers" / "common"
TF_API_KEY = "tf-crash-key-0123456789abcdef"
VENDOR = "acme-crash"
# A container's environment comes only from the backend, never from the test process.
CONTAINER_PREFIXES = ("AWS_", "TRUSTEDFORM_", "RETRY_", "POWERTOOLS_", "SYNC_", "TABLE_", "RECEIVED_", "PENDING_")
FUNCTIONS = ("AuthorizerFunction", "IntakeFunction", "RetryFunction", "SweeperFunction")
READY_TIMEOUT = 90.0
CALL_TIMEOUT = 60.0
# A task's way to the write it is killed at: seconds on an idle machine, more with 6 test processes on 2 cores.
HELD_TIMEOUT = 60.0

# These tests kill at chosen writes, not at a slow AWS answer. The crash modules start first in `make test`,
# beside the concurrency tests' 20 processes, on 2 cores: moto's answer to a helper's write can then miss the
# default 2 s (CI saw an evidence test's setup lead left pending, ReadTimeoutError; the events tests, a pending
# lead's retry message sent by the sweeper instead). Still room in the intake's 25 s for its TrustedForm call
# and writes. A module's BACKEND_SETTINGS win.
CRASH_DEFAULTS = {"REMOTE_CALL_SECONDS": "3"}

TRANSACT_WRITE = "DynamoDB_20120810.TransactWriteItems"
PUT_ITEM = "DynamoDB_20120810.PutItem"
UPDATE_ITEM = "DynamoDB_20120810.UpdateItem"
SQS_SEND = "AmazonSQS.SendMessage"
PUT_EVENTS = "AWSEvents.PutEvents"
S3_PUT_OBJECT = "s3.PutObject"
S3_LEGAL_HOLD = "s3.PutObjectLegalHold"


def container_context() -> Any:
    """Fresh processes forked from a server that has already imported the heavy libraries (boto3,
    httpx, pydantic, Powertools): a new interpreter each, as Lambda's, without paying those imports 20
    times. tf_retainer itself is imported in each container, after its environment is set."""
    from local.functions import worker_context

    return worker_context()


# ----------------------------------------------------------------------------------- the container


def container_main(env: dict[str, str], conn: Any, log_path: str) -> None:
    """One Lambda container: its environment, every function imported, then one task at a time."""
    log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - stdout/stderr until the process dies
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # where it is stuck, into its log (held_at)
    for name in list(os.environ):
        if name.startswith(CONTAINER_PREFIXES):
            del os.environ[name]
    os.environ.update(env)
    for path in (str(REPO_ROOT), str(LAYER)):
        if path not in sys.path:
            sys.path.insert(0, path)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from tf_retainer.wiring import default_deps

    from local.apigw import LocalApiGateway
    from local.functions import invoke, load_handler

    for function in FUNCTIONS:
        load_handler(function)
    real_clock = default_deps().clock
    gateway = LocalApiGateway(authorizer_ttl=0)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            break
        if task is None:
            break
        try:
            if task[0] == "at":  # ("at", iso instant, task): the service's clock reads that instant throughout
                _, instant, task = task
                default_deps().clock = functools.partial(datetime.fromisoformat, instant)
            if task[0] == "post":
                _, body, key = task
                headers = {"Content-Type": "application/json", "x-api-key": key}
                response = gateway.handle("POST", "/leads", headers, json.dumps(body).encode())
                answer: tuple[Any, ...] = ("ok", (response.status, response.json() if response.body else None))
            elif task[0] == "invoke":
                _, logical_id, event = task
                answer = ("ok", invoke(logical_id, event))
            else:
                answer = ("error", f"unknown task {task[0]!r}")
        except Exception:
            answer = ("error", traceback.format_exc())
        default_deps().clock = real_clock
        conn.send(answer)
    sys.stdout.flush()
    os._exit(0)


class ContainerError(RuntimeError):
    pass


class Container:
    """A spawned process running :func:`container_main`. Start several at once, then ``wait_ready``."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        ctx = container_context()
        self.log_path = log_path
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=container_main, args=(env, child, str(log_path)), name="tf-crash-container", daemon=True
        )
        self.process.start()
        child.close()
        self.pid: int | None = None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> Container:
        message = self._receive(timeout)
        if message[0] != "ready":
            raise ContainerError(f"container did not start: {message}")
        self.pid = message[1]
        return self

    def _receive(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while not self._conn.poll(0.1):
            if not self.process.is_alive():
                raise ContainerError(f"container exited ({self.process.exitcode}); log: {self.log()}")
            if time.monotonic() > deadline:
                raise ContainerError(f"container did not answer within {timeout:.0f} s; log: {self.log()}")
        return self._conn.recv()

    def held_at(self, gate: Gate, timeout: float = HELD_TIMEOUT) -> None:
        """Wait until the task started with :meth:`send` reaches the write ``gate`` holds. Raises, with what
        the container said, if it answered first, died, or is still short of that write after ``timeout``
        (then with its threads' stacks: where it waits)."""
        deadline = time.monotonic() + timeout
        while not gate.hit.wait(0.2):
            if self._conn.poll():
                raise ContainerError(f"the task ended before its {gate.target} write: {self._conn.recv()}")
            if not self.process.is_alive():
                raise ContainerError(f"container exited ({self.process.exitcode}); log: {self.log()}")
            if time.monotonic() > deadline:
                if self.process.pid is not None:
                    os.kill(self.process.pid, signal.SIGUSR1)
                    time.sleep(1.0)
                raise TimeoutError(f"no {gate.target} write within {timeout:.0f} s; stacks and log: {self.log()}")

    def send(self, task: tuple[Any, ...]) -> None:
        """Start a task without waiting for it (the victim of a crash test)."""
        self._conn.send(task)

    def receive(self, timeout: float = CALL_TIMEOUT) -> tuple[str, Any]:
        """The answer to a task started with :meth:`send`: ("ok", value) or ("error", traceback)."""
        status, value = self._receive(timeout)
        return str(status), value

    def call(self, task: tuple[Any, ...], timeout: float = CALL_TIMEOUT) -> Any:
        self.send(task)
        status, value = self._receive(timeout)
        if status != "ok":
            raise ContainerError(value)
        return value

    def post(self, body: dict[str, Any], key: str, *, at: datetime | None = None) -> tuple[int, Any]:
        """POST /leads; ``at``: as if it were that moment (the lead received then, its clock reading it)."""
        task: tuple[Any, ...] = ("post", body, key)
        status, answer = self.call(("at", at.isoformat(), task) if at else task)
        return int(status), answer

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        return self.call(("invoke", logical_id, event))

    def kill(self) -> None:
        """SIGKILL, by this container's own pid."""
        if self.process.is_alive() and self.process.pid is not None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(10)
        self._conn.close()

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self.process.join(5)
        if self.process.is_alive():
            self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            return "(no log)"


def start_containers(count: int, env: dict[str, str], log_dir: Path) -> list[Container]:
    """``count`` containers started together (their cold starts overlap), each ready."""
    log_dir.mkdir(parents=True, exist_ok=True)
    started = [Container(env, log_dir / f"container-{uuid.uuid4().hex[:8]}.log") for _ in range(count)]
    try:
        return [container.wait_ready() for container in started]
    except BaseException:
        for container in started:
            container.kill()
        raise


# -------------------------------------------------------------------------------- the backend


class CrashBackend(Backend):
    """The local backend (moto server, simulator, the template's resources under a unique prefix), a
    vendor key, and a moto gate."""

    def __init__(self, settings: dict[str, str], *, visibility_timeout: int | None = None) -> None:
        super().__init__(TF_API_KEY, prefix=f"tf-crash-{uuid.uuid4().hex[:8]}")
        self.settings = {**CRASH_DEFAULTS, **settings}
        self.visibility_timeout = visibility_timeout
        self.gate: Gate | None = None
        self.faults: FaultLayer | None = None
        self.vendor_key = ""
        self._werkzeug_level = logging.NOTSET

    def start(self) -> CrashBackend:
        from local.faults import FaultLayer, FaultPlan

        # moto's server logs every request through werkzeug: not while a crash test runs.
        werkzeug = logging.getLogger("werkzeug")
        self._werkzeug_level = werkzeug.level
        werkzeug.setLevel(logging.WARNING)
        super().start()
        # The gate sits in the server's front door, outside motolock's lock: a held request blocks nobody else.
        self.faults = FaultLayer(FaultPlan(), int(self.endpoint_url.rsplit(":", 1)[1])).install()
        self.gate = self.faults.gate
        if self.visibility_timeout is not None:
            self.sqs.set_queue_attributes(
                QueueUrl=self.resources.retry_queue_url,
                Attributes={"VisibilityTimeout": str(self.visibility_timeout)},
            )
        self.vendor_key = self.add_vendor(VENDOR, f"crash-vendor-{uuid.uuid4().hex}")
        return self

    def stop(self) -> None:
        if self.faults is not None:
            self.faults.uninstall()
        super().stop()
        logging.getLogger("werkzeug").setLevel(self._werkzeug_level)

    def container_env(self) -> dict[str, str]:
        return self.function_environment(self.settings)

    # --- what happened ---------------------------------------------------------------------------

    def calls(self, cert_id: str) -> list[dict[str, Any]]:
        """Every POST TrustedForm (the simulator) received for the certificate, oldest first."""
        return [request for request in self.simulator.requests if request["cert_id"] == cert_id]

    def lead_item(self, lead_id: str) -> dict[str, Any] | None:
        """The lead's state item as stored, bookkeeping (lease_until) included, its packed fields unpacked."""
        from tf_retainer.store import keys
        from tf_retainer.store.codec import deserialize, serialize
        from tf_retainer.store.lead_item import unpack

        out = self.dynamodb.get_item(
            TableName=self.resources.table_name,
            Key=serialize(keys.key(keys.lead_pk(lead_id), keys.STATE)),
            ConsistentRead=True,
        )
        if "Item" not in out:
            return None
        item = deserialize(out["Item"])
        return {**item, **unpack(bytes(item.pop("s")))} if "s" in item else item

    def lead_for_vendor_lead(self, vendor_lead_id: str) -> str | None:
        return self.reader.find_vendor_lead(VENDOR, vendor_lead_id)

    def receive(self, count: int, timeout: float = 15.0, queue_url: str | None = None) -> list[dict[str, Any]]:
        """``count`` retry messages once visible (short polls), with their attributes."""
        messages = super().receive(count, timeout, queue_url)
        if len(messages) < count:
            raise TimeoutError(f"{len(messages)} of {count} retry message(s) within {timeout:.0f} s")
        return messages

    def publish_events(self, invoke: Callable[[str, dict[str, Any]], Any]) -> list[dict[str, Any]]:
        """Run the PublisherFunction (through ``invoke``) over the table's stream as its event source
        mapping would, then take every event the example subscriber queue received."""
        from local.streams import StreamPoller

        StreamPoller(self.resources, invoke=invoke, retry_delay_seconds=0).drain()
        url, events = self.resources.events_queue_url, []
        while messages := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return events

    def poller(self, invoke: Callable[[str, dict[str, Any]], Any]) -> Any:
        """The local event source mapping, for one batch at a time: ``poller.process(messages)`` invokes
        the RetryFunction through ``invoke`` and deletes what it did not report failed."""
        from local.poller import RetryPoller

        return RetryPoller(self.resources, invoke=invoke, sqs=self.sqs)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_until(moment: datetime, margin: float = 0.2) -> None:
    """Sleep until the wall clock passes ``moment`` (an aware datetime) by ``margin`` seconds."""
    delay = (moment - datetime.now(UTC)).total_seconds() + margin
    if delay > 0:
        time.sleep(delay)
