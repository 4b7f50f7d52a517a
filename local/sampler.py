"""A sampling profiler for the local stack's own process (moto, the pollers, the API's threads), for finding
what grows as a long run goes on: ``LOCAL_SAMPLE=/path/to/file make run`` (or any ``python -m local.stack``).

Every ``interval`` seconds it takes each thread's stack (``sys._current_frames``) and counts, per function,
the samples it was on a stack (inclusive) and on top (self). Every ``window`` seconds it appends to the file
the window's most sampled functions, so that a window late in a run can be set beside an early one. It
costs the sampled process a few per cent; cProfile would double every call's time and see one thread.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

from local.background import BackgroundLoop

SAMPLE_ENV = "LOCAL_SAMPLE"


class Sampler(BackgroundLoop):
    function = "sampler"

    def __init__(self, path: str, *, interval: float = 0.005, window: float = 60.0, top: int = 40) -> None:
        self.path = Path(path)
        self.interval, self.window, self.top = interval, window, top
        self._inclusive: Counter[str] = Counter()
        self._self: Counter[str] = Counter()
        self._samples = 0
        BackgroundLoop.__init__(self)

    def describe(self) -> str:
        return f"sampling this process every {self.interval * 1000:g} ms into {self.path}"

    def run(self) -> None:
        began = window_began = time.monotonic()
        own = threading.get_ident()
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident != own and not _idle(frame):
                    self._take(frame)
            if time.monotonic() - window_began >= self.window:
                self._write(time.monotonic() - began)
                window_began = time.monotonic()
        self._write(time.monotonic() - began)

    def _take(self, frame: FrameType) -> None:
        self._samples += 1
        self._self[_name(frame)] += 1
        seen: set[str] = set()
        current: FrameType | None = frame
        while current is not None:
            name = _name(current)
            if name not in seen:
                seen.add(name)
                self._inclusive[name] += 1
            current = current.f_back

    def _write(self, elapsed: float) -> None:
        lines = [f"== {elapsed:.0f} s: {self._samples} busy samples (thread x tick)"]
        lines += [f"  incl {count:6d}  {name}" for name, count in self._inclusive.most_common(self.top)]
        lines += [f"  self {count:6d}  {name}" for name, count in self._self.most_common(self.top // 2)]
        with self.path.open("a") as out:
            out.write("\n".join(lines) + "\n")
        self._inclusive.clear()
        self._self.clear()
        self._samples = 0


def _name(frame: FrameType) -> str:
    code = frame.f_code
    filename = code.co_filename.split("site-packages/")[-1].split("/work/")[-1]
    return f"{filename}:{code.co_firstlineno}:{code.co_name}"


# Where an idle thread waits: a sample there says nothing about work.
_WAITS = frozenset({"wait", "select", "accept", "_wait_for_tstate_lock", "readinto", "recv_into"})


def _idle(frame: FrameType) -> bool:
    return frame.f_code.co_name in _WAITS
