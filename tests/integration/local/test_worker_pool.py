"""The local stack's worker pool serves the invocations waiting for a worker in the order they came,
however long they wait, and lets them go when the stack stops."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from local import functions
from local.functions import FunctionError, WorkerPool

pytestmark = pytest.mark.timeout(60)


class FakeWorker:
    """A worker process stand-in: an invocation holds it ``event["hold"]`` seconds, noting its turn."""

    served: ClassVar[list[int]] = []
    started: ClassVar[int] = 0

    def __init__(self, *args: Any) -> None:
        FakeWorker.started += 1
        self.process = SimpleNamespace(pid=-FakeWorker.started)  # the pool keys invocations in flight by pid

    def wait_ready(self, timeout: float) -> None:
        pass

    def alive(self) -> bool:
        return True

    def call(self, logical_id: str, event: dict[str, Any], timeout: float, stopping: Any) -> tuple[Any, ...]:
        FakeWorker.served.append(event["n"])
        time.sleep(event["hold"])
        return ("ok", event["n"])

    def ask_to_exit(self) -> None:
        pass

    def join(self, timeout: float) -> None:
        pass

    def kill(self) -> None:
        pass


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Any:
    FakeWorker.served = []
    monkeypatch.setattr(functions, "_Worker", FakeWorker)
    started = WorkerPool(1, {}, ["AuthorizerFunction"])
    started.start()
    yield started
    started.stop()


def wait_until(condition: Any) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def invoke_in_thread(pool: WorkerPool, n: int, hold: float, results: dict[int, Any]) -> threading.Thread:
    def run() -> None:
        try:
            results[n] = pool.invoke("AuthorizerFunction", {"n": n, "hold": hold})
        except FunctionError as exc:
            results[n] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_invocations_waiting_for_a_worker_are_served_first_come_first_served(pool: WorkerPool) -> None:
    results: dict[int, Any] = {}
    # Each holds the only worker past half a second, the interval at which a waiter used to lose its place.
    threads = [invoke_in_thread(pool, 0, 0.6, results)]
    wait_until(lambda: FakeWorker.served == [0])
    for n in range(1, 7):
        threads.append(invoke_in_thread(pool, n, 0.6, results))
        wait_until(lambda n=n: pool.waiting == n)  # in line, in this order
    for thread in threads:
        thread.join(30)
    assert FakeWorker.served == list(range(7))
    assert results == {n: n for n in range(7)}


def test_waiting_invocations_end_when_the_stack_stops(pool: WorkerPool) -> None:
    results: dict[int, Any] = {}
    busy = invoke_in_thread(pool, 0, 2.0, results)
    wait_until(lambda: FakeWorker.served == [0])
    waiters = [invoke_in_thread(pool, n, 0.0, results) for n in (1, 2)]
    wait_until(lambda: pool.waiting == 2)
    pool.interrupt()
    for thread in waiters:
        thread.join(30)
    assert [type(results[n]) for n in (1, 2)] == [FunctionError, FunctionError]
    assert FakeWorker.served == [0]  # neither ran
    busy.join(30)
