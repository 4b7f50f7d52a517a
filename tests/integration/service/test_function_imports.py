"""What each function imports at cold start: only what it uses (issue 13).

Each case imports a function's app module in a fresh process, as Lambda's init does (LAMBDA_TASK_ROOT
set, the layer on the path), with tracing off (the template's default) or on (Tracing=Active), and
reports which of the heavy modules below it loaded (bench/coldstart.py measures what they cost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
# Modules that cost a cold start 5-85 ms each, and which functions load them at import and when they
# build their clients for the first request (default_deps: all but the authorizer).
HTTPX = "httpx"  # the TrustedForm client's: imported on its first retain
XRAY = "aws_xray_sdk"  # only with Tracing=Active
OPENAPI_MODELS = "aws_lambda_powertools.event_handler.openapi.models"  # only to generate docs/openapi.json
EVENT_HANDLER = "aws_lambda_powertools.event_handler"  # the REST resolver: the intake's routes
BATCH = "aws_lambda_powertools.utilities.batch"  # the retry worker's partial batch responses
RULES = "tf_retainer.decisions.rules"  # the buyer's rules: judged by intake and retry
SECRETS = "aws_lambda_powertools.utilities.parameters"  # the TrustedForm API key, for intake and retry
STORE = "tf_retainer.store.lead_table"
LEAD_PORTS = "tf_retainer.leads.deps"  # the lead use cases' ports and the domain under them (~80 ms)
HEAVY = (HTTPX, XRAY, OPENAPI_MODELS, EVENT_HANDLER, BATCH, RULES, SECRETS, STORE, LEAD_PORTS)
# The lead store is imported by tf_retainer.wiring when it builds the clients (the first request), the
# secret's reader when the API key is first read: the authorizer, which imports wiring too, loads neither.
IMPORTED_WITH_TRACING_OFF = {
    "intake": {EVENT_HANDLER, RULES, LEAD_PORTS},
    "retry": {BATCH, RULES, LEAD_PORTS},
    "authorizer": set(),  # the vendor keys only: no lead use case, no lead store
    "sweeper": {LEAD_PORTS},
    "auto_suspend": {RULES},  # the rules module comes with the scorecard; the table is built when it runs
    "consent": {EVENT_HANDLER, LEAD_PORTS},  # revocations and contacts: no TrustedForm, no buyer's intake rules
    "anchor": set(),  # the stream's records, S3 and KMS: no lead store, no batch utility, no rules
}

IMPORT_APP = r"""
import importlib.util, json, sys
sys.path.insert(0, sys.argv[2])
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = json.loads(sys.argv[3])
loaded = sorted(name for name in heavy if name in sys.modules)
from tf_retainer.runtime.observability import tracer
if sys.argv[4] in ("deps", "first-retain"):  # the clients a first request builds
    from tf_retainer.wiring import default_deps
    default_deps()
if sys.argv[4] == "keys":  # the authorizer's one store
    from tf_retainer.wiring import vendor_keys
    vendor_keys()
built = sorted(name for name in heavy if name in sys.modules)
if sys.argv[4] == "first-retain":  # and the TrustedForm client's connection pool, on the first retain
    default_deps().trustedform._http
patched = []
if "aws_xray_sdk.core" in sys.modules:
    from aws_xray_sdk.core import patcher
    patched = sorted(patcher._PATCHED_MODULES)
print(json.dumps({"loaded": loaded, "built": built, "tracer": type(tracer).__name__, "patched": patched}))
"""


@cache
def imported_by(function: str, *, tracing: bool, then: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_SAM"))}
    env.update(
        LAMBDA_TASK_ROOT=str(REPO_ROOT / "functions" / function),
        POWERTOOLS_TRACE_DISABLED="false" if tracing else "true",
        POWERTOOLS_SERVICE_NAME="tf-retainer",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR",
        TABLE_NAME="tf-retainer-imports",
        RETRY_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/imports",
        TRUSTEDFORM_SECRET_ID="tf-retainer/imports",
    )
    app = REPO_ROOT / "functions" / function / "app.py"
    args = [str(app), str(REPO_ROOT / "layers" / "common"), json.dumps(HEAVY), then]
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", IMPORT_APP, *args], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("function", sorted(IMPORTED_WITH_TRACING_OFF))
def test_each_function_imports_only_the_heavy_modules_it_uses(function: str) -> None:
    imported = imported_by(function, tracing=False, then="" if function in ("authorizer", "auto_suspend") else "deps")
    assert set(imported["loaded"]) == IMPORTED_WITH_TRACING_OFF[function]
    assert imported["tracer"] == "IdleTracer"  # tracing off: no X-Ray SDK, no dummy subsegments


@pytest.mark.parametrize("function", ["intake", "retry", "sweeper"])
def test_the_lead_functions_load_the_lead_store_with_their_clients_and_the_sweeper_no_rules(function: str) -> None:
    built = imported_by(function, tracing=False, then="deps")
    assert STORE in built["built"]
    assert SECRETS not in built["built"]  # read on the first retain, not before
    assert (RULES in built["built"]) is (function != "sweeper")


def test_the_authorizer_never_loads_the_lead_store() -> None:
    assert STORE not in imported_by("authorizer", tracing=False, then="keys")["built"]


def test_the_authorizer_never_imports_httpx() -> None:
    assert HTTPX not in imported_by("authorizer", tracing=True)["loaded"]


def test_tracing_on_patches_what_each_function_calls_out_with() -> None:
    authorizer = imported_by("authorizer", tracing=True)
    assert (authorizer["tracer"], authorizer["patched"]) == ("Tracer", ["botocore"])
    intake = imported_by("intake", tracing=True)
    assert (intake["tracer"], intake["patched"], HTTPX in intake["loaded"]) == ("Tracer", ["botocore"], False)
    # httpx is imported, and patched, when the intake builds its TrustedForm client for the first retain.
    first_retain = imported_by("intake", tracing=True, then="first-retain")
    assert first_retain["patched"] == ["botocore", "httpx"]
