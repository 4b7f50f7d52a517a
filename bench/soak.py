"""Fault soak: N leads through the local stack while TrustedForm misbehaves; nothing accepted may be lost.

    make soak                                  # LEADS=1000 by default
    .venv/bin/python bench/soak.py --leads 2000 --minutes 15

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
6. checks, from the simulator's request log and the lead store (``read_lead``): leads lost (accepted
   but not final, or missing), double retains (certificates answered 200 with retain results more than
   once), evidence gaps (a lead whose stored exchanges do not match its TrustedForm calls one to one).

Prints the figures (``--json PATH`` writes them too) and exits 1 if anything was lost, retained twice
or left without evidence (2 if the stack did not start).
"""

from __future__ import annotations

import argparse
import json
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
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "common"
sys.path[:0] = [str(ROOT), str(LAYER)]

from local.backend import FAKE_CREDENTIALS, queue_depth, set_fake_credentials  # noqa: E402
from local.provision import aws_client  # noqa: E402
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
    """``python -m local.stack`` with short retry timings and sweeper graces, its own session (our Ctrl-C
    does not reach it: we stop it ourselves), ready."""
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
    return StackProcess(log_dir, settings, own_session=True).launch()


def function_env(state: dict[str, Any], args: argparse.Namespace) -> dict[str, str]:
    """The functions' environment for this stack (the sweeper's), rebuilt from its state file."""
    from local.provision import Provisioned

    provisioned = Provisioned(
        table_name=state["table_name"],
        retry_queue_url=state["retry_queue_url"],
        retry_dlq_url=state["retry_dlq_url"],
        secret_id=state["secret_id"],
        region=state["region"],
        endpoint_url=state["endpoint_url"],
        retry_queue_arn=state.get("retry_queue_arn", ""),
        retry_dlq_arn=state.get("retry_dlq_arn", ""),
        stack_name=state.get("stack_name", "tf-retainer-local-dev"),
        parameters=state.get("parameters") or {},
    )
    return {
        **provisioned.environment(),
        **FAKE_CREDENTIALS,
        "TRUSTEDFORM_API_URL": state["simulator_url"],
        "RECEIVED_GRACE_SECONDS": str(args.received_grace),
        "PENDING_GRACE_SECONDS": str(args.pending_grace),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
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


# ------------------------------------------------------------------------------------------ memory


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

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.double_retains == 0 and self.evidence_gaps == 0

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
            f"  double retains   {self.double_retains}  {self.double_retain_certs[:10]}",
            f"  evidence gaps    {self.evidence_gaps}  {self.evidence_gap_leads[:10]}",
            f"  TrustedForm      {self.trustedform_calls} calls: {mix}; {self.retains_billed} retains billed",
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
            "  verdict          " + ("OK" if self.ok else "FAILED: leads lost, retained twice or without evidence"),
        ]
        return "\n".join(lines)


class Monitor:
    """Samples the stack's memory every second, in a thread."""

    def __init__(self, stack: StackProcess) -> None:
        self.stack = stack
        self.start_main, _ = stack.rss_mib()
        self.peak_main = self.peak_tree = 0.0
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

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(5)
        return self._sample()


def stack_client(service: str, state: dict[str, Any]) -> Any:
    return aws_client(service, state["region"], state["endpoint_url"])


def post_leads(api_url: str, bodies: list[dict[str, Any]], clients: int) -> list[tuple[int, Any]]:
    """POST every body from ``clients`` threads, each with its own connection; (status, answer) each."""
    local = threading.local()

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=api_url, headers={"x-api-key": VENDOR_KEY}, timeout=60, trust_env=False)
        try:
            response = local.http.post("/leads", json=body)
        except httpx.HTTPError as exc:
            return 0, {"error": f"{type(exc).__name__}: {exc}"}
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"error": response.text[:200]}

    started, answers = time.monotonic(), []
    last_line = started
    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="soak-client") as pool:
        for answer in pool.map(post, bodies):
            answers.append(answer)
            if time.monotonic() - last_line > 15:  # a progress line: 10,000 posts take many minutes
                last_line = time.monotonic()
                rate = len(answers) / (last_line - started)
                print(f"soak: posted {len(answers)}/{len(bodies)} ({rate:.1f}/s)", file=sys.stderr, flush=True)
    return answers


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
    }
    began = time.monotonic()
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
        sqs = stack_client("sqs", state)
        if args.visibility:
            # The template's 360 s (6 x the RetryFunction timeout) would keep a delivery the lease turned
            # away invisible for six minutes: shortened, as the retry timeout is.
            sqs.set_queue_attributes(
                QueueUrl=state["retry_queue_url"], Attributes={"VisibilityTimeout": str(args.visibility)}
            )
        from tf_retainer.store.lead_table import lead_table

        from local.simulator import make_web_cert_id

        store = lead_table(state["table_name"], retention_days=1825, client=stack_client("dynamodb", state))

        rng = random.Random(args.seed)
        certs = [make_web_cert_id() for _ in range(args.leads)]
        with httpx.Client(base_url=state["simulator_url"], timeout=30, trust_env=False) as sim:
            for cert_id in certs:
                script = draw_script(rng, args.max_faults)
                sim.post(f"/_simulator/certificates/{cert_id}", json={"behaviours": script}).raise_for_status()

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
                "trustedform_cert_url": f"https://cert.trustedform.com/{cert_id}",
                "email": f"lead{index}@example.com",
                "phone": f"512-555-{index % 10000:04d}",
                "lead_id": f"soak-{index}",
            }
            for index, cert_id in enumerate(certs)
        ]
        posting = time.monotonic()
        answers = post_leads(state["api_url"], bodies, args.clients)
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

        # Wait until every lead is final and the retry queue is empty (bounded). moto answers one request
        # at a time and queries an index by reading the whole table: the open-lead query is asked only
        # when the queue is empty, or every 30 s, so that watching does not slow what is watched.
        draining = time.monotonic()
        last_print = last_open_check = 0.0
        open_leads = -1
        while True:
            depth = queue_depth(sqs, state["retry_queue_url"])
            now = time.monotonic()
            if depth == 0 or now - last_open_check > 30:
                open_leads, last_open_check = len(store.index.open_leads()), now
            if open_leads == 0 and depth == 0:
                break
            if now > deadline:
                figures.timed_out = True
                break
            if now - last_print > 15:
                last_print = now
                print(
                    f"soak: {now - began:.0f} s: {open_leads} lead(s) open (at the last check), "
                    f"{depth} message(s) queued",
                    file=sys.stderr,
                    flush=True,
                )
            time.sleep(2.0)
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

        verify(figures, state, store, certs, answers)
    finally:
        stop_sweeper.set()
        if sweeper is not None and sweeper.is_alive():
            sweeper.join(10)
            if sweeper.is_alive():
                sweeper.kill()
        figures.stack_rss_mib_end = monitor.stop()
        figures.stack_rss_mib_peak, figures.tree_rss_mib_peak = monitor.peak_main, monitor.peak_tree
        stack.stop()
    figures.duration_seconds = time.monotonic() - began
    return figures


def verify(
    figures: Figures, state: dict[str, Any], store: Any, certs: list[str], answers: list[tuple[int, Any]]
) -> None:
    """Lost leads, double retains and evidence gaps, from the simulator's log and the lead store."""
    with httpx.Client(timeout=120, trust_env=False) as http:
        requests = http.get(f"{state['simulator_url']}/_simulator/requests").json()
    calls: dict[str, list[dict[str, Any]]] = {}
    for request in requests:
        calls.setdefault(request["cert_id"], []).append(request)
    figures.trustedform_calls = len(requests)
    figures.calls_by_kind = dict(Counter(call_kind(r["behaviour"], r["status"]) for r in requests))

    for cert_id, made in calls.items():
        retains = [r for r in made if r["status"] == 200 and call_kind(r["behaviour"], r["status"]) == "retain 200"]
        figures.retains_billed += len(retains)
        if len(retains) > 1:
            figures.double_retains += 1
            figures.double_retain_certs.append(cert_id)

    # The lead store in one Scan (moto reads the whole table for any query: one pass, not one per lead),
    # cross-checked against read_lead for a sample.
    leads, exchanges, vendor_leads = scan_leads(store)
    sample = random.Random(0).sample(sorted(leads), min(50, len(leads)))
    for lead_id in sample:
        record = store.reader.read_lead(lead_id)
        assert record is not None and record.lead.status.value == leads[lead_id]["status"]
        assert len(record.exchanges) == len(exchanges.get(lead_id, [])), f"read_lead disagrees on {lead_id}"

    final: Counter[str] = Counter()
    for index, (cert_id, (status, answer)) in enumerate(zip(certs, answers, strict=True)):
        lead_id = answer.get("lead_id") if isinstance(answer, dict) else None
        lead_id = lead_id or vendor_leads.get(f"soak-{index}")
        accepted = status in (201, 202)
        state_item = leads.get(lead_id) if lead_id else None
        if state_item is None:
            if accepted or calls.get(cert_id):
                figures.lost += 1
                figures.lost_leads.append(f"soak-{index} ({lead_id or 'no lead'}, answered {status})")
            continue
        lead_status = str(state_item["status"])
        final[lead_status] += 1
        if lead_status not in FINAL_STATUSES:
            figures.lost += 1
            figures.lost_leads.append(f"{lead_id} ({lead_status}, answered {status})")
        made = calls.get(cert_id, [])
        stored = [(exchange.get("response") or {}).get("status") for exchange in exchanges.get(lead_id, [])]
        if Counter(r["status"] for r in made) != Counter(stored):
            figures.evidence_gaps += 1
            figures.evidence_gap_leads.append(f"{lead_id}: calls {[r['status'] for r in made]} vs exchanges {stored}")
    figures.final_by_status = dict(final)


def scan_leads(store: Any) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]], dict[str, str]]:
    """(lead state by lead id, raw exchanges by lead id, our lead id by the vendor's lead_id), one Scan.

    Each lead's evidence chain is verified on the way (an entry edited, missing or out of order raises
    ``chain.BrokenChain``, naming it): the exchanges counted are the chain's."""
    from tf_retainer.domain import chain
    from tf_retainer.store import keys
    from tf_retainer.store.codec import deserialize
    from tf_retainer.store.items import stored_link

    leads: dict[str, dict[str, Any]] = {}
    links: dict[str, list[chain.Link]] = {}
    vendor_leads: dict[str, str] = {}
    vendor_prefix = keys.vendor_lead_pk(VENDOR_NAME, "")
    pages = store.table.client.get_paginator("scan").paginate(TableName=store.table.name, ConsistentRead=True)
    for page in pages:
        for raw in page["Items"]:
            item = deserialize(raw)
            pk = str(item["pk"])
            if keys.is_state(item) and pk.startswith(keys.lead_pk("")):
                leads[keys.lead_id_of(pk)] = item
            elif keys.is_entry(item):
                links.setdefault(keys.lead_id_of(pk), []).append(stored_link(item))
            elif pk.startswith(vendor_prefix) and item.get("sk") == keys.IDEMPOTENCY:
                vendor_leads[pk[len(vendor_prefix) :]] = str(item["lead_id"])
    exchanges: dict[str, list[dict[str, Any]]] = {}
    for lead_id, lead_links in links.items():
        state = leads[lead_id]
        first = chain.genesis(lead_id, state["vendor"], state["cert_id"], state["received_at"])
        exchanges[lead_id] = [x for entry in chain.verify(lead_links, first) for x in entry.exchanges]
    return leads, exchanges, vendor_leads


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
    parser.add_argument("--workers", type=int, default=4, help="the stack's LOCAL_WORKERS (default 4)")
    parser.add_argument("--max-faults", type=int, default=4, help="faults at most before a certificate retains")
    parser.add_argument("--sync-timeout", type=float, default=2.0, help="SYNC_TIMEOUT_SECONDS (intake budget)")
    parser.add_argument("--retry-timeout", type=float, default=3.0, help="RETRY_TIMEOUT_SECONDS")
    parser.add_argument("--retry-cap", type=float, default=4.0, help="RETRY_CAP_SECONDS (base is 1 s)")
    parser.add_argument("--received-grace", type=float, default=30.0, help="RECEIVED_GRACE_SECONDS")
    parser.add_argument("--pending-grace", type=float, default=60.0, help="PENDING_GRACE_SECONDS")
    parser.add_argument("--sweep-every", type=float, default=10.0, help="seconds between sweeper runs")
    parser.add_argument("--visibility", type=int, default=30, help="retry queue visibility timeout (0: keep 360)")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--log-dir", help="where the stack's and the sweeper's logs go (default: a temp dir)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.leads < 1 or args.minutes <= 0:
        parser.error("--leads and --minutes must be positive")
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
