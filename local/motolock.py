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


_kms_patched = False


def reuse_symmetric_kms_private_key() -> None:
    """moto gives every KMS key, symmetric ones included, a freshly generated RSA-2048 private key that a
    symmetric key never uses (20-300 ms of CPU each); DynamoDB server-side encryption creates such a key
    for every table. Generate it once per process for symmetric keys; asymmetric keys are unchanged
    and every key still gets its own symmetric key material. Idempotent; for tests (in-process moto)."""
    global _kms_patched
    if _kms_patched:
        return
    from moto.kms import models

    original = models.generate_private_key
    shared: dict[str, Any] = {}

    @functools.wraps(original)
    def generate(key_spec: str) -> Any:
        if key_spec != "SYMMETRIC_DEFAULT":
            return original(key_spec)
        if key_spec not in shared:
            shared[key_spec] = original(key_spec)
        return shared[key_spec]

    models.generate_private_key = generate
    _kms_patched = True
