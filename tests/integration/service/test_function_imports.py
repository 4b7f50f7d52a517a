"""What each function imports at cold start: only what it uses (issue 13).

Each case imports a function's app module in a fresh process, as Lambda's init does (LAMBDA_TASK_ROOT
set, the layer on the path), with tracing off (the template's default) or on (Tracing=Active)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]

IMPORT_APP = r"""
import importlib.util, json, sys
sys.path.insert(0, sys.argv[2])
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from tf_retainer.observability import tracer
patched = []
if "aws_xray_sdk.core" in sys.modules:
    from aws_xray_sdk.core import patcher
    patched = sorted(patcher._PATCHED_MODULES)
print(json.dumps({
    "loaded": sorted(name for name in ("aws_xray_sdk", "httpx") if name in sys.modules),
    "tracer": type(tracer).__name__,
    "patched": patched,
}))
"""


def imported_by(function: str, *, tracing: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_SAM"))}
    env.update(
        LAMBDA_TASK_ROOT=str(REPO_ROOT / "functions" / function),
        POWERTOOLS_TRACE_DISABLED="false" if tracing else "true",
        POWERTOOLS_SERVICE_NAME="tf-retainer",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR",
    )
    app = REPO_ROOT / "functions" / function / "app.py"
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", IMPORT_APP, str(app), str(REPO_ROOT / "layers" / "common")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("function", ["intake", "retry", "authorizer", "sweeper", "auto_suspend"])
def test_tracing_off_imports_no_xray(function: str) -> None:
    imported = imported_by(function, tracing=False)
    assert imported["tracer"] == "IdleTracer"
    assert "aws_xray_sdk" not in imported["loaded"]
    if function == "auto_suspend":  # it reads and writes the table only
        assert "httpx" not in imported["loaded"]


def test_the_authorizer_never_imports_httpx() -> None:
    for tracing in (False, True):
        assert "httpx" not in imported_by("authorizer", tracing=tracing)["loaded"], tracing


def test_tracing_on_patches_what_each_function_calls_out_with() -> None:
    authorizer = imported_by("authorizer", tracing=True)
    assert (authorizer["tracer"], authorizer["patched"]) == ("Tracer", ["botocore"])
    intake = imported_by("intake", tracing=True)
    assert (intake["tracer"], intake["patched"]) == ("Tracer", ["botocore", "httpx"])
