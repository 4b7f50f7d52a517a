"""Benchmarks (not tests): every figure issues 13, 19 and 22 set a goal for, each printed beside its goal.

    make bench              # the full run (~20 minutes on 2 cores): records bench/figures.json and
                            # rewrites README.md's generated blocks from it
    make bench PART=cost    # one part (repeatable with --part): records that part's figures in place
    make bench SHORT=1      # every part on small counts (< 2 minutes): what CI runs, so a part that
                            # crashes fails CI; records nothing (its figures are not comparable)

Parts, in order (each a function below; ``--part NAME`` runs only the named ones, repeatable):

1. ``cost``: the realistic lead's cost model in both RETAIN_MODEs (bench/cost.py): write units, $ per
   million kept / refused / retried leads, TrustedForm operations;
2. ``cold_start``: the intake, retry and authorizer functions' import against ``import boto3`` + one
   client (bench/coldstart.py);
3. ``retry_batch``: a retry batch of 10 against one record, DynamoDB replayed, TrustedForm at --latency,
   and the same batch against moto, sequential against concurrent (bench/inprocess.py);
4. ``billing``: what TrustedForm bills and how long the vendor waits, per kept and per refused lead, in
   each RETAIN_MODE against ``combined``, for the rules enforced (the match deciding or not), in shadow, and
   in shadow with their properties asked anyway; TrustedForm at --latency (bench/billing.py);
5. ``consent``: the call gate's DynamoDB calls, read units and time per check, and a revocation's per lead it
   closes, for consumers with more and more leads (bench/consent.py);
6. ``intake``: AWS calls and handler time per lead through the intake (bench/inprocess.py);
7. ``local_stack``: ``python -m local.stack`` over HTTP (bench/local_load.py): leads/s at 100 stored
   leads, p50/p99 under 32 clients, then really posted leads up to --stored: memory per lead and leads/s
   there; 5xx answers and dropped connections counted (there must be none);
8. ``moto_tables``: a transaction and a lead read on a 100-item and a 20,000-item table (bench/moto_tables.py);
9. ``stack_start``: the local stack's start to ready, and SIGTERM to exit with a retry hung on TrustedForm
   (bench/stack_start.py).

Every figure records the 1-minute load average when its part started and ended: on a machine that was
busy with something else, timings are not comparable. Exits 1 when a part raised (after printing the
others' figures), so CI's short run fails on a part that crashes; a goal not met is a figure, not a failure
(5xx answers and dropped connections under load included: a figure with goal 0; a local stack that exits,
or answers fewer than half the posts, or its last window's, with a 2xx, does not work: that part raises,
and keeps the stack's logs).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
import figures  # noqa: E402 - after the path is set
import inprocess  # noqa: E402 - sets the in-process AWS environment
from figures import Figure  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """How much each part does: the full run's counts, or the short run's."""

    cost_leads: int = 30  # per path, per mode
    # Rounds of fresh processes: on a shared 2-core machine 5 gave medians 0.3x apart run to run; 15 hold.
    cold_runs: int = 15
    batch_rounds: int = 5
    latency: float = 0.2  # TrustedForm's simulated answer time for the retry batch and billing, s
    billing_leads: int = 20  # per scenario and mode, half refused
    consent_checks: int = 20  # gate checks per consumer size, open and revoked
    consent_sizes: str = "1,5,20"  # leads per consumer (the revocation's cost per lead: largest against smallest)
    intake_leads: int = 50
    window: int = 100  # posts whose rate is measured, at the start and at --stored
    stored: int = 10_000  # leads really posted before the last window
    concurrent_posts: int = 320  # from 32 clients
    moto_small: int = 100
    moto_large: int = 20_000
    moto_rounds: int = 35
    stack_runs: int = 3


SHORT = Sizes(
    cost_leads=3,
    cold_runs=1,
    batch_rounds=1,
    latency=0.05,
    billing_leads=2,
    consent_checks=2,
    consent_sizes="1,3",
    intake_leads=5,
    window=20,
    stored=250,
    concurrent_posts=64,
    moto_large=2_000,
    moto_rounds=3,
    stack_runs=1,
)


class Part:
    """One part's figures, each with the load average of the part's start and end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.figures: list[Figure] = []
        self.load_start = os.getloadavg()[0]
        self.started = time.monotonic()

    def add(self, key: str, label: str, value: float, unit: str, goal: float | None = None, **more: Any) -> None:
        self.figures.append(Figure(key, label, float(value), unit, self.name, (0.0, 0.0), goal, **more))

    def close(self) -> list[Figure]:
        load = (round(self.load_start, 2), round(os.getloadavg()[0], 2))
        return [replace(figure, load=load) for figure in self.figures]


def _quiet(work: Callable[[], Any]) -> Any:
    """The functions' EMF and log lines are not the bench's output."""
    with redirect_stdout(io.StringIO()):
        return work()


# ------------------------------------------------------------------------------------------------ parts


def part_cost(part: Part, sizes: Sizes, record: dict[str, Any]) -> None:
    import cost
    import cost_model

    prices = cost.load_prices()
    inputs = cost_model.Inputs(trustedform_usd_per_operation=prices["trustedform"]["usd_per_operation"])
    billed = {}
    for mode in cost.MODES:
        measured = _quiet(lambda mode=mode: cost.measure(sizes.cost_leads, mode))
        billed[mode] = cost.bill(measured, prices, inputs)
        print("\n".join(cost.report(mode, billed[mode], prices, inputs)))
    # The same leads with every rule in shadow: what watching the rules costs (calls: the billing part).
    shadow = _quiet(lambda: cost.measure(sizes.cost_leads, cost.DEFAULT_MODE, rules="shadow"))
    shadowed = cost.bill(shadow, prices, inputs)
    print("\n".join(cost.report(cost.DEFAULT_MODE, shadowed, prices, inputs, rules="shadow")))
    record["cost"] = {
        "mode": cost.DEFAULT_MODE,
        "leads": sizes.cost_leads,
        "inputs": asdict(inputs),
        "prices_as_of": prices["as_of"],
        "lead": _quiet(lambda: cost._lead_shape()),
        "modes": billed,
        "shadow": {"mode": cost.DEFAULT_MODE, "paths": shadowed},
    }
    default = billed[cost.DEFAULT_MODE]

    def units(path: str) -> float:
        line = next(line for line in default[path]["lines"] if line["key"] == "dynamodb:writes")
        return float(line["detail"].split()[0])

    mode = f"`{cost.DEFAULT_MODE}`"
    part.add(
        "cost.write_units.kept",
        f"write units, realistic lead kept at once ({mode})",
        units("kept"),
        "WRU",
        10,
        goal_from="issue 22",
        digits=1,
    )
    part.add(
        "cost.write_units.retried",
        f"write units, realistic lead kept by one retry ({mode})",
        units("retried"),
        "WRU",
        16,
        goal_from="issue 22",
        digits=1,
    )
    part.add(
        "cost.kept",
        f"$ per million realistic leads kept at once, events on ({mode})",
        default["kept"]["aws_per_million"],
        "$",
        12,
        goal_from="issue 22",
    )
    part.add(
        "cost.refused",
        f"$ per million realistic leads refused by a rule ({mode})",
        default["refused"]["aws_per_million"],
        "$",
    )
    part.add(
        "cost.retried",
        f"$ per million realistic leads kept by one retry, called back ({mode})",
        default["retried"]["aws_per_million"],
        "$",
    )
    part.add(
        "cost.kept.combined",
        "$ per million realistic leads kept at once, events on (`combined`)",
        billed["combined"]["kept"]["aws_per_million"],
        "$",
    )


def part_cold_start(part: Part, sizes: Sizes, record: dict[str, Any]) -> None:
    import coldstart

    cold = coldstart.measure(ROOT, ["intake", "retry", "authorizer"], sizes.cold_runs)
    base = cold.pop("boto3+client")
    print(
        f"cold start (CPU of the import, x import boto3 + one client = {base['cpu_ms_median']:.0f} ms; "
        "bench/coldstart.py):"
    )
    print("\n".join(coldstart.report(cold)))
    # Issue 22 accepts the intake at ~1.5x (SnapStart when AWS numbers show cold starts in the p99).
    for function, goal, source in (
        ("intake", 1.5, "issue 22"),
        ("retry", 1.3, "issue 13"),
        ("authorizer", 1.3, "issue 13"),
    ):
        figure = cold[f"{function}/deployed"]
        part.add(
            f"cold_start.{function}",
            f"{function}'s import, x `import boto3` + one client (CPU, median)",
            figure["ratio_median"],
            "x",
            goal,
            goal_from=source,
        )
    intake = cold["intake/deployed"]
    part.add(
        "cold_start.intake_first_request",
        "intake's import + its first request, x the same",
        intake["ratio_with_first_request_median"],
        "x",
    )


def part_retry_batch(part: Part, sizes: Sizes, record: dict[str, Any]) -> None:
    batch = _quiet(lambda: inprocess.bench_retry_batch_stubbed(sizes.latency, sizes.batch_rounds))
    print(
        f"retry batch, DynamoDB replayed, TrustedForm at {batch['trustedform_latency_ms']:.0f} ms, "
        f"{batch['rounds']} rounds: "
        f"one record {batch['one_record_ms']:.0f} ms, a batch of 10 {batch['batch_of_10_ms']:.0f} ms (medians): "
        f"{batch['ratio']:.2f}x, worst round {batch['worst_round_ratio']:.2f}x"
    )
    part.add(
        "retry_batch.worst",
        f"retry batch of 10, x one record, worst of {batch['rounds']} rounds",
        batch["worst_round_ratio"],
        "x",
        1.3,
        goal_from="issue 22",
    )
    part.add(
        "retry_batch.median",
        f"retry batch of 10, x one record, median of {batch['rounds']} rounds",
        batch["ratio"],
        "x",
    )
    moto = _quiet(lambda: inprocess.bench_retry_batch(sizes.latency, max(1, sizes.batch_rounds // 2)))
    print(
        f"retry batch of 10 against moto, TrustedForm at {moto['trustedform_latency_ms']:.0f} ms: sequential "
        f"{moto['sequential']['median_ms']:.0f} ms, concurrent {moto['concurrent']['median_ms']:.0f} ms"
    )
    part.add(
        "retry_batch.moto",
        "retry batch of 10 against moto, concurrent x sequential",
        moto["concurrent"]["median_ms"] / moto["sequential"]["median_ms"],
        "x",
    )


def part_billing(part: Part, sizes: Sizes, record: dict[str, Any]) -> None:
    import billing
    import cost

    if set(billing.MODES) != set(cost.MODES):  # every RETAIN_MODE the settings accept, combined the baseline
        raise RuntimeError(f"bench/billing.py measures {billing.MODES}, the settings accept {cost.MODES}")
    paid = _quiet(lambda: billing.measure_all(sizes.billing_leads, sizes.latency))
    print("\n".join(billing.report(paid)))
    record["billing"] = {"leads": sizes.billing_leads, "latency_ms": sizes.latency * 1000, "scenarios": paid}

    def row(scenario: str, mode: str) -> dict[str, Any]:
        return next(measured for measured in paid[scenario] if measured["mode"] == mode)

    # Issue 22: a shadow rule never costs a call; a kept lead costs no more operations than in combined when
    # the match does not decide (the first call asks insights alone).
    part.add(
        "billing.shadow.calls",
        "TrustedForm calls per lead, every rule in shadow (worst mode)",
        max(measured["kept"]["calls"] for measured in paid["shadow_only"]),
        "calls",
        1,
        goal_from="issue 22",
    )
    kept_ops = {mode: row("insights_only", mode)["kept"]["operations"] for mode in billing.MODES}
    part.add(
        "billing.insights_only.operations",
        "billed operations, kept lead, `decide_first` x `combined`, match not deciding",
        kept_ops["decide_first"] / kept_ops["combined"],
        "x",
        1,
        goal_from="issue 22",
    )
    latency = f"TrustedForm at {sizes.latency * 1000:.0f} ms"
    for mode in billing.MODES:  # the rules enforced, LEAD_MATCH_POLICY=reject: the defaults
        for path in ("kept", "refused"):
            part.add(
                f"billing.{mode}.{path}.ms",
                f"vendor's wait for a {path} lead, `{mode}`, {latency} (median)",
                row("match_decides", mode)[path]["median_ms"],
                "ms",
                digits=0,
            )
    waits = {mode: row("match_decides", mode)["kept"]["median_ms"] for mode in billing.MODES}
    part.add(
        "billing.decide_first.kept.x_combined",
        "vendor's wait for a kept lead, `decide_first` x `combined`",
        waits["decide_first"] / waits["combined"],
        "x",
    )


def part_consent(part: Part, sizes: Sizes, record: dict[str, Any]) -> None:
    import consent

    consumers = tuple(int(size) for size in sizes.consent_sizes.split(","))
    rows = _quiet(lambda: consent.measure_all(consumers, sizes.consent_checks))
    print("\n".join(consent.report(rows)))
    marginal = consent.per_added_lead(rows)
    smallest = rows[0]
    fixed = {
        name: smallest["revocation"][name] - marginal[name] * smallest["leads"]
        for name in ("dynamodb_calls", "write_units")
    }
    record["consent"] = {"checks": sizes.consent_checks, "sizes": rows, "per_added_lead": marginal, "fixed": fixed}
    # Issue 23's goals (bench/consent.py's GOALS say why): the gate at its worst consumer, and what each lead more
    # costs a revocation.
    worst = {
        name: max(row["gate_open"][name] for row in rows) for name in ("dynamodb_calls", "read_units", "median_ms")
    }
    for key, label, value, unit, digits in (
        ("gate_calls", "call gate's DynamoDB calls per check", worst["dynamodb_calls"], "calls", 1),
        ("gate_read_units", "call gate's read units per check", worst["read_units"], "RRU", 1),
        ("gate_ms", "call gate's handler time per check (median, against moto)", worst["median_ms"], "ms", 1),
        (
            "revoke_calls_per_lead",
            "revocation's DynamoDB calls per lead it closes",
            marginal["dynamodb_calls"],
            "calls",
            2,
        ),
        (
            "revoke_write_units_per_lead",
            "revocation's write units per lead it closes",
            marginal["write_units"],
            "WRU",
            2,
        ),
        ("revoke_ms_per_lead", "revocation's handler time per lead it closes (against moto)", marginal["ms"], "ms", 1),
    ):
        part.add(f"consent.{key}", label, value, unit, consent.GOALS[key][0], goal_from="issue 23", digits=digits)


def part_intake(part: Part, sizes: Sizes, record: dict[str, Any]) -> None:
    intake = _quiet(lambda: inprocess.bench_intake(sizes.intake_leads))
    print(json.dumps({"intake": intake}, indent=2))
    part.add(
        "intake.ms",
        "intake's handler time, warm, TrustedForm taken out (median, against moto)",
        intake["median_ms_excluding_trustedform"],
        "ms",
        digits=0,
    )


GROWTH_WINDOWS = 3  # windows of posts each local-stack rate is the median of


def _rates(rates: list[float]) -> str:
    return "/".join(f"{rate:.1f}" for rate in rates)


def part_local_stack(part: Part, sizes: Sizes, record: dict[str, Any]) -> None:
    import local_load

    deadline = time.monotonic() + 3600
    runs = []  # every run of posts: their answers, for the errors
    workdir = Path(tempfile.mkdtemp(prefix="tf-bench-stack-"))  # kept when the stack fails: its logs
    stack = local_load.start_stack(workdir, inprocess.LAUNCH_ENV)
    try:

        def post(clients: int, count: int) -> Any:
            first = sum(r.requests for r in runs)
            runs.append(local_load.post_leads(stack.api_url, clients, count, deadline, first=first))
            return runs[-1]

        post(8, sizes.window)  # the first leads: an empty table, the workers warming up
        # Each rate is the median of GROWTH_WINDOWS windows: one window can meet a sweep or a GC pause (a
        # figure of 2.76x once, 0.81x on the same code); a slowdown that lasts shows in all of them.
        small = [post(8, sizes.window) for _ in range(GROWTH_WINDOWS)]
        crowd = post(32, sizes.concurrent_posts)
        memory_before, posted_before = stack.rss_mib()[1], sum(r.requests for r in runs)
        while (posted := sum(r.requests for r in runs)) < sizes.stored:
            fill = post(8, min(1000, sizes.stored - posted))
            print(f"  {posted + fill.requests:,} leads posted ({fill.requests / fill.seconds:.1f}/s)", file=sys.stderr)
        memory_after = stack.rss_mib()[1]
        large = [post(8, sizes.window) for _ in range(GROWTH_WINDOWS)]
        exited = stack.process.poll()
    finally:
        stack.stop()
    errors = sum(run.errors for run in runs)

    def two_xx(of: list[Any]) -> tuple[int, int]:
        """(posts answered with a 2xx, posts) of these runs of posts."""
        return sum(n for run in of for status, n in run.statuses.items() if status.startswith("2")), sum(
            run.requests for run in of
        )

    # Not load: a stack that exited, or that answers fewer than half the posts with a 2xx (all of them, or
    # the last window's, whose rate is a figure: failures answered at once are no leads/s), does not work,
    # and its rates and memory are not figures. A few 5xx under load are a figure (goal: none).
    broken = f"exited ({exited}) before its last posts were answered" if exited is not None else ""
    for which, (ok, posts) in (("the last windows", two_xx(large)), ("all", two_xx(runs))):
        if not broken and ok < posts / 2:
            broken = f"answered {ok} of {posts} posts ({which}) with a 2xx"
    if broken:
        tail = (workdir / "stderr.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the local stack {broken}; its logs are in {workdir}:\n{tail}")
    shutil.rmtree(workdir, ignore_errors=True)
    kinds = sum(
        (Counter({s: n for s, n in run.statuses.items() if not s.startswith(("2", "4"))}) for run in runs), Counter()
    )
    rates_small, rates_large = ([run.requests / run.seconds for run in windows] for windows in (small, large))
    rate_small, rate_large = statistics.median(rates_small), statistics.median(rates_large)
    small_stored = f"{sizes.window:,}-{sizes.window * (1 + GROWTH_WINDOWS):,}"
    crowd_summary = crowd.summary()
    per_lead_kib = (memory_after - memory_before) * 1024 / max(1, posted - posted_before)
    print(
        f"local stack, 8 clients: {rate_small:.1f} leads/s at {small_stored} stored leads, {rate_large:.1f} at "
        f"{posted:,} (medians of {_rates(rates_small)} and {_rates(rates_large)}); "
        f"32 clients: p50 {crowd_summary['p50_ms']:.0f} ms, p99 {crowd_summary['p99_ms']:.0f} ms; "
        f"memory {memory_before:.0f} -> {memory_after:.0f} MiB over {posted - posted_before:,} leads; errors {errors} "
        f"{dict(kinds) or ''}"
    )
    part.add(
        "local.rate_small", f"local stack leads/s, 8 clients, {small_stored} stored", rate_small, "leads/s", digits=1
    )
    part.add("local.rate_large", f"local stack leads/s, 8 clients, {posted:,} posted", rate_large, "leads/s", digits=1)
    part.add(
        "local.growth",
        f"local stack leads/s at {small_stored} x at {posted:,} stored (really posted, medians)",
        rate_small / rate_large,
        "x",
        1.5,
        goal_from="issues 13, 22",
    )
    part.add(
        "local.p99_x_p50",
        f"local stack under 32 clients, p99 x p50 ({crowd.requests} posts)",
        crowd_summary["p99_ms"] / crowd_summary["p50_ms"],
        "x",
        3,
        goal_from="issue 22",
    )
    part.add(
        "local.memory_per_lead",
        f"local stack memory per lead, over {posted - posted_before:,} posted leads",
        per_lead_kib,
        "KiB",
        10,
        goal_from="issue 22 (over 10,000)",
        digits=1,
    )
    part.add(
        "local.errors", "local stack 5xx answers and dropped connections", errors, "errors", 0, goal_from="", digits=0
    )


def part_moto_tables(part: Part, sizes: Sizes, record: dict[str, Any]) -> None:
    import moto_tables

    tables = moto_tables.measure(sizes.moto_small, sizes.moto_large, sizes.moto_rounds)
    print("moto (local/motolock.py), least disturbed run of each:")
    print("\n".join(moto_tables.report(tables)))
    sizes_text = f"{sizes.moto_large:,} x {sizes.moto_small:,} items"
    part.add(
        "moto.transaction",
        f"moto transaction, {sizes_text}",
        tables["transaction"]["ratio"],
        "x",
        1.5,
        goal_from="issue 19",
    )
    part.add(
        "moto.lead_read", f"moto lead read, {sizes_text}", tables["lead_read"]["ratio"], "x", 1.5, goal_from="issue 19"
    )


def part_stack_start(part: Part, sizes: Sizes, record: dict[str, Any]) -> None:
    import stack_start

    with tempfile.TemporaryDirectory(prefix="tf-stack-start-") as state_dir:
        starts = [stack_start.one_run(ROOT, Path(state_dir), inprocess.LAUNCH_ENV) for _ in range(sizes.stack_runs)]
    stack = {key: statistics.median(run[key] for run in starts) for key in starts[0]}
    print(
        f"local stack, median of {sizes.stack_runs}: ready {stack['ready_s']:.2f} s, first answer "
        f"{stack['first_answer_s']:.2f} s, stopped {stack['stop_s']:.2f} s after SIGTERM"
    )
    runs = f"median of {sizes.stack_runs}"
    part.add("stack.ready", f"`make run` start to ready, s ({runs})", stack["ready_s"], "s", 30, goal_from="issue 19")
    part.add("stack.first_answer", f"`make run` start to its first answer, s ({runs})", stack["first_answer_s"], "s")
    part.add(
        "stack.stop",
        f"`make run` SIGTERM to exit, a retry hung, s ({runs})",
        stack["stop_s"],
        "s",
        5,
        goal_from="issue 19",
    )


PARTS: dict[str, Callable[[Part, Sizes, dict[str, Any]], None]] = {
    "cost": part_cost,
    "cold_start": part_cold_start,
    "retry_batch": part_retry_batch,
    "billing": part_billing,
    "consent": part_consent,
    "intake": part_intake,
    "local_stack": part_local_stack,
    "moto_tables": part_moto_tables,
    "stack_start": part_stack_start,
}


# ------------------------------------------------------------------------------------------------- run


def _commit() -> tuple[str, bool]:
    def git(*args: str) -> str:
        command = ["git", *args]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603

    return git("rev-parse", "--short=12", "HEAD") or "unknown", bool(
        git("status", "--porcelain", "--untracked-files=no")
    )


def table(recorded: list[Figure]) -> list[str]:
    """Every figure beside its goal, as the run ends."""
    out = []
    for f in recorded:
        goal = f"goal <= {figures.number(f.goal, f.digits)}" if f.goal is not None else ""
        verdict = "" if f.goal is None else ("met" if f.value <= f.goal else "NOT met")
        out.append(
            f"  {f.label:<78} {figures.number(f.value, f.digits):>9} {f.unit:<10} {goal:<16} {verdict:<8} "
            f"load {figures.load_text(f.load)}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="every part on small counts; records nothing")
    parser.add_argument("--part", action="append", choices=list(PARTS), help="only these parts (repeatable)")
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        help="the figures file (default: bench/figures.json; a short run records nothing)",
    )
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite README.md's blocks")
    for field in fields(Sizes):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=None)
    args = parser.parse_args(argv)
    sizes = replace(
        SHORT if args.short else Sizes(),
        **{f.name: getattr(args, f.name) for f in fields(Sizes) if getattr(args, f.name) is not None},
    )
    chosen = args.part or list(PARTS)
    began = time.monotonic()
    inprocess.count_moto_calls()
    # Each part starts from this environment: an in-process part sets its stack's variables (a table, a
    # secret) in os.environ, and a part that starts a stack as a process must not hand them on to it.
    environment = dict(os.environ)
    recorded: list[Figure] = []
    record: dict[str, Any] = {}
    crashed: list[str] = []
    seconds_of: dict[str, float] = {}
    for name in chosen:
        os.environ.clear()
        os.environ.update(environment)
        part = Part(name)
        print(f"==> {name} ...", file=sys.stderr, flush=True)
        try:
            PARTS[name](part, sizes, record)
        except Exception:
            traceback.print_exc()
            crashed.append(name)
        if name not in crashed:
            recorded += part.close()
        seconds_of[name] = time.monotonic() - part.started
        print(f"    ({seconds_of[name]:.0f} s)", file=sys.stderr, flush=True)
    seconds = time.monotonic() - began
    print(
        f"\nevery figure against its goal ({'short run, ' if args.short else ''}{seconds:.0f} s, "
        f"{os.cpu_count()} cores):"
    )
    print("\n".join(table(recorded)))
    commit, dirty = _commit()
    finished = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    runs = {
        name: {
            "recorded_at": finished,
            "commit": commit,
            "dirty": dirty,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "seconds": round(seconds_of[name]),
            "sizes": asdict(sizes),
        }
        for name in chosen
        if name not in crashed
    }
    recording = figures.Recording(runs, recorded, record)
    # A run replaces the figures of the parts it ran (a part that raised keeps its last ones); a short
    # run records nothing.
    target = args.record or (None if args.short else figures.FIGURES)
    if target is not None and target.exists():
        recording = figures.load(target).merged(recording, list(PARTS))
    # The README's blocks render from this run too (in memory unless recorded): a renderer that cannot show a
    # figure fails the short run, not the next full one.
    rendered = figures.rewrite(figures.README.read_text(), recording)
    if target is not None and recording.figures:
        target.write_text(recording.as_json())
        print(f"recorded {len(recorded)} figures of {', '.join(runs)} in {target}")
        if target == figures.FIGURES and not args.no_readme:
            figures.README.write_text(rendered)
            print("README.md: its generated blocks rewritten from bench/figures.json")
    if crashed:
        print(f"FAILED: {', '.join(crashed)} raised", file=sys.stderr)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
