"""Fault soak: N leads through the local stack while TrustedForm misbehaves; nothing accepted may be lost.

    make soak                                  # LEADS=1000 by default
    .venv/bin/python bench/soak.py --leads 2000 --minutes 15
    .venv/bin/python bench/soak.py --leads 2000 --aws-faults    # AWS's faults too (local/faults.py)

What it does, on 127.0.0.1 only:

1. starts ``python -m local.stack`` (``make run``) as a subprocess on free ports, with short retry
   timings and short sweeper graces (RECEIVED_GRACE_SECONDS / PENDING_GRACE_SECONDS);
2. scripts every certificate in the stack's TrustedForm simulator (its control API) so that, call by
   call, about 30 % answer 5xx (500/502/503), 10 % hang, 5 % 429 with Retry-After, 3 % 404 and the rest
   retain (a certificate's script is drawn until a final answer, at most ``--max-faults`` faults);
3. posts the leads over HTTP from ``--clients`` concurrent clients;
4. runs the scheduled SweeperFunction every ``--sweep-every`` seconds (the local stack has no scheduler)
   in a process of its own, against the stack's moto server;
5. waits (bounded by ``--minutes``) until every lead is final and the retry queue is empty;
6. checks, from the simulator's request log, the lead store and the events' subscriber queue
   (bench/soak_audit.py): leads lost (accepted but not final, or missing); double retains (a certificate
   answered with retain results again, other than after a call whose answer died with a killed
   process); calls without a stored request (every call TrustedForm received has its request on record,
   written before it was sent, and every stored exchange names one); evidence gaps (a lead's stored
   exchanges against its calls, one to one but for answers lost with their caller); exactly one
   outcome event per final lead (after de-duplication on its id); and 5xx answers to the vendor.

``--jornaya``: every lead also carries a Jornaya LeadiD token, the buyer requires both consent records, and
Jornaya's simulator faults as TrustedForm's does (bench/soak_jornaya.py says what is checked of it).

``--token-only SHARE`` (implies ``--jornaya``): the buyer's ``consent_records`` rule is ``either`` and that
share of the leads (0.25: one in four) is posted without a TrustedForm certificate, kept on its token alone;
none of them may reach TrustedForm, each ends as its token's script says (bench/soak_token_only.py says what
is checked of them; their Jornaya audits are tallied apart from the others').

``--screens``: the screens of the phone number on (Blacklist Alliance, DNC.com, Twilio Lookup), the buyer's
rules enforcing them, every number scripted in each provider's simulator with faults drawn call by call and
a few numbers listed, leads sharing numbers (bench/soak_screens.py says what is checked of it).

``--aws-faults[=SPEC]`` runs the stack in its fault mode (default ``local.fault_plan.DEFAULT_SPEC``):
transaction conflicts, throttling, duplicate deliveries, a lagging index, killed functions; the figures
then say what was injected, and the load average while it ran. Its functions killed are all but the API's
unless the spec says ``kill-functions:all`` (or names them): then the IntakeFunction dies mid-lead too, its
vendor gets a 502 and sends the lead again (``--resends``, as any 5xx; without API kills a post sent again
fails the run), and the lead must still be kept once.

Prints the figures (``--json PATH`` writes them too) and exits 1 if any check failed (2 if the stack
did not start).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "common"
sys.path[:0] = [str(ROOT), str(LAYER)]

from tf_retainer.leads.retry import lease_seconds  # noqa: E402
from tf_retainer.runtime.settings import default_attempt_lease  # noqa: E402

from bench import soak_jornaya, soak_revocations, soak_screens, soak_token_only  # noqa: E402 - the repository's, on the path
from bench.soak_audit import CallAudit, EventTally, audit_calls  # noqa: E402
from local.backend import FAKE_CREDENTIALS, queue_depth, set_fake_credentials  # noqa: E402
from local.fault_plan import DEFAULT_SPEC  # noqa: E402
from local.provision import function_settings  # noqa: E402
from local.stack import StackProcess  # noqa: E402

TF_API_KEY = "soak-trustedform-key-0123456789"
VENDOR_NAME = "soak-vendor"
VENDOR_KEY = "soak-vendor-key-0123456789abcdef"
# Call-by-call answer mix (the rest: a retain). 5xx are spread over 500/502/503.
FAULT_MIX = (
    (0.30, ("server_error", "bad_gateway", "unavailable")),
    (0.10, ("hang",)),
    (0.05, ("throttled:1",)),
    (0.03, ("not_found",)),
)
RETAINING = ("success", "masked", "match_failure")
FINAL_STATUSES = frozenset({"retained", "rejected", "expired"})
SCHEDULED_EVENT = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}
# Once every lead is final, how long the last outcome events may take to reach the subscriber queue.
EVENTS_WAIT_SECONDS = 180.0


# ------------------------------------------------------------------------------------------ fault mix


def draw_script(rng: random.Random, max_faults: int) -> list[str]:
    """One certificate's answers, call by call, until a final one (a retain or a 404)."""
    script: list[str] = []
    while len(script) < max_faults:
        roll, threshold = rng.random(), 0.0
        for share, names in FAULT_MIX:
            threshold += share
            if roll < threshold:
                script.append(rng.choice(names))
                break
        else:
            script.append("success")
        if script[-1] in ("success", "not_found"):
            return script
    return [*script, "success"]


def email_of(index: int) -> str:
    """The email lead ``index`` is posted with (one of its own: a TrustedForm request carrying it names it)."""
    return f"lead{index}@example.com"


def call_kind(behaviour: str | None, status: int | None) -> str:
    if behaviour is None:
        return f"refused {status}"
    if behaviour in RETAINING or behaviour.startswith("slow"):
        return "retain 200"
    if behaviour.startswith("throttled"):
        return "429"
    if behaviour == "hang":
        return "hang"
    if behaviour == "not_found":
        return "404"
    return "5xx" if status and status >= 500 else f"{behaviour} {status}"


# ------------------------------------------------------------------------------------------ the stack


def start_stack(args: argparse.Namespace, log_dir: Path) -> StackProcess:
    """``python -m local.stack`` with short retry timings and sweeper graces (AWS's faults, the screens'
    and Jornaya's simulators as asked), its own session (our Ctrl-C does not reach it: we stop it
    ourselves), ready."""
    settings = {
        "TRUSTEDFORM_API_KEY": TF_API_KEY,
        "LOCAL_VENDOR_NAME": VENDOR_NAME,
        "LOCAL_VENDOR_KEY": VENDOR_KEY,
        "LOCAL_WORKERS": str(args.workers),
        "RETRY_BASE_SECONDS": "1",
        "RETRY_CAP_SECONDS": str(args.retry_cap),
        "ACCOUNT_ERROR_DELAY_SECONDS": "2",
        "SYNC_TIMEOUT_SECONDS": str(args.sync_timeout),
        "RETRY_TIMEOUT_SECONDS": str(args.retry_timeout),
        "RECEIVED_GRACE_SECONDS": str(args.received_grace),
        "PENDING_GRACE_SECONDS": str(args.pending_grace),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    if args.aws_faults:
        settings["AWS_FAULTS"] = args.aws_faults
    screens = [*([soak_screens.SPEC] if args.screens else []), *(["leadid=jornaya"] if args.jornaya else [])]
    if screens:
        settings["LOCAL_SCREENS"] = ",".join(screens)
    return StackProcess(log_dir, settings, own_session=True).launch()


def function_env(state: dict[str, Any], args: argparse.Namespace) -> dict[str, str]:
    """The functions' environment for this stack (the sweeper's), rebuilt from its state file."""
    from local.stack import provisioned_from_state

    return {
        **provisioned_from_state(state).environment(),
        **FAKE_CREDENTIALS,
        "TRUSTEDFORM_API_URL": state["simulator_url"],
        "RECEIVED_GRACE_SECONDS": str(args.received_grace),
        "PENDING_GRACE_SECONDS": str(args.pending_grace),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        # A function's requests, as the fault layer tells them (not a worker of the stack: never killed).
        "AWS_SDK_UA_APP_ID": "tfw-soak-sweeper",
    }


def sweeper_main(env: dict[str, str], interval: float, stop: Any, results: Any, log_path: str) -> None:
    """The scheduled SweeperFunction, every ``interval`` seconds until ``stop`` (a process of its own)."""
    log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - the process's stdout/stderr
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    os.environ.update(env)
    sys.path[:0] = [str(ROOT), str(LAYER)]
    import warnings

    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from local.functions import invoke

    while not stop.wait(interval):
        try:
            report = invoke("SweeperFunction", SCHEDULED_EVENT)
            results.put(("ok", report["overdue"], len(report["recovered"]), report["skipped"]))
        except Exception as exc:
            results.put(("error", f"{type(exc).__name__}: {exc}", 0, 0))


# ------------------------------------------------------------------------------------------ the soak


@dataclass
class Figures:
    leads: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    accepted: int = 0  # 201 or 202
    final_by_status: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    lost_leads: list[str] = field(default_factory=list)
    double_retains: int = 0
    double_retain_certs: list[str] = field(default_factory=list)
    double_retain_details: list[dict[str, Any]] = field(default_factory=list)  # in --json
    evidence_gaps: int = 0
    evidence_gap_leads: list[str] = field(default_factory=list)
    trustedform_calls: int = 0
    calls_by_kind: dict[str, int] = field(default_factory=dict)
    retains_billed: int = 0
    sweeps: int = 0
    sweeper_requeued: int = 0
    sweeper_errors: int = 0
    dead_letters: int = 0
    left_on_queue: int = 0
    post_errors: int = 0
    stack_ready_seconds: float = 0.0
    post_seconds: float = 0.0
    drain_seconds: float = 0.0
    duration_seconds: float = 0.0
    intake_leads_per_second: float = 0.0
    final_leads_per_second: float = 0.0
    stack_rss_mib_start: float = 0.0
    stack_rss_mib_peak: float = 0.0
    tree_rss_mib_peak: float = 0.0
    stack_rss_mib_end: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    timed_out: bool = False
    five_xx: int = 0  # the vendor's last answer for a lead, after its resends
    resent: int = 0  # posts sent again after a 5xx or no answer
    api_kills: bool = False  # the fault plan kills the API's functions: a 5xx the vendor must resend expected
    calls_without_request: int = 0
    calls_without_request_leads: list[str] = field(default_factory=list)
    exchanges_without_request: int = 0
    exchanges_without_request_leads: list[str] = field(default_factory=list)
    repeat_retains_after_lost_answers: int = 0  # at-least-once: a lost answer's call made again
    lost_answers: int = 0  # calls on record whose answers were never written (a killed caller, ...)
    final_leads: int = 0
    final_leads_with_one_event: int = 0
    events_missing: int = 0
    events_missing_leads: list[str] = field(default_factory=list)
    events_extra: int = 0
    events_extra_leads: list[str] = field(default_factory=list)
    event_deliveries: int = 0
    event_duplicate_deliveries: int = 0
    aws_faults: str = "off"
    faults_injected: dict[str, Any] = field(default_factory=dict)
    jornaya: soak_jornaya.JornayaAudit | None = None  # the leads with a certificate, with --token-only
    token_only: soak_token_only.TokenOnlyAudit | None = None
    screens: soak_screens.ScreensAudit | None = None
    revocations: soak_revocations.RevocationAudit | None = None
    load_average: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.double_retains
            or self.evidence_gaps
            or self.five_xx
            or (self.resent and not self.api_kills)
            or self.calls_without_request
            or self.exchanges_without_request
            or self.events_missing
            or self.events_extra
            or self.timed_out
            or (self.jornaya is not None and not self.jornaya.ok)
            or (self.token_only is not None and not self.token_only.ok)
            or (self.screens is not None and not self.screens.ok)
            or (self.revocations is not None and not self.revocations.ok)
        )

    def report(self) -> str:
        def share(count: int) -> str:
            return f"{100 * count / self.trustedform_calls:.1f} %" if self.trustedform_calls else "-"

        mix = ", ".join(f"{kind} {count} ({share(count)})" for kind, count in sorted(self.calls_by_kind.items()))
        lines = [
            f"soak: {self.leads} leads, settings {self.settings}",
            f"  answers          {self.answers}  (post errors {self.post_errors})",
            f"  accepted         {self.accepted} (201/202)",
            f"  final by status  {self.final_by_status}",
            f"  lost             {self.lost}  {self.lost_leads[:10]}",
            f"  double retains   {self.double_retains}  {self.double_retain_certs[:10]}; repeats after a lost "
            f"answer {self.repeat_retains_after_lost_answers} (answered previously_retained, not billed)",
            f"  evidence gaps    {self.evidence_gaps}  {self.evidence_gap_leads[:10]}; lost answers "
            f"{self.lost_answers} (the request on record, the answer never written: its caller killed, or the "
            "table unavailable past its retries)",
            f"  calls w/o stored request  {self.calls_without_request}  {self.calls_without_request_leads[:5]}; "
            f"exchanges naming no request {self.exchanges_without_request}",
            f"  outcome events   {self.final_leads_with_one_event} of {self.final_leads} final leads have exactly one; "
            f"missing {self.events_missing} {self.events_missing_leads[:5]}, extra {self.events_extra} "
            f"{self.events_extra_leads[:5]}; {self.event_deliveries} delivered, "
            f"{self.event_duplicate_deliveries} of them repeats of an event id",
            f"  5xx answers      {self.five_xx} after the vendor's resends; {self.resent} posts sent again"
            f"{' (the plan kills the API functions: each a 502)' if self.api_kills else ''}",
            f"  AWS faults       {self.aws_faults}; injected {self.faults_injected}",
            f"  TrustedForm      {self.trustedform_calls} calls: {mix}; {self.retains_billed} retains billed",
            *([self.jornaya.line("Jornaya w/ cert" if self.token_only else "Jornaya")] if self.jornaya else []),
            *([self.token_only.line()] if self.token_only is not None else []),
            *([self.screens.line()] if self.screens is not None else []),
            *([self.revocations.line()] if self.revocations is not None else []),
            f"  sweeper          {self.sweeps} sweeps, {self.sweeper_requeued} leads requeued, "
            f"{self.sweeper_errors} errors",
            f"  queues           {self.left_on_queue} message(s) left, {self.dead_letters} dead letter(s)",
            f"  time             stack ready {self.stack_ready_seconds:.1f} s, posting {self.post_seconds:.1f} s, "
            f"draining {self.drain_seconds:.1f} s, total {self.duration_seconds:.1f} s"
            + ("  (TIMED OUT)" if self.timed_out else ""),
            f"  throughput       intake {self.intake_leads_per_second:.1f} leads/s, "
            f"end to end {self.final_leads_per_second:.2f} final leads/s",
            f"  memory (RSS)     stack process {self.stack_rss_mib_start:.0f} MiB at start, peak "
            f"{self.stack_rss_mib_peak:.0f}, end {self.stack_rss_mib_end:.0f}; stack + workers peak "
            f"{self.tree_rss_mib_peak:.0f} MiB",
            f"  load average     {self.load_average}",
            "  verdict          " + ("OK" if self.ok else "FAILED: see the figures above"),
        ]
        return "\n".join(lines)


class Monitor:
    """Samples the stack's memory and the load average every second, in a thread."""

    def __init__(self, stack: StackProcess) -> None:
        self.stack = stack
        self.start_main, _ = stack.rss_mib()
        self.peak_main = self.peak_tree = 0.0
        self.load = [os.getloadavg()[0]]  # the 1-minute load average, every second
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-memory", daemon=True)
        self._thread.start()

    def _sample(self) -> float:
        main, tree = self.stack.rss_mib()
        self.peak_main, self.peak_tree = max(self.peak_main, main), max(self.peak_tree, tree)
        return main

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()
            self.load.append(os.getloadavg()[0])

    def load_average(self) -> dict[str, float]:
        """The 1-minute load average at the start, its mean and peak over the run, and at the end."""
        samples = self.load
        return {
            "start": round(samples[0], 2),
            "mean": round(sum(samples) / len(samples), 2),
            "peak": round(max(samples), 2),
            "end": round(samples[-1], 2),
        }

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(5)
        return self._sample()


def post_leads(
    api_url: str, bodies: list[dict[str, Any]], clients: int, resends: int = 0
) -> tuple[list[tuple[int, Any]], int]:
    """POST every body from ``clients`` threads, each with its own connection: the last (status, answer) of
    each, and how many posts were sent again. A vendor sends a lead answered 5xx (or not answered) again, up
    to ``resends`` times, after its ``Retry-After`` (default 1 s), as the API's 5xx answers ask."""
    local = threading.local()
    resent = [0]
    guard = threading.Lock()

    def post_once(body: dict[str, Any]) -> tuple[int, Any, float]:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=api_url, headers={"x-api-key": VENDOR_KEY}, timeout=60, trust_env=False)
        try:
            response = local.http.post("/leads", json=body)
        except httpx.HTTPError as exc:
            local.http.close()  # a connection that failed is not reused
            del local.http
            return 0, {"error": f"{type(exc).__name__}: {exc}"}, 1.0
        pause = _seconds(response.headers.get("retry-after"))
        try:
            return response.status_code, response.json(), pause
        except ValueError:
            return response.status_code, {"error": response.text[:200]}, pause

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        status, answer, pause = post_once(body)
        for _ in range(resends):
            if 0 < status < 500:
                break
            with guard:
                resent[0] += 1
            time.sleep(min(pause, 5.0))
            status, answer, pause = post_once(body)
        return status, answer

    started, answers = time.monotonic(), []
    last_line = started
    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="soak-client") as pool:
        for answer in pool.map(post, bodies):
            answers.append(answer)
            if time.monotonic() - last_line > 15:  # a progress line: 10,000 posts take many minutes
                last_line = time.monotonic()
                rate = len(answers) / (last_line - started)
                print(f"soak: posted {len(answers)}/{len(bodies)} ({rate:.1f}/s)", file=sys.stderr, flush=True)
    return answers, resent[0]


def post_while_revoking(
    api_url: str, bodies: list[dict[str, Any]], revoking: soak_revocations.Plan, args: argparse.Namespace
) -> tuple[list[tuple[int, Any]], int, soak_revocations.Recorder]:
    """Every lead but the revoked consumers' later ones; then those, around each consumer's STOP
    (soak_revocations.Recorder). The answers in the bodies' order."""
    later = set(revoking.later)
    first = [index for index in range(len(bodies)) if index not in later]
    answered, resent = post_leads(api_url, [bodies[index] for index in first], args.clients, args.resends)
    by_index = dict(zip(first, answered, strict=True))
    resent_later = [0]
    guard = threading.Lock()

    def post(some: list[dict[str, Any]]) -> list[tuple[int, Any]]:  # from the recorder's threads
        answers, again = post_leads(api_url, some, 1, args.resends)
        with guard:
            resent_later[0] += again
        return answers

    recorder = soak_revocations.Recorder(api_url, VENDOR_KEY, args.resends)
    by_index.update(recorder.run(revoking, bodies, post))
    return [by_index[index] for index in range(len(bodies))], resent + resent_later[0], recorder


def _seconds(retry_after: str | None) -> float:
    """A Retry-After in seconds (the API's); 1 s when absent or a date."""
    try:
        return float(retry_after or 1)
    except ValueError:
        return 1.0


def kills_api_functions(spec: str | None) -> bool:
    """The fault plan kills the functions behind the API (``kill-functions:all`` or naming one)."""
    from local.fault_plan import API_FUNCTIONS, FaultPlan

    if not spec:
        return False
    plan = FaultPlan.parse(spec)
    return bool(plan.kill and plan.kill_functions & API_FUNCTIONS)


def retry_lease(retry_timeout: float) -> float:
    """The lease a retry attempt holds in the soak's stack: the one its RETRY_TIMEOUT_SECONDS makes, or until
    its invocation has surely ended (the RetryFunction's Timeout), whichever is later (leads/retry.py)."""
    return lease_seconds(default_attempt_lease(retry_timeout), function_settings("RetryFunction").timeout)


def retry_visibility(retry_timeout: float) -> int:
    """The soak's retry queue visibility: the attempt lease and 10 s. The template's 360 s would keep a delivery
    the lease turned away invisible for six minutes; below the lease, a turned-away delivery comes back while
    the lease still holds, and a killed attempt's message can run out of receives (dead letters that are the
    soak's settings, not the service)."""
    return math.ceil(retry_lease(retry_timeout)) + 10


def run(args: argparse.Namespace) -> Figures:
    figures = Figures(leads=args.leads)
    figures.settings = {
        "workers": args.workers,
        "clients": args.clients,
        "sync_timeout": args.sync_timeout,
        "retry_timeout": args.retry_timeout,
        "retry_cap": args.retry_cap,
        "received_grace": args.received_grace,
        "pending_grace": args.pending_grace,
        "sweep_every": args.sweep_every,
        "visibility_timeout": args.visibility,
        "max_faults": args.max_faults,
        "seed": args.seed,
        "screens": args.screens,
        "jornaya": args.jornaya,
        "token_only": args.token_only,
        "revocations": args.revocations,
    }
    figures.aws_faults = args.aws_faults or "off"
    figures.api_kills = kills_api_functions(args.aws_faults)
    began = time.monotonic()
    began_at = datetime.now(UTC) - timedelta(seconds=1)  # the leads' received_at (a lead as reserved: no index)
    deadline = began + args.minutes * 60
    log_dir = Path(args.log_dir) if args.log_dir else Path(tempfile.mkdtemp(prefix="tf-soak-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"soak: logs in {log_dir}", file=sys.stderr, flush=True)
    set_fake_credentials()
    stack = start_stack(args, log_dir)
    figures.stack_ready_seconds = stack.ready_seconds
    monitor = Monitor(stack)
    figures.stack_rss_mib_start = monitor.start_main
    ctx = multiprocessing.get_context("spawn")
    stop_sweeper, sweep_results = ctx.Event(), ctx.Queue()
    sweeper = None
    try:
        state = stack.state
        sqs = stack.client("sqs")
        if args.visibility:
            # The template's 360 s (6 x the RetryFunction timeout) would keep a delivery the lease turned
            # away invisible for six minutes: shortened, as the retry timeout is.
            sqs.set_queue_attributes(
                QueueUrl=state["retry_queue_url"], Attributes={"VisibilityTimeout": str(args.visibility)}
            )
        from local.simulator import make_web_cert_id

        provisioned = stack.resources
        store = provisioned.lead_store(stack.client("dynamodb"), stack.client("secretsmanager"))

        rng = random.Random(args.seed)
        # The leads posted without a certificate (--token-only), drawn apart: the other scripts stay the same.
        token_only = soak_token_only.pick(random.Random(args.seed + 25), args.leads, args.token_only)
        certs = [None if index in token_only else make_web_cert_id() for index in range(args.leads)]
        with httpx.Client(base_url=state["simulator_url"], timeout=30, trust_env=False) as sim:
            for cert_id in filter(None, certs):
                script = draw_script(rng, args.max_faults)
                sim.post(f"/_simulator/certificates/{cert_id}", json={"behaviours": script}).raise_for_status()
        plan = None
        if args.jornaya:
            plan, scripts = soak_jornaya.plan(rng, args.leads, args.max_faults, token_only)
            soak_jornaya.script_tokens(state["provider_simulator_urls"]["jornaya"], scripts)
        rules = {**(plan.rules if plan else {}), **(soak_screens.RULES if args.screens else {})}
        if rules:
            soak_jornaya.publish_rules(provisioned, stack.client("dynamodb"), rules)
        phones = [f"512-555-{index % 10000:04d}" for index in range(args.leads)]
        numbers: dict[str, soak_screens.NumberScript] = {}
        if args.screens:
            phones = soak_screens.numbers(rng, args.leads)
            numbers = soak_screens.draw_scripts(rng, phones, args.max_faults)
            soak_screens.script_numbers(state["provider_simulator_urls"], numbers)
        revoking = None
        if args.revocations:
            revoking = soak_revocations.plan(random.Random(args.seed + 23), args.leads, args.revocations)
            for index, phone in revoking.phone_of().items():
                phones[index] = phone

        sweeper = ctx.Process(
            target=sweeper_main,
            args=(
                function_env(state, args),
                args.sweep_every,
                stop_sweeper,
                sweep_results,
                str(log_dir / "sweeper.log"),
            ),
            name="soak-sweeper",
            daemon=True,
        )
        sweeper.start()

        bodies = [
            {
                **({"trustedform_cert_url": f"https://cert.trustedform.com/{cert_id}"} if cert_id else {}),
                "email": email_of(index),
                "phone": phones[index],
                "lead_id": f"soak-{index}",
                **({"universal_leadid": plan.tokens[index]} if plan else {}),
            }
            for index, cert_id in enumerate(certs)
        ]
        posting = time.monotonic()
        recorder = None
        if revoking is None:
            answers, figures.resent = post_leads(state["api_url"], bodies, args.clients, args.resends)
        else:
            answers, figures.resent, recorder = post_while_revoking(state["api_url"], bodies, revoking, args)
        figures.post_seconds = time.monotonic() - posting
        figures.answers = dict(Counter(str(status) for status, _ in answers))
        figures.post_errors = sum(status == 0 or status >= 500 for status, _ in answers)
        figures.accepted = sum(status in (201, 202) for status, _ in answers)
        figures.intake_leads_per_second = args.leads / figures.post_seconds if figures.post_seconds else 0.0
        print(
            f"soak: posted {args.leads} leads in {figures.post_seconds:.1f} s: {figures.answers}",
            file=sys.stderr,
            flush=True,
        )

        # Wait until every lead is final and the retry queue is empty (bounded). What is watched is only
        # the leads not seen final yet, read by key (a final lead stays final): the work shrinks as leads
        # settle, and watching does not slow what is watched. A lead whose answer named no lead (a 5xx) is
        # found by the vendor index's look at leads as reserved (every lead of the soak: costly), asked only
        # while such answers exist, once nothing else is left, and then at most every 30 s.
        draining = time.monotonic()
        last_print = last_reserved_look = 0.0
        watched = {answer["lead_id"] for _, answer in answers if isinstance(answer, dict) and answer.get("lead_id")}
        unnamed = sum(not (isinstance(answer, dict) and answer.get("lead_id")) for _, answer in answers)
        as_reserved = -1 if unnamed else 0  # -1: not looked at yet
        while True:
            depth = queue_depth(sqs, state["retry_queue_url"])
            watched = still_open(store, watched)
            now = time.monotonic()
            if as_reserved != 0 and not watched and depth == 0 and now - last_reserved_look > 30:
                unstepped = store.index.unstepped_leads(received_from=began_at, received_until=datetime.now(UTC))
                as_reserved, last_reserved_look = len(unstepped), now
            open_leads = len(watched) + max(as_reserved, 0)
            if not watched and depth == 0 and as_reserved == 0:
                break
            if now > deadline:
                figures.timed_out = True
                break
            if now - last_print > 15:
                last_print = now
                print(
                    f"soak: {now - began:.0f} s: {open_leads} lead(s) open, {depth} message(s) queued",
                    file=sys.stderr,
                    flush=True,
                )
            time.sleep(5.0)
        figures.drain_seconds = time.monotonic() - draining
        all_final = time.monotonic()
        figures.final_leads_per_second = args.leads / (all_final - posting)
        stop_sweeper.set()
        sweeper.join(args.sweep_every + 30)
        while True:
            try:
                outcome, _overdue, requeued, _skipped = sweep_results.get_nowait()
            except Exception:
                break
            figures.sweeps += 1
            figures.sweeper_requeued += requeued
            figures.sweeper_errors += outcome != "ok"
        figures.left_on_queue = queue_depth(sqs, state["retry_queue_url"])
        figures.dead_letters = queue_depth(sqs, state["retry_dlq_url"])

        if recorder is not None:  # the scheduled run's look at what the revocations did not reach
            wait = min(recorder.last_answer_at() + soak_revocations.SETTLE_SECONDS, deadline) - time.monotonic()
            if wait > 0:
                print(f"soak: {wait:.0f} s for the scheduled run after the revocations", file=sys.stderr, flush=True)
                time.sleep(wait)
        events = EventTally()
        revocations = (revoking, recorder) if revoking is not None and recorder is not None else None
        verify(figures, state, store, certs, answers, events, sqs, deadline, plan, (phones, numbers), revocations)
        if args.aws_faults:
            with httpx.Client(timeout=30, trust_env=False) as http:
                figures.faults_injected = http.get(f"{state['endpoint_url']}/_local/faults").json()
    finally:
        stop_sweeper.set()
        if sweeper is not None and sweeper.is_alive():
            sweeper.join(10)
            if sweeper.is_alive():
                sweeper.kill()
        figures.stack_rss_mib_end = monitor.stop()
        figures.stack_rss_mib_peak, figures.tree_rss_mib_peak = monitor.peak_main, monitor.peak_tree
        figures.load_average = monitor.load_average()
        stack.stop()
    figures.duration_seconds = time.monotonic() - began
    return figures


def verify(
    figures: Figures,
    state: dict[str, Any],
    store: Any,
    certs: list[str | None],
    answers: list[tuple[int, Any]],
    events: EventTally,
    sqs: Any,
    deadline: float,
    plan: soak_jornaya.Plan | None = None,
    screened: tuple[list[str], dict[str, soak_screens.NumberScript]] | None = None,
    revocations: tuple[soak_revocations.Plan, soak_revocations.Recorder] | None = None,
) -> None:
    """Lost leads, double retains, evidence gaps, calls without a stored request, outcome events per final
    lead and 5xx, from the simulator's log, the lead store and the events' subscriber queue; with ``plan``
    (--jornaya), Jornaya's audits and the leads without a certificate (--token-only); with ``revocations``
    (--revocations), the revoked consumers' leads' entries and gate."""
    with httpx.Client(timeout=120, trust_env=False) as http:
        requests = http.get(f"{state['simulator_url']}/_simulator/requests").json()
    calls: dict[str, list[dict[str, Any]]] = {}
    for request in requests:
        calls.setdefault(request["cert_id"], []).append(request)
    figures.trustedform_calls = len(requests)
    figures.calls_by_kind = dict(Counter(call_kind(r["behaviour"], r["status"]) for r in requests))
    figures.retains_billed = sum(any(r.get("retained") for r in made) for made in calls.values())
    figures.five_xx = sum(status >= 500 or status == 0 for status, _ in answers)

    # The lead store in one Scan (moto reads the whole table for any query: one pass, not one per lead),
    # cross-checked against read_lead for a sample.
    leads, entries, vendor_leads = scan_leads(store)
    sample = random.Random(0).sample(sorted(leads), min(50, len(leads)))
    for lead_id in sample:
        record = store.reader.read_lead(lead_id)
        assert record is not None and record.lead.status.value == leads[lead_id]["status"]
        stored = [x for entry in entries.get(lead_id, []) for x in entry.exchanges]
        assert len(record.exchanges) == len(stored), f"read_lead disagrees on {lead_id}"

    final: Counter[str] = Counter()
    final_leads: dict[str, str] = {}
    lead_numbers: dict[str, str] = {}  # lead id -> its number, with --screens
    audit = CallAudit()
    jornaya = soak_jornaya.JornayaAudit() if plan else None
    token_only = soak_token_only.TokenOnlyAudit() if plan and plan.without_certificate else None
    token_only_emails: dict[str, str] = {}  # lead id -> its email, of the leads without a certificate
    audits = soak_jornaya.audits_by_token(state["provider_simulator_urls"]["jornaya"]) if plan else {}
    listed = soak_screens.SCREEN_REASONS if screened is not None and screened[1] else frozenset()
    stored_ids: dict[int, str] = {}  # each stored lead's id, by index
    for index, (cert_id, (status, answer)) in enumerate(zip(certs, answers, strict=True)):
        answered_id = answer.get("lead_id") if isinstance(answer, dict) else None
        lead_id = str(answered_id or vendor_leads.get(f"soak-{index}") or "")
        accepted = status in (201, 202)
        state_item = leads.get(lead_id) if lead_id else None
        if screened is not None and screened[1] and lead_id and state_item is not None:
            lead_numbers[lead_id] = screened[0][index]
        if token_only is not None and cert_id is None:  # (a lead lost unnamed: its email still looked for)
            token_only_emails[lead_id or f"soak-{index}"] = email_of(index)
        if not lead_id or state_item is None:
            if accepted or (cert_id and calls.get(cert_id)):
                figures.lost += 1
                figures.lost_leads.append(f"soak-{index} ({lead_id or 'no lead'}, answered {status})")
            continue
        stored_ids[index] = lead_id
        lead_status = str(state_item["status"])
        final[lead_status] += 1
        if lead_status not in FINAL_STATUSES:
            figures.lost += 1
            figures.lost_leads.append(f"{lead_id} ({lead_status}, answered {status})")
        else:
            final_leads[lead_id] = lead_status
        made = calls.get(cert_id, []) if cert_id else []
        lost = audit_calls(audit, lead_id, cert_id or "", made, entries.get(lead_id, []))
        if plan is not None and jornaya is not None:
            own = token_only.jornaya if token_only is not None and cert_id is None else jornaya
            token = plan.tokens[index]
            made_audits, chain, red = audits.get(token, []), entries.get(lead_id, []), token in plan.red
            soak_jornaya.audit_lead(own, lead_id, made_audits, chain)
            certificate = cert_id is not None
            soak_jornaya.judge_outcome(
                own,
                lead_id,
                state_item,
                made_audits,
                red=red,
                audited=soak_jornaya.audits_token(plan.rules, certificate=certificate),
                refuses=soak_jornaya.refuses_red(plan.rules, certificate=certificate),
                other_reasons=listed,
            )
            if token_only is not None and not certificate:
                soak_token_only.audit_lead(token_only, lead_id, state_item, chain, red=red, other_reasons=listed)
        figures.lost_answers += lost
        stored_statuses = Counter(
            (exchange.get("response") or {}).get("status")
            for entry in entries.get(lead_id, [])
            for exchange in entry.exchanges
            if exchange.get("provider") is None  # TrustedForm's (a screen's or Jornaya's name their provider)
        )
        unmatched = Counter(r["status"] for r in made)
        unmatched.subtract(stored_statuses)
        # Every stored exchange is a call made; a call made without its exchange only when its answer died
        # with a killed process (its request on record, unanswered).
        if any(n < 0 for n in unmatched.values()) or sum(unmatched.values()) > lost:
            figures.evidence_gaps += 1
            kept = sorted(stored_statuses.elements(), key=str)
            figures.evidence_gap_leads.append(f"{lead_id}: calls {[r['status'] for r in made]} vs exchanges {kept}")
    figures.final_by_status = dict(final)
    if revocations is not None:
        revoking, recorder = revocations
        received = {lead_id: str(leads[lead_id].get("received_at")) for lead_id in stored_ids.values()}
        figures.revocations, revoked_leads = soak_revocations.audit(
            revoking, recorder.recorded, stored_ids, entries, received
        )
        soak_revocations.check_gates(figures.revocations, revoked_leads, state["api_url"], VENDOR_KEY)
    if screened is not None and screened[1]:
        figures.screens = soak_screens.ScreensAudit()
        soak_screens.audit(
            figures.screens,
            lead_numbers,
            screened[1],
            soak_screens.calls_by_number(state["provider_simulator_urls"]),
            leads,
            entries,
            other_reasons=soak_jornaya.JORNAYA_REASONS if plan else frozenset(),
        )
    if plan is not None and jornaya is not None:
        with_certificate = [token for index, token in enumerate(plan.tokens) if certs[index] is not None]
        soak_jornaya.finish(jornaya, audits, with_certificate)
        figures.jornaya = jornaya
    if plan is not None and token_only is not None:
        without = [plan.tokens[index] for index in sorted(plan.without_certificate)]
        soak_jornaya.finish(token_only.jornaya, audits, without)
        soak_token_only.audit_trustedform(token_only, requests, set(filter(None, certs)), token_only_emails)
        figures.token_only = token_only
    figures.calls_without_request = audit.calls_without_request
    figures.calls_without_request_leads = audit.calls_without_request_leads
    figures.exchanges_without_request = audit.exchanges_without_request
    figures.exchanges_without_request_leads = audit.exchanges_without_request_leads
    figures.repeat_retains_after_lost_answers = audit.repeat_retains_after_lost_answers
    figures.double_retains = audit.double_retains
    figures.double_retain_certs = audit.double_retain_certs
    figures.double_retain_details = audit.double_retain_details

    # The outcome events: the publisher may still be behind the last outcomes (bounded wait).
    waited_until = max(deadline, time.monotonic()) + EVENTS_WAIT_SECONDS
    while True:
        events.read(sqs, state["events_queue_url"])
        if not events.missing(final_leads) or time.monotonic() > waited_until:
            break
        time.sleep(2.0)
    outcome = events.audit(final_leads)
    figures.final_leads = len(final_leads)
    figures.final_leads_with_one_event = outcome.final_leads_with_one_event
    figures.events_missing, figures.events_missing_leads = outcome.missing, outcome.missing_leads
    figures.events_extra, figures.events_extra_leads = outcome.extra, outcome.extra_leads
    figures.event_deliveries = outcome.deliveries
    figures.event_duplicate_deliveries = outcome.duplicate_deliveries
    if token_only is not None:
        theirs = {lead_id: final_leads[lead_id] for lead_id in token_only_emails if lead_id in final_leads}
        soak_token_only.count_events(token_only, theirs, events.by_lead)


def still_open(store: Any, lead_ids: set[str]) -> set[str]:
    """Those of the leads whose state is not final (one BatchGetItem per 100, strongly consistent enough
    for a watcher: a lead read final stays final)."""
    from tf_retainer.store import keys

    states = store.table.states(sorted(lead_ids))
    return {lead_id for lead_id in lead_ids if not _is_final(states.get(keys.lead_pk(lead_id)))}


def _is_final(state: dict[str, Any] | None) -> bool:
    from tf_retainer.domain.models import Status

    return state is not None and Status(state["status"]).is_final


def scan_leads(store: Any) -> tuple[dict[str, dict[str, Any]], dict[str, list[Any]], dict[str, str]]:
    """(lead state by lead id, verified chain entries by lead id, our lead id by the vendor's lead_id), one
    Scan.

    Each lead's evidence chain is verified on the way (an entry edited, missing or out of order raises
    ``chain.BrokenChain``, naming it): the exchanges and requests counted are the chain's."""
    from tf_retainer.domain import chain
    from tf_retainer.store import keys
    from tf_retainer.store.codec import deserialize
    from tf_retainer.store.entries import genesis
    from tf_retainer.store.items import stored_link

    leads: dict[str, dict[str, Any]] = {}
    links: dict[str, list[chain.Link]] = {}
    vendor_leads: dict[str, str] = {}
    pages = store.table.client.get_paginator("scan").paginate(TableName=store.table.name, ConsistentRead=True)
    for page in pages:
        for raw in page["Items"]:
            item = deserialize(raw)
            pk = str(item["pk"])
            if keys.is_state(item) and pk.startswith(keys.lead_pk("")):
                lead = store.table.codec.lead(item)  # the packed state, as the service reads it
                leads[lead.lead_id] = {**lead.model_dump(mode="json"), "genesis": genesis(lead)}
                if lead.vendor == VENDOR_NAME and lead.vendor_lead_id:
                    vendor_leads[lead.vendor_lead_id] = lead.lead_id
            elif keys.is_entry(item):
                links.setdefault(keys.lead_id_of(pk), []).append(stored_link(item))
    entries: dict[str, list[chain.Entry]] = {}
    for lead_id, lead_links in links.items():
        ordered = sorted(lead_links, key=lambda link: link.seq)
        entries[lead_id] = chain.verify(ordered, leads[lead_id]["genesis"])
    return leads, entries, vendor_leads


def _stop_on_signal() -> None:
    """SIGTERM (and SIGINT, even when a background shell ignored it) end the run through ``finally``:
    the sweeper and the stack are stopped, not orphaned."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/soak.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, required=True, help="how many leads to post")
    parser.add_argument("--minutes", type=float, default=20.0, help="bound on the whole run (default 20)")
    parser.add_argument("--clients", type=int, default=6, help="concurrent HTTP clients (default 6)")
    parser.add_argument(
        "--resends", type=int, default=3, help="times the vendor sends a lead answered 5xx again (default 3)"
    )
    parser.add_argument("--workers", type=int, default=4, help="the stack's LOCAL_WORKERS (default 4)")
    parser.add_argument("--max-faults", type=int, default=4, help="faults at most before a certificate retains")
    parser.add_argument("--sync-timeout", type=float, default=2.0, help="SYNC_TIMEOUT_SECONDS (intake budget)")
    parser.add_argument("--retry-timeout", type=float, default=3.0, help="RETRY_TIMEOUT_SECONDS")
    parser.add_argument("--retry-cap", type=float, default=4.0, help="RETRY_CAP_SECONDS (base is 1 s)")
    parser.add_argument("--received-grace", type=float, default=30.0, help="RECEIVED_GRACE_SECONDS")
    parser.add_argument("--pending-grace", type=float, default=60.0, help="PENDING_GRACE_SECONDS")
    parser.add_argument("--sweep-every", type=float, default=10.0, help="seconds between sweeper runs")
    parser.add_argument(
        "--visibility",
        type=int,
        default=None,
        help="retry queue visibility timeout (default: the attempt lease + 10 s; 0: keep the template's 360)",
    )
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument(
        "--jornaya", action="store_true", help="every lead also carries a LeadiD token; Jornaya faults too"
    )
    parser.add_argument(
        "--token-only",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="this share of the leads (0-1) posted without a certificate, on their LeadiD token alone, the buyer's "
        "consent_records rule 'either' (implies --jornaya; default 0)",
    )
    parser.add_argument(
        "--screens", action="store_true", help="the screens of the phone number on, faulting; leads share numbers"
    )
    parser.add_argument(
        "--revocations",
        type=int,
        default=0,
        metavar="N",
        help=f"N consumers with {soak_revocations.LEADS_PER_CONSUMER} leads each withdraw consent mid-run "
        "(bench/soak_revocations.py; default 0)",
    )
    parser.add_argument("--log-dir", help="where the stack's and the sweeper's logs go (default: a temp dir)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--aws-faults",
        nargs="?",
        const=DEFAULT_SPEC,
        default="",
        metavar="SPEC",
        help=f"run the stack with AWS's faults (default spec {DEFAULT_SPEC}; see local/faults.py)",
    )
    args = parser.parse_args(argv)
    if args.leads < 1 or args.minutes <= 0:
        parser.error("--leads and --minutes must be positive")
    if not 0 <= args.token_only <= 1:
        parser.error("--token-only is a share of the leads, 0 to 1")
    if args.revocations < 0 or args.revocations * soak_revocations.LEADS_PER_CONSUMER > args.leads:
        parser.error(f"--revocations N needs {soak_revocations.LEADS_PER_CONSUMER} x N leads at most --leads")
    if args.revocations and args.screens:
        parser.error("--revocations gives its consumers numbers of their own; --screens scripts every lead's number")
    args.jornaya = args.jornaya or args.token_only > 0
    lease = retry_lease(args.retry_timeout)
    if args.visibility is None:
        args.visibility = retry_visibility(args.retry_timeout)
    elif 0 < args.visibility <= lease:
        parser.error(
            f"--visibility must outlast the attempt lease: {lease:g} s at --retry-timeout {args.retry_timeout:g}"
        )
    _stop_on_signal()
    try:
        figures = run(args)
    except KeyboardInterrupt as exc:
        print(f"soak: stopped ({exc})", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    print(figures.report(), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({**asdict(figures), "ok": figures.ok}, indent=2) + "\n")
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
