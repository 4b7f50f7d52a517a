"""Load the template's functions from their CodeUri and call them as Lambda would (no Docker)."""

from __future__ import annotations

import importlib.util
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


@cache
def load_handler(logical_id: str) -> tuple[FunctionSettings, Any]:
    """Import a function's app module under a unique name (every function's module is `app`)."""
    settings = function_settings(logical_id)
    path = settings.code_uri / f"{settings.module.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"tf_function_{logical_id}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return settings, getattr(module, settings.function_name)


def invoke(logical_id: str, event: dict[str, Any]) -> Any:
    settings, handler = load_handler(logical_id)
    context = LambdaContext(
        function_name=logical_id, timeout_seconds=settings.timeout, memory_limit_in_mb=settings.memory_size
    )
    return handler(event, context)


def reset_service_caches() -> None:
    """Forget settings, clients and the cached secret: a new Lambda container, as far as tf_retainer knows.

    Call it whenever the environment changes under the same process (a new moto stack, new settings)."""
    from aws_lambda_powertools.utilities import parameters
    from tf_retainer.deps import default_deps
    from tf_retainer.settings import get_settings

    if default_deps.cache_info().currsize:
        default_deps().trustedform.close()
    default_deps.cache_clear()
    get_settings.cache_clear()
    parameters.clear_caches()
