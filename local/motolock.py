"""moto's backends are plain dicts, not thread-safe; AWS is. Serialise calls into moto so concurrent
code (the retry worker's threads, the threaded local gateway) sees AWS-like behaviour, not moto races."""

from __future__ import annotations

import functools
import threading
from typing import Any

_lock = threading.RLock()
_patched = False


def serialise_moto() -> None:
    """Patch moto's in-process stubber and its server app so one request runs at a time. Idempotent."""
    global _patched
    if _patched:
        return
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    for cls in (BotocoreStubber, DomainDispatcherApplication):
        original = cls.__call__

        @functools.wraps(original)
        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _lock:
                return __original(self, *args, **kwargs)

        cls.__call__ = locked  # type: ignore[method-assign]
    _patched = True
