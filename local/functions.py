"""Load the template's functions from their CodeUri and call them as Lambda would (no Docker)."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

from local.provision import FunctionSettings, function_settings


@dataclass
class LambdaContext:
    """What Powertools and our handlers read from the Lambda context."""

    function_name: str
    timeout_seconds: float
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# Settings a worker received from its pool: it need not parse template.yaml itself.
_GIVEN_SETTINGS: dict[str, FunctionSettings] = {}


@cache
def load_module(logical_id: str) -> tuple[FunctionSettings, ModuleType]:
    """Import a function's app module under a unique name (every function's module is `app`)."""
    settings = _GIVEN_SETTINGS.get(logical_id) or function_settings(logical_id)
    path = settings.code_uri / f"{settings.module.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"tf_function_{logical_id}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return settings, module


def load_handler(logical_id: str) -> tuple[FunctionSettings, Any]:
    settings, module = load_module(logical_id)
    return settings, getattr(module, settings.function_name)


def invoke(logical_id: str, event: dict[str, Any]) -> Any:
    settings, handler = load_handler(logical_id)
    context = LambdaContext(
        function_name=logical_id, timeout_seconds=settings.timeout, memory_limit_in_mb=settings.memory_size
    )
    return handler(event, context)


# ------------------------------------------------------------------------------------ worker processes


STOPPING = "Stopping"  # FunctionError.type_name of an invocation the stack's stop ended (WorkerPool.interrupt)


class FunctionError(Exception):
    """A function raised in a worker process. ``str()`` is the exception's message (the authorizer's
    ``Unauthorized`` included); ``type_name`` and ``where`` say what and where, for the request log."""

    def __init__(self, message: str, type_name: str = "Exception", where: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name
        self.where = where


def failure_summary(exc: BaseException) -> str:
    """What failed and where, for a log line: the type and place only (an exception's message may quote
    request data, as Lambda's own error log would)."""
    if isinstance(exc, FunctionError):  # raised in a worker process
        return f"{exc.type_name}{exc.where}"
    import traceback

    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    return type(exc).__name__ + (f" at {frame.filename}:{frame.lineno}" if frame else "")


class FunctionTimeout(FunctionError):
    """The invocation ran past the function's Timeout: its worker was killed, as Lambda ends a container."""


# Environment-independent imports the fork server does once for every worker (see WorkerPool). Not
# aws_xray_sdk: tracing is off locally (no X-Ray daemon), so the functions never import it.
WORKER_PRELOAD = (
    "boto3",
    "botocore.session",
    "httpx",
    "pydantic",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.parser",
    "local.functions",
)


def worker_context() -> Any:
    """The multiprocessing context every container process (a worker here, a test harness's container)
    is forked from: a fresh single-threaded fork server that has imported WORKER_PRELOAD once."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_PRELOAD))
    return context


def start_fork_server() -> None:
    """Start the workers' fork server now, so its imports (about a second of CPU) run while the caller
    does other work (moto, provisioning); WorkerPool.start() then forks from it at once. The server
    inherits this process's environment: call it once the environment the workers share is set."""
    import multiprocessing.forkserver

    worker_context()
    multiprocessing.forkserver.ensure_running()


class WorkerPool:
    """Worker processes that run invocations as Lambda runs them: each is a container.

    Every worker is a Python process, forked from a clean fork server, that sets the functions'
    environment, imports every function once (its cold start) and then runs one invocation at a time,
    with its own module state -
    Powertools' Logger and Metrics, cached settings, clients and secret - and its own boto3 clients,
    which reach the stack's moto server over HTTP (``AWS_ENDPOINT_URL``). Up to ``size`` invocations run
    at once; more wait for a free worker (Lambda would start another container; a reserved concurrency
    of ``size``, in effect). An invocation that outlives its function's Timeout (plus a second) gets its
    worker killed and replaced, as Lambda ends a timed-out container; a worker that dies is replaced too.

    ``invoke(logical_id, event)`` has :func:`invoke`'s signature and is thread-safe: the API server's
    request threads and the retry poller call it concurrently. Invocations waiting for a worker are
    served first come, first served: a freed worker goes to the one that has waited longest
    (:class:`_IdleWorkers`), however long it waited.
    """

    def __init__(self, size: int, environment: dict[str, str], functions: list[str]) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        import threading

        self.size = size
        self.environment = dict(environment)
        self.functions = list(functions)
        # Read from the template here, once, and handed to every worker (the template is parsed once).
        self.settings = {function: _cached_settings(function) for function in self.functions}
        # Workers fork from multiprocessing's fork server: a fresh single-threaded process (no moto or
        # server threads to inherit) that imports the libraries every worker needs once, so a worker
        # starts in milliseconds, not the half second of CPU each import takes. What depends on the
        # environment (tf_retainer's Logger, Metrics and settings) is imported in each worker, after it
        # has set the environment.
        self._context = worker_context()
        self._idle = _IdleWorkers()
        self._workers: set[_Worker] = set()
        self._guard = threading.Lock()
        self._stopping = threading.Event()
        self.replaced = 0
        # pid -> the function each busy worker runs now (local/faults.py kills by it).
        self._running: dict[int, tuple[_Worker, str]] = {}

    def start(self, timeout: float = 60.0) -> None:
        """Start every worker and wait until each has imported the functions."""
        workers = [self._spawn() for _ in range(self.size)]
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.wait_ready(max(0.1, deadline - time.monotonic()))
            self._idle.put(worker)

    def _spawn(self) -> _Worker:
        worker = _Worker(self._context, self.environment, self.settings)
        with self._guard:
            self._workers.add(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start another in the background (the API keeps answering meanwhile)."""
        import threading

        worker.kill()
        with self._guard:
            self._workers.discard(worker)
        if self._stopping.is_set():
            return
        self.replaced += 1

        def start_one() -> None:
            try:
                fresh = self._spawn()
                fresh.wait_ready(60.0)
            except Exception:
                _log.warning("worker pool: a replacement worker failed to start; trying again")
                time.sleep(1.0)
                if not self._stopping.is_set():
                    start_one()
                return
            if self._stopping.is_set():
                fresh.kill()
            else:
                self._idle.put(fresh)

        threading.Thread(target=start_one, name="tf-local-worker-start", daemon=True).start()

    @property
    def waiting(self) -> int:
        """Invocations waiting for a free worker now."""
        return self._idle.waiting

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        settings = _cached_settings(logical_id)
        while True:
            worker = self._idle.take(self._stopping)
            if worker is None:
                raise FunctionError("the local stack is stopping", STOPPING)
            if worker.alive():
                break
            self._replace(worker)
        pid = worker.process.pid
        self._running[pid] = (worker, logical_id)
        try:
            outcome = worker.call(logical_id, event, settings.timeout + 1.0, self._stopping)
        except FunctionTimeout:
            self._replace(worker)
            raise
        except (EOFError, OSError):  # the worker died mid-invocation
            self._replace(worker)
            raise FunctionError("the worker process exited", "WorkerExited") from None
        except _Abandoned:
            self._replace(worker)
            raise FunctionError("the local stack is stopping", STOPPING) from None
        finally:
            self._running.pop(pid, None)
        self._idle.put(worker)
        if outcome[0] == "error":
            _, message, type_name, where = outcome
            raise FunctionError(message, type_name, where)
        return outcome[1]

    def running(self, pid: int) -> str | None:
        """The function the worker process ``pid`` runs now (None: not ours, or idle)."""
        busy = self._running.get(pid)
        return busy[1] if busy else None

    def kill_worker(self, pid: int) -> None:
        """SIGKILL the busy worker ``pid`` (as Lambda's host dying): its invocation raises FunctionError
        and the worker is replaced, as for any worker that dies."""
        import os
        import signal

        if pid in self._running:  # only a worker of this pool (its own child), by its pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def interrupt(self) -> None:
        """Stop taking invocations: those waiting for a worker or in flight raise FunctionError now (the
        stack is stopping; a retry batch in flight goes back to the queue, as on a Lambda shutdown)."""
        self._stopping.set()
        self._idle.release_waiting()

    def stop(self, timeout: float = 3.0) -> None:
        """Ask idle workers to exit, kill busy ones (an invocation in flight is abandoned)."""
        self.interrupt()
        with self._guard:
            workers = list(self._workers)
            self._workers.clear()
        for worker in workers:
            worker.ask_to_exit()
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for worker in workers:
            worker.kill()

    def describe(self) -> str:
        return f"{self.size} worker process(es), one invocation at a time each (LOCAL_WORKERS)"


_log = logging.getLogger("tf_retainer.local.functions")


@cache
def _cached_settings(logical_id: str) -> FunctionSettings:
    return function_settings(logical_id)


class _Abandoned(Exception):
    pass


class _IdleWorkers:
    """The pool's idle workers and the invocations waiting for one, served first come, first served.

    A worker put back goes straight to the invocation that has waited longest, if any, else to the idle
    list; a waiting invocation keeps its place until it is served or the pool stops. (A ``queue.Queue``
    polled with a timeout is not fair: a waiter that times out joins the back of the line, and a newcomer
    can take a worker put back before the woken waiter runs.)
    """

    def __init__(self) -> None:
        import collections
        import threading

        self._lock = threading.Lock()
        self._idle: collections.deque[_Worker] = collections.deque()
        self._waiting: collections.deque[_Waiter] = collections.deque()

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def put(self, worker: _Worker) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().hand(worker)
            else:
                self._idle.append(worker)

    def take(self, stopping: Any) -> _Worker | None:
        """An idle worker, else the first one put back after every earlier waiter got one; None once
        ``stopping`` is set."""
        with self._lock:
            if stopping.is_set():
                return None
            if self._idle:  # nobody waits while a worker is idle
                return self._idle.popleft()
            waiter = _Waiter()
            self._waiting.append(waiter)
        waiter.given.wait()
        return waiter.worker

    def release_waiting(self) -> None:
        """Every waiting invocation gets None (the pool is stopping)."""
        with self._lock:
            waiters, self._waiting = list(self._waiting), type(self._waiting)()
        for waiter in waiters:
            waiter.hand(None)


class _Waiter:
    def __init__(self) -> None:
        import threading

        self.given = threading.Event()
        self.worker: _Worker | None = None

    def hand(self, worker: _Worker | None) -> None:
        self.worker = worker
        self.given.set()


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context: Any, environment: dict[str, str], settings: dict[str, FunctionSettings]) -> None:
        import threading

        self._conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, environment, settings), name="tf-local-worker", daemon=True
        )
        self.process.start()
        child.close()
        self._send_lock = threading.Lock()

    def wait_ready(self, timeout: float) -> None:
        if not self._conn.poll(timeout):
            self.kill()
            raise RuntimeError(f"a worker process did not start within {timeout:.0f} s")
        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            message = ("failed", f"it exited with code {self.process.exitcode}")
        if message[0] != "ready":
            self.kill()
            raise RuntimeError(f"a worker process failed to start: {message[1]}")

    def alive(self) -> bool:
        return self.process.is_alive()

    def call(self, logical_id: str, event: dict[str, Any], timeout: float, stopping: Any) -> tuple[Any, ...]:
        self._conn.send((logical_id, event))
        deadline = time.monotonic() + timeout
        while not self._conn.poll(0.1):
            if stopping.is_set():
                raise _Abandoned
            if time.monotonic() > deadline:
                raise FunctionTimeout(f"Task timed out after {timeout - 1:.2f} seconds", "Timeout")
        return tuple(self._conn.recv())

    def ask_to_exit(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)

    def join(self, timeout: float) -> None:
        self.process.join(timeout)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2.0)
        self._conn.close()


def _worker_main(conn: Any, environment: dict[str, str], settings: dict[str, FunctionSettings]) -> None:
    """A worker process: the functions' environment, every function imported, then one invocation at a
    time until the parent sends None or goes away."""
    import os
    import signal
    import warnings

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops us
    os.environ.update(environment)
    # In every AWS request's User-Agent (app/tfw-<pid>): the stack's fault layer tells the functions'
    # requests from its own, and which worker sent one (local/faults.py).
    os.environ["AWS_SDK_UA_APP_ID"] = f"tfw-{os.getpid()}"
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s.%(msecs)03d %(message)s", datefmt="%H:%M:%S")
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    try:
        _GIVEN_SETTINGS.update(settings)
        for logical_id in settings:
            load_handler(logical_id)
    except BaseException as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        logical_id, event = message
        try:
            answer: tuple[Any, ...] = ("ok", invoke(logical_id, event))
        except Exception as exc:
            answer = ("error", str(exc), type(exc).__name__, _where(exc))
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return


def _where(exc: BaseException) -> str:
    """Where a function raised: its innermost frame, then (``<``) the project's frames that led there, innermost
    first, at most five (file and line only: an exception's message may quote request data)."""
    import traceback
    from pathlib import Path

    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not frames:
        return ""
    root = str(Path(__file__).resolve().parents[1]) + "/"
    callers = [f for f in frames[:-1] if f.filename.startswith(root) and "/.venv/" not in f.filename][-4:]
    shown = [frames[-1], *reversed(callers)]
    return " at " + " < ".join(f"{f.filename.removeprefix(root)}:{f.lineno}" for f in shown)
