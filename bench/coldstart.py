"""Cold start of each function's handler module, against a bare ``import boto3`` plus one client.

    python bench/coldstart.py [--runs 5] [--function intake ...] [--root DIR]   (or: make coldstart)

Each sample is a fresh Python process that imports ``functions/<name>/app.py`` the way Lambda's init
phase does (the layer package on the path, LAMBDA_TASK_ROOT set), in two modes:

- ``deployed``: as the template deploys it by default (``Tracing=Disabled``: POWERTOOLS_TRACE_DISABLED);
- ``traced``: ``Tracing=Active`` (the Powertools Tracer on: aws_xray_sdk imported, botocore/httpx patched).

and the baseline, a process that runs ``import boto3; boto3.client("dynamodb")``: what any Python function
that talks to DynamoDB pays. Samples go round-robin (every function and mode, then the baseline), so a
busy machine slows them alike; the ratio (of CPU time: what a loaded machine disturbs least) is taken
within each round, then its median reported. Times are measured inside the child (interpreter start-up
excluded), ``.pyc`` cached after a warm-up round, with the dev venv's extra packages that the layer
does not ship hidden (see WITHOUT_DEV_TOOLS).
``--root`` measures another checkout (for a before/after pair; the default is this one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("intake", "retry", "authorizer", "sweeper")
MODES = ("deployed", "traced")
GOAL_RATIO = 1.3  # issue 13: a handler's import within 1.3x the boto3 baseline

# The layer ships httpx without its command-line extras (layers/common/requirements.txt); the dev venv
# has click, pygments and rich (dev tools), which httpx's __init__ would import for its CLI (~15 ms).
WITHOUT_DEV_TOOLS = 'import sys\nfor name in ("click", "pygments", "rich"): sys.modules[name] = None\n'

IMPORT_APP = r"""
import importlib.util, json, sys, time
start, cpu_start = time.perf_counter(), time.process_time()
app_path, layer, event = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, layer)
spec = importlib.util.spec_from_file_location("app", app_path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
loaded = sorted(name for name in ("httpx", "aws_xray_sdk") if name in sys.modules)


class Context:  # what Powertools reads of Lambda's context
    function_name = "cold"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold"
    aws_request_id = "cold-start"

    def get_remaining_time_in_millis(self):
        return 29000


first_cpu = time.process_time()
try:
    if event is not None:
        module.lambda_handler(event, Context())
except Exception as exc:  # the authorizer answers an unknown key by raising "Unauthorized"
    if str(exc) != "Unauthorized":
        raise
first_ms = (time.process_time() - first_cpu) * 1000
print(json.dumps({"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "first_request_cpu_ms": first_ms, "modules": loaded}))
"""

BOTO3_BASELINE = r"""
import json, time
start, cpu_start = time.perf_counter(), time.process_time()
import boto3
boto3.client("dynamodb")
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
print(json.dumps({"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "modules": []}))
"""


def first_request(root: Path, function: str) -> dict | None:
    """A request the function answers without the network (none for the sweeper: it always queries): the
    intake builds every client and refuses a lead without contact; the retry worker fails a malformed
    record; the authorizer refuses a key too short to look up."""
    events = root / "events"
    if function == "intake":
        event = json.loads((events / "api-post-lead.json").read_text())
        event["body"] = json.dumps({"trustedform_cert_url": f"https://cert.trustedform.com/{'0' * 40}"})
        event["requestContext"]["authorizer"] = {"principalId": "cold", "vendor": "cold"}
        return event
    if function == "retry":
        event = json.loads((events / "sqs-retry-batch-with-poison.json").read_text())
        return {"Records": event["Records"][1:]}
    if function == "authorizer":
        event = json.loads((events / "authorizer-request-unknown-key.json").read_text())
        event["headers"]["x-api-key"] = "short"
        return event
    return None


def _environment(root: Path, function: str, mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up round writes the .pyc files every round reads
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_SERVICE_NAME": "tf-retainer",
            "POWERTOOLS_METRICS_NAMESPACE": "TfRetainer",
            "LAMBDA_TASK_ROOT": str(root / "functions" / function),
            "AWS_LAMBDA_FUNCTION_NAME": f"tf-retainer-{function}",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
            "POWERTOOLS_TRACE_DISABLED": "true" if mode == "deployed" else "false",
            "PYDANTIC_DISABLE_PLUGINS": "true",  # as template.yaml's Globals
            # Settings the first request reads (never reached: it needs no network).
            "TABLE_NAME": "tf-retainer-cold",
            "RETRY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cold",
            "TRUSTEDFORM_SECRET_ID": "tf-retainer/cold",
        }
    )
    return env


def _run(code: str, args: list[str], env: dict[str, str], cwd: Path) -> dict:
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", WITHOUT_DEV_TOOLS + code, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=str(cwd),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def sample_function(root: Path, function: str, mode: str) -> dict:
    app = root / "functions" / function / "app.py"
    layer = root / "layers" / "common"
    event = json.dumps(first_request(root, function))
    return _run(IMPORT_APP, [str(app), str(layer), event], _environment(root, function, mode), app.parent)


def sample_baseline(root: Path) -> dict:
    return _run(BOTO3_BASELINE, [], _environment(root, "intake", "deployed"), root)


def _median(values: list[float], digits: int = 1) -> float:
    return round(statistics.median(values), digits)


def measure(root: Path, functions: list[str], runs: int) -> dict[str, dict]:
    for function in functions:  # warm the .pyc cache and the OS page cache once
        sample_function(root, function, MODES[0])
    sample_baseline(root)
    samples: dict[str, list[dict]] = {f"{f}/{m}": [] for f in functions for m in MODES}
    baseline: list[dict] = []
    for _ in range(runs):
        for function in functions:
            for mode in MODES:
                samples[f"{function}/{mode}"].append(sample_function(root, function, mode))
        baseline.append(sample_baseline(root))
    results: dict[str, dict] = {
        "boto3+client": {
            "cpu_ms_median": _median([b["cpu_ms"] for b in baseline]),
            "wall_ms_median": _median([b["ms"] for b in baseline]),
        }
    }
    for key, taken in samples.items():
        ratios = [s["cpu_ms"] / b["cpu_ms"] for s, b in zip(taken, baseline, strict=True)]
        with_first = [
            (s["cpu_ms"] + s["first_request_cpu_ms"]) / b["cpu_ms"] for s, b in zip(taken, baseline, strict=True)
        ]
        results[key] = {
            "cpu_ms_median": _median([s["cpu_ms"] for s in taken]),
            "first_request_cpu_ms_median": _median([s["first_request_cpu_ms"] for s in taken]),
            "ratio_with_first_request_median": _median(with_first, 2),
            "wall_ms_median": _median([s["ms"] for s in taken]),
            "ratio_median": _median(ratios, 2),
            "ratio_min": round(min(ratios), 2),
            "ratio_max": round(max(ratios), 2),
            "modules": taken[0]["modules"],
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--function", action="append", choices=FUNCTIONS, help="default: all four")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the checkout to measure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = measure(args.root.resolve(), args.function or list(FUNCTIONS), args.runs)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    base = results.pop("boto3+client")
    print(
        f"{args.runs} rounds of fresh processes, medians; baseline import boto3 + one client: "
        f"{base['cpu_ms_median']:.1f} ms CPU ({base['wall_ms_median']:.1f} ms wall)"
    )
    for line in report(results):
        print(line)
    return 0


def report(results: dict[str, dict]) -> list[str]:
    """The table ``make coldstart`` and ``make bench`` print (``results`` without the baseline)."""
    lines = [
        f"  {'function/mode':<20} {'CPU ms':>7} {'wall ms':>8}  {'x baseline CPU (min-max)':<25} "
        f"{'1st req ms':>10} {'x with 1st':>10}  also imported"
    ]
    for key, r in results.items():
        spread = f"{r['ratio_median']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})"
        goal = "" if r["ratio_median"] <= GOAL_RATIO else f"  (goal {GOAL_RATIO})"
        also = ", ".join(r["modules"]) or "-"
        lines.append(
            f"  {key:<20} {r['cpu_ms_median']:>7.1f} {r['wall_ms_median']:>8.1f}  {spread:<25} "
            f"{r['first_request_cpu_ms_median']:>10.1f} {r['ratio_with_first_request_median']:>10.2f}  {also}{goal}"
        )
    lines.append(
        "  (1st req: CPU of a first request answered without the network: the intake builds its clients and "
        "refuses a lead without contact, the retry worker fails a malformed record, the authorizer a short key)"
    )
    return lines


if __name__ == "__main__":
    sys.exit(main())
