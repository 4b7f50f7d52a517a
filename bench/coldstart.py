"""Cold start of a function's handler module with and without the Powertools Tracer.

    python bench/coldstart.py [--runs 5] [--function intake]   (or: make coldstart)

Each sample is a fresh Python process that imports ``functions/<name>/app.py`` the way Lambda's init
phase does (layer package on the path), in three modes:

- ``tracer-on``: as deployed with ``Tracing: Active`` (LAMBDA_TASK_ROOT set, so Powertools enables the
  Tracer, imports aws_xray_sdk and patches boto3/botocore/httpx);
- ``tracer-patch-few``: as tracer-on, but ``Tracer(patch_modules=("botocore", "httpx"))`` (only the
  libraries the service calls out with) instead of patching every library X-Ray knows;
- ``tracer-disabled``: ``POWERTOOLS_TRACE_DISABLED=true`` (Tracer object still created);
- ``no-tracer``: ``aws_lambda_powertools.tracing`` replaced by a no-op stub (the Tracer removed).

Reports the median import time (measured inside the child) and the median process wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import importlib.util, json, sys, time, types
start = time.perf_counter()
mode, app_path, layer = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, layer)
if mode == "no-tracer":
    stub = types.ModuleType("aws_lambda_powertools.tracing")
    class Tracer:
        def __init__(self, *a, **k): pass
        def capture_lambda_handler(self, fn=None, **k): return fn if fn else (lambda f: f)
        def capture_method(self, fn=None, **k): return fn if fn else (lambda f: f)
        def put_annotation(self, *a, **k): pass
        def put_metadata(self, *a, **k): pass
    stub.Tracer = Tracer
    sys.modules["aws_lambda_powertools.tracing"] = stub
elif mode == "tracer-patch-few":
    import aws_lambda_powertools
    from aws_lambda_powertools.tracing import Tracer as _Tracer
    class Tracer(_Tracer):
        def __init__(self, *a, **k):
            k.setdefault("patch_modules", ("botocore", "httpx"))
            super().__init__(*a, **k)
    aws_lambda_powertools.Tracer = Tracer
spec = importlib.util.spec_from_file_location("app", app_path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
print(json.dumps({"import_ms": elapsed * 1000, "xray": "aws_xray_sdk" in sys.modules}))
"""

MODES = ("tracer-on", "tracer-patch-few", "tracer-disabled", "no-tracer")


def sample(mode: str, function: str) -> tuple[float, float, bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_LAMBDA", "LAMBDA_"))}
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "tf-retainer",
            "POWERTOOLS_METRICS_NAMESPACE": "TfRetainer",
            "LAMBDA_TASK_ROOT": str(REPO_ROOT / "functions" / function),
            "AWS_LAMBDA_FUNCTION_NAME": f"tf-retainer-{function}",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        }
    )
    if mode == "tracer-disabled":
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    app = REPO_ROOT / "functions" / function / "app.py"
    layer = REPO_ROOT / "layers" / "common"
    started = time.perf_counter()
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CHILD, mode, str(app), str(layer)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=str(REPO_ROOT / "functions" / function),
    )
    wall = (time.perf_counter() - started) * 1000
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["import_ms"], wall, result["xray"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--function", default="intake")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sample(MODES[0], args.function)  # warm the .pyc cache and the OS page cache once
    # Round-robin over the modes, so a busy machine slows every mode alike.
    collected: dict[str, list[tuple[float, float, bool]]] = {mode: [] for mode in MODES}
    for _ in range(args.runs):
        for mode in MODES:
            collected[mode].append(sample(mode, args.function))
    results = {}
    for mode, samples in collected.items():
        results[mode] = {
            "import_ms_median": round(statistics.median(s[0] for s in samples), 1),
            "import_ms_min": round(min(s[0] for s in samples), 1),
            "process_ms_median": round(statistics.median(s[1] for s in samples), 1),
            "import_ms_samples": [round(s[0], 1) for s in samples],
            "aws_xray_sdk_loaded": samples[0][2],
        }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"functions/{args.function}/app.py, {args.runs} fresh processes per mode, medians (ms)")
        for mode, r in results.items():
            print(
                f"  {mode:<16} import {r['import_ms_median']:>7.1f} (min {r['import_ms_min']:>6.1f})"
                f"   process {r['process_ms_median']:>7.1f}"
                f"   aws_xray_sdk loaded: {r['aws_xray_sdk_loaded']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
