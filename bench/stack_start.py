"""How long `python -m local.stack` (`make run`) takes from process start to its first answer, and to stop.

    python bench/stack_start.py [--runs 5] [--root DIR]

Each run starts the stack on free ports (as tests/e2e/test_local_stack.py does), waits for the ready
line, then POSTs the banner's sample lead and waits for its 201; then stops the stack (SIGTERM). Prints
each run and the medians of: time to the ready line, time to the first answer, the CPU seconds the
stack's process tree used until then (user + sys of the stack and its workers, from /proc), and the time
from SIGTERM to the stack's exit with a retry hung on TrustedForm in flight (what stopping must not wait
out); the ready and stop times beside their goals (READY_GOAL_S, STOP_GOAL_S).
``--root`` runs another checkout's stack (for a before/after pair; the default is this one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT)]
from local.stack import StackProcess  # noqa: E402

VENDOR_KEY = "bench-vendor-key-0123456789abcdef"
# Issue 19: what tests/e2e/test_local_stack.py asserted on the wall clock until then.
READY_GOAL_S = 30.0  # process start to the ready line
STOP_GOAL_S = 5.0  # SIGTERM to exit 0


def hang_a_retry(state: dict[str, str]) -> None:
    """A lead whose retry's call to TrustedForm is in flight, held unanswered by the simulator."""
    cert_id = os.urandom(20).hex()
    simulator = state["simulator_url"]
    httpx.post(
        f"{simulator}/_simulator/certificates/{cert_id}", json={"behaviours": ["unavailable", "hang"]}, timeout=30
    ).raise_for_status()
    body = {"trustedform_cert_url": f"https://cert.trustedform.com/{cert_id}", "email": "jane.doe@example.com"}
    answer = httpx.post(f"{state['api_url']}/leads", json=body, headers={"x-api-key": VENDOR_KEY}, timeout=30)
    if answer.status_code != 202:
        raise RuntimeError(f"the lead to hang was answered {answer.status_code}: {answer.text}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        sent = httpx.get(f"{simulator}/_simulator/requests", timeout=30).json()
        if [request["status"] for request in sent if request["cert_id"] == cert_id] == [503, None]:
            return
        time.sleep(0.1)
    raise RuntimeError("the retry never reached TrustedForm")


def one_run(root: Path, state_dir: Path, base_env: Mapping[str, str] | None = None) -> dict[str, float]:
    """One start, first answer and stop; the stack's environment is ``base_env`` (default: this process's)
    without what would point it at another stack."""
    # RETRY_*: the hung retry comes a second after its lead.
    settings = {"LOCAL_VENDOR_KEY": VENDOR_KEY, "RETRY_BASE_SECONDS": "1", "RETRY_CAP_SECONDS": "2"}
    stack = StackProcess(state_dir, settings, base_env=base_env, root=root).start()
    try:
        state = stack.wait(120)
        ready, posted = stack.ready_seconds, time.monotonic()
        body = {
            "trustedform_cert_url": "https://cert.trustedform.com/" + os.urandom(20).hex(),
            "email": "jane.doe@example.com",
        }
        answer = httpx.post(f"{state['api_url']}/leads", json=body, headers={"x-api-key": VENDOR_KEY}, timeout=30)
        first_answer = ready + time.monotonic() - posted
        if answer.status_code != 201:
            raise RuntimeError(f"first answer {answer.status_code}: {answer.text}")
        cpu = stack.cpu_seconds()
        hang_a_retry(state)
    finally:
        stopping = time.monotonic()
        exit_code = stack.stop(60)
    stop = time.monotonic() - stopping
    if exit_code != 0:
        raise RuntimeError(f"the stack exited {exit_code} on SIGTERM")
    return {"ready_s": ready, "first_answer_s": first_answer, "cpu_s": cpu, "stop_s": stop}


def verdict(value: float, goal: float) -> str:
    return f"goal <= {goal:g} s {'met' if value <= goal else 'NOT met'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the checkout whose stack to start")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tf-stack-start-") as state_dir:
        runs = [one_run(args.root.resolve(), Path(state_dir)) for _ in range(args.runs)]
    medians = {key: round(statistics.median(run[key] for run in runs), 2) for key in runs[0]}
    if args.json:
        print(json.dumps({"runs": runs, "medians": medians}, indent=2))
        return 0
    for number, run in enumerate(runs, 1):
        print(
            f"  run {number}: ready {run['ready_s']:.2f} s, first answer {run['first_answer_s']:.2f} s, "
            f"CPU {run['cpu_s']:.2f} s, stopped {run['stop_s']:.2f} s after SIGTERM (a retry hung)"
        )
    print(
        f"medians: ready {medians['ready_s']:.2f} s, first answer {medians['first_answer_s']:.2f} s, "
        f"CPU {medians['cpu_s']:.2f} s (stack + workers, until the first answer), stop {medians['stop_s']:.2f} s"
    )
    print(f"  ready {medians['ready_s']:.2f} s  {verdict(medians['ready_s'], READY_GOAL_S)}")
    print(f"  stop  {medians['stop_s']:.2f} s  {verdict(medians['stop_s'], STOP_GOAL_S)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
