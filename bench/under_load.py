"""The test suite while every core is busy: a test that passes only on a quiet machine is timing something.

    .venv/bin/python bench/under_load.py [--busy N] [-- COMMAND ...]    (or: make test-under-load)

Starts N busy-loop processes (default: one per core, os.cpu_count()), runs COMMAND (default: make test)
while they hold the cores, then stops them - always, on failure, Ctrl-C or SIGTERM too (each by its own
pid; a busy loop whose parent is gone also ends itself). Prints the load average before and after, the
command's wall time and exit status, and exits with that status.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from types import FrameType

# Spins; every ~10 million rounds checks that the process that started it is still there.
BUSY_LOOP = """
import os, sys
parent, n = int(sys.argv[1]), 0
while True:
    n += 1
    if n % 10_000_000 == 0 and os.getppid() != parent:
        break
"""


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


def start_busy(count: int) -> list[subprocess.Popen[bytes]]:
    # Their own session: a Ctrl-C reaches the command, not them (they are stopped below, quietly).
    return [
        subprocess.Popen(  # noqa: S603 - this interpreter running the loop above
            [sys.executable, "-c", BUSY_LOOP, str(os.getpid())], start_new_session=True
        )
        for _ in range(count)
    ]


def stop_busy(busy: list[subprocess.Popen[bytes]]) -> None:
    for process in busy:
        if process.poll() is None:
            process.kill()  # by its own pid: only what this script started
    for process in busy:
        process.wait()


def exit_status(returncode: int) -> int:
    """A shell's status: a process ended by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busy", type=int, default=0, help="busy-loop processes (default: one per core)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="what to run (default: make test)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    command = command or ["make", "test"]
    busy_count = args.busy if args.busy > 0 else os.cpu_count() or 1

    def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    print(f"under load: load average before {load_average()}", flush=True)
    busy: list[subprocess.Popen[bytes]] = []
    suite: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    status = 1
    try:
        busy = start_busy(busy_count)
        print(
            f"under load: {busy_count} busy-loop process(es) on {os.cpu_count()} core(s); running: {' '.join(command)}",
            flush=True,
        )
        started = time.monotonic()
        suite = subprocess.Popen(command)  # noqa: S603 - the command the caller asked for
        status = exit_status(suite.wait())
        print(f"under load: load average at the end, still busy {load_average()}", flush=True)
    except KeyboardInterrupt:
        if suite is not None and suite.poll() is None:
            suite.send_signal(signal.SIGINT)  # ours; Ctrl-C already reached it, a SIGTERM to us did not
            try:
                suite.wait(60)
            except subprocess.TimeoutExpired:
                suite.kill()
                suite.wait()
        status = exit_status(suite.returncode) if suite is not None and suite.returncode else 130
        print("under load: interrupted", flush=True)
    finally:
        stop_busy(busy)
    wall = time.monotonic() - started
    print(f"under load: {' '.join(command)}: {wall:.0f} s wall, exit {status}", flush=True)
    print(f"under load: load average after stopping the busy loops {load_average()}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
