"""The standalone process of every simulator: ``python -m local.sims.<provider> --port N --api-key K``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from local.sims.http import CONTROL_PREFIX, FAULT_HEADER, SimServer
from local.sims.script import FAULT_NAMES


def run(sim_class: type[SimServer], argv: list[str] | None = None) -> int:
    """Serve one simulator until SIGTERM or SIGINT, logging one line a request (no subjects, no keys)."""
    parser = argparse.ArgumentParser(prog=f"python -m {sim_class.__module__}", description=sim_class.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=sim_class.DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted key (repeatable; default sim-key)"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--retry-after", type=int, default=2, help="Retry-After seconds sent with a throttled fault")
    sim_class.add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    sim = sim_class.from_arguments(args)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    url = sim.start()
    print(
        f"{sim.NAME} simulator listening on {url} - fault per request: header '{FAULT_HEADER}: <name>'; "
        f"per {sim.SUBJECTS[:-1]}: POST {url}{CONTROL_PREFIX}{sim.SUBJECTS}/<key> "
        f'{{"faults": [...], "facts": {{...}}}}; faults: {", ".join((*FAULT_NAMES, *sim.EXTRA_FAULTS))}; '
        f"facts: {', '.join(sim.FACTS)}",
        flush=True,
    )
    try:
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0
