"""What TrustedForm bills, and how long a vendor waits, per kept and per refused lead, in each retain mode
against ``combined`` (issue 22: pay only for what decides). ``make bench`` runs it (bench/run.py); alone:

    .venv/bin/python bench/billing.py [--leads 20] [--latency 0.2] [--json]

Each scenario publishes a rule set, then posts ``--leads`` leads (half on sessions the rules keep, half on
sessions they refuse: a bot) through the local API Gateway (authorizer cached, intake in-process against
moto), the TrustedForm simulator answering every call after a fixed ``--latency``. Per lead: TrustedForm
calls and retains, billed operations as TrustedForm counts them (from the simulator's request log: each
operation answered, each insights property asked), and the vendor-visible latency (the gateway's answer
time, median). The service's own count (the lead's ``tf_operations``) must agree with the simulator's.

For a cost model run per mode: ``measure(mode, SCENARIOS[name], leads, latency)`` (mode: ``RETAIN_MODE``,
``decide_first`` or ``combined``; which one a lead really gets is ``judgement.plan(rules, settings).mode``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).parent), str(ROOT), str(ROOT / "layers" / "common")]

MODES = ("combined", "decide_first")  # combined first: the baseline
TF_KEY = "billing-tf-key-0123456789"
VENDOR_KEY = "billing-vendor-key-0123456789"
# Credentials for moto only; the functions' logs and metrics off (their lines would drown the figures).
QUIET = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
RULES = {"max_age": {"max_seconds": 900}, "bot_detected": {}, "domains": {"allowed": ["bench.example"]}}
KEPT = {"domain": "bench.example", "page_url": "https://bench.example/quote", "bot_detected": False}
REFUSED = {**KEPT, "bot_detected": True}
SHADOW = {name: {**rule, "mode": "shadow"} for name, rule in RULES.items()}
WATCHED = "is_masked,created_at,age_seconds,bot_detected,domain,page_url"


@dataclass(frozen=True)
class Scenario:
    label: str
    rules: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)  # the deployment's settings beside RETAIN_MODE


SCENARIOS = {
    "match_decides": Scenario("3 rules enforced, LEAD_MATCH_POLICY=reject", RULES),
    "insights_only": Scenario("3 rules enforced, LEAD_MATCH_POLICY=accept", RULES, {"LEAD_MATCH_POLICY": "accept"}),
    "shadow_only": Scenario("3 rules in shadow (refused: would refuse)", SHADOW),
    # Watching them in shadow: their properties asked in the call made anyway (README, the intake rules).
    "shadow_watched": Scenario("3 in shadow, their properties asked anyway", SHADOW, {"INSIGHTS_PROPERTIES": WATCHED}),
}


def billed(request: dict[str, Any]) -> int:
    """What TrustedForm bills for one recorded request: each operation answered, insights per property."""
    operations = request.get("operations") or []
    count = sum(1 for op in ("match_lead", "retain", "verify") if op in operations)
    if "insights" in operations:
        count += len(((request.get("body") or {}).get("insights") or {}).get("properties") or [])
    return count


@contextmanager
def stack(mode: str, scenario: Scenario, latency: float) -> Iterator[tuple[Any, Any, Any, dict[str, str]]]:
    """A fresh in-process stack (moto, the template's resources) in one mode, its rule set published, the
    simulator answering after ``latency``: (simulator, provisioned, gateway, request headers)."""
    from tf_retainer import wiring
    from tf_retainer.decisions.rules import RuleSet
    from tf_retainer.store.rule_sets import RuleStore

    from local.apigw import LocalApiGateway
    from local.backend import Backend

    saved = dict(os.environ)
    os.environ.update(QUIET)
    with Backend(TF_KEY, moto="in-process") as backend:
        backend.simulator.latency = latency
        os.environ.update(backend.function_environment({"RETAIN_MODE": mode, **scenario.env}))
        os.environ.update(QUIET)  # over the template's log level
        wiring.reset()  # a new container: this mode's settings
        backend.add_vendor("bench", VENDOR_KEY)
        rules = RuleSet.model_validate(scenario.rules)
        RuleStore(backend.resources.table_name).publish("*", rules, actor="bench", now=datetime.now(UTC))
        headers = {"Content-Type": "application/json", "x-api-key": VENDOR_KEY}
        try:
            yield backend.simulator, backend.resources, LocalApiGateway(authorizer_ttl=300), headers
        finally:
            wiring.reset()
            os.environ.clear()
            os.environ.update(saved)


def measure(mode: str, scenario: Scenario, leads: int, latency: float) -> dict[str, Any]:
    """``leads`` leads in one mode (every other one refused by the rules), TrustedForm at ``latency``."""
    from local.simulator import make_web_cert_id

    with stack(mode, scenario, latency) as (sim, provisioned, gateway, headers):

        def post(session: dict[str, Any]) -> tuple[str, str, float]:
            cert_id = make_web_cert_id()
            sim.script(cert_id, ["success"], created_at=datetime.now(UTC) - timedelta(minutes=2), **session)
            body = {"trustedform_cert_url": f"https://cert.trustedform.com/{cert_id}", "email": "b@bench.example"}
            started = time.perf_counter()
            response = gateway.handle("POST", "/leads", headers, json.dumps(body).encode())
            elapsed = (time.perf_counter() - started) * 1000
            answer = response.json()
            assert answer["status"] in ("retained", "rejected"), answer  # a pending lead would skew every figure
            return cert_id, answer["lead_id"], elapsed

        post(KEPT)  # warm: imports, clients, the secret, the rules cached
        sim.reset()
        groups: dict[str, list[tuple[str, str, float]]] = {"kept": [], "refused": []}
        for n in range(leads):
            refused = n % 2 == 1
            groups["refused" if refused else "kept"].append(post(REFUSED if refused else KEPT))
        requests = sim.requests
        reader = provisioned.lead_store(retention_days=1).reader
        result: dict[str, Any] = {"mode": mode, "scenario": scenario.label, "leads": leads, "latency_ms": latency * 1e3}
        for group, posted in groups.items():
            certs = {cert_id for cert_id, _, _ in posted}
            mine = [request for request in requests if request["cert_id"] in certs]
            ops = sum(billed(request) for request in mine) / len(posted)
            own = [reader.get_lead(lead_id) for _, lead_id, _ in posted]
            counted = statistics.mean(lead.tf_operations for lead in own if lead is not None)
            if counted != ops:
                raise AssertionError(f"{group}: the service counted {counted} operations a lead, TrustedForm {ops}")
            result[group] = {
                "statuses": sorted({lead.status.value for lead in own if lead is not None}),
                "calls": len(mine) / len(posted),
                "retains": sum(1 for request in mine if request["retained"]) / len(posted),
                "match_lead": sum(1 for request in mine if "match_lead" in (request["body"] or {})) / len(posted),
                "operations": ops,
                "median_ms": statistics.median(elapsed for _, _, elapsed in posted),
                # leads a shadow rule would have refused (judged only on what was asked anyway)
                "shadow_would_refuse": sum(1 for lead in own if lead is not None and _would_refuse(lead)) / len(posted),
            }
    return result


def _would_refuse(lead: Any) -> bool:
    return any(v.get("mode") == "shadow" and v.get("passed") is False for v in lead.verdicts or [])


def measure_all(leads: int, latency: float) -> dict[str, list[dict[str, Any]]]:
    return {name: [measure(mode, scenario, leads, latency) for mode in MODES] for name, scenario in SCENARIOS.items()}


COLUMNS = f"{'calls':>7}{'match':>7}{'ops':>6}{'x':>6}{'ms':>8}{'x':>6}"


def report(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    first = next(iter(results.values()))[0]
    lines = [
        f"TrustedForm per lead, the simulator answering after {first['latency_ms']:.0f} ms, {first['leads']} leads "
        "a row (half kept, half refused), against combined (bench/billing.py):",
        f"  {'':<44}{'':<14}{'kept lead':^40}{'refused lead':^40}",
        f"  {'scenario':<44}{'mode':<14}{COLUMNS * 2}  shadow",
    ]
    for runs in results.values():
        base = runs[0]
        for run in runs:
            cells = ""
            for group in ("kept", "refused"):
                mine, theirs = run[group], base[group]
                cells += (
                    f"{mine['calls']:>7.1f}{mine['match_lead']:>7.1f}{mine['operations']:>6.1f}"
                    f"{mine['operations'] / theirs['operations']:>6.2f}{mine['median_ms']:>8.0f}"
                    f"{mine['median_ms'] / theirs['median_ms']:>6.2f}"
                )
            would = run["refused"]["shadow_would_refuse"]
            lines.append(f"  {run['scenario']:<44}{run['mode']:<14}{cells}{would:>8.1f}")
    lines.append(
        "  (calls, match: TrustedForm calls and calls carrying match_lead per lead; ops: billed operations per lead; "
        "ms: median vendor-visible latency; x: against combined; shadow: share of the refused column a shadow rule "
        "would refuse)"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20, help="leads per scenario and mode (half refused)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the simulator takes to answer each call")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import io
    from contextlib import redirect_stdout

    with redirect_stdout(io.StringIO()):  # the functions' EMF lines
        results = measure_all(args.leads, args.latency)
    print(json.dumps(results, indent=2) if args.json else "\n".join(report(results)))


if __name__ == "__main__":
    main()
