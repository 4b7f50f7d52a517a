"""local/sampler.py: the busiest functions of the stack's process, window by window, what a developer reads
to find what makes a long run slower."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from local.sampler import Sampler


def busy_counting_primes(stop: threading.Event) -> None:
    n = 2
    while not stop.is_set():
        all(n % d for d in range(2, int(n**0.5) + 1))
        n += 1


def test_the_busiest_function_is_named_in_each_window_and_idle_threads_are_not(tmp_path: Path):
    out = tmp_path / "samples.txt"
    stop = threading.Event()
    worker = threading.Thread(target=busy_counting_primes, args=(stop,), daemon=True)
    idle = threading.Thread(target=stop.wait, daemon=True)  # waits the whole time: not work
    worker.start()
    idle.start()
    sampler = Sampler(str(out), interval=0.002, window=0.2)
    sampler.start()
    time.sleep(0.7)
    sampler.stop()
    stop.set()
    windows = out.read_text().split("== ")[1:]
    assert len(windows) >= 2  # one a window, then the last part at stop
    assert all("busy_counting_primes" in window for window in windows[:-1])
    selfs = [line for line in windows[0].splitlines() if line.strip().startswith("self")]
    assert not any("threading.py" in line and ":wait" in line for line in selfs)
