"""`tf-retainer backfill leads.csv --vendor V`: past leads retained through the live intake path.

The file is read and sorted first (backfill_plan.py). Each lead is submitted in-process through
`tf_retainer.leads.intake.submit_lead`, the function behind POST /leads, with the deployment's own
settings, rules and retry queue, one at a time and paced. The vendor's lead id is the idempotency key: a
row whose lead id the store already holds is "already done" and never sent again, so an interrupted run
is resumed by running the same command again.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from pydantic import ValidationError
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.lead import Event
from tf_retainer.domain.models import LeadAnswer, Reason, Status
from tf_retainer.leads.deps import Deps
from tf_retainer.leads.intake import submit_lead
from tf_retainer.runtime.settings import Settings
from tf_retainer.store.vendor_keys import VendorKeyStore
from tf_retainer.wiring import build_api_key, build_deps, build_keyring, build_lead_table

from .backfill_plan import Plan, Row
from .service_output import quiet_service
from .target import OpsError, Target

# Longest pause after TrustedForm throttled us (the lead itself waits on the retry queue as planned).
MAX_THROTTLE_PAUSE_SECONDS = 300.0
ACTOR = "backfill"


# --- the service, in-process ------------------------------------------------------------------------


def service_settings(target: Target, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings the target's intake function runs with: a deployed stack's IntakeFunction
    environment, the local stack's, or (explicit target) this shell's; table and queue from the target."""
    if target.deployed:
        variables = _intake_environment(target)
    elif target.source == "local":
        if target.service_environment is None:
            raise OpsError("the local stack's state file does not name its settings: restart it with make run")
        variables = dict(target.service_environment)
    else:
        variables = dict(os.environ if environ is None else environ)
    variables.update({"TABLE_NAME": target.table_name, "RETRY_QUEUE_URL": target.need_queue()})
    try:
        return Settings.from_environ(variables)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise OpsError(f"the service's settings are incomplete or invalid ({problems})") from exc


def _intake_environment(target: Target) -> dict[str, str]:
    cloudformation = target.client("cloudformation")
    resource = cloudformation.describe_stack_resource(StackName=target.stack_name, LogicalResourceId="IntakeFunction")
    function = resource["StackResourceDetail"]["PhysicalResourceId"]
    configuration = target.client("lambda").get_function_configuration(FunctionName=function)
    variables: dict[str, str] = configuration.get("Environment", {}).get("Variables", {})
    return variables


def service_deps(target: Target, settings: Settings) -> Deps:
    """The intake's dependencies on the target stack's own clients (the local stack's endpoint included)."""
    keyring = build_keyring(settings, target.client("secretsmanager"))
    table = build_lead_table(settings, target.client("dynamodb"), keyring)
    api_key = build_api_key(settings, target.client("secretsmanager"))
    return build_deps(settings, table=table, sqs=target.client("sqs"), api_key=api_key)


def check_vendor(keys: VendorKeyStore, vendor: str) -> None:
    """Leads are sent as the vendor's own would be: only for a vendor the authorizer would let in."""
    own = [key for key in keys.list() if key.vendor == vendor]
    if not own:
        raise OpsError(f"no vendor {vendor}: check the name (tf-retainer vendors list)")
    if all(key.refusal for key in own):
        refusals = sorted({key.refusal or "" for key in own})
        raise OpsError(f"vendor {vendor} is refused ({', '.join(refusals)}): its leads are not accepted")


# --- running ----------------------------------------------------------------------------------------


@dataclass
class Summary:
    vendor: str
    rows: int = 0
    planned_urgent: int = 0
    planned_later: int = 0
    retained: int = 0
    pending: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    already: Counter[str] = field(default_factory=Counter)  # by the lead's status now
    closed: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    not_sent: int = 0  # left when the run stopped early
    stopped: str | None = None

    @classmethod
    def of(cls, plan: Plan, vendor: str) -> Summary:
        """What is known before anything is sent: the rows, the invalid and the closed ones."""
        return cls(
            vendor=vendor,
            rows=plan.rows,
            planned_urgent=len(plan.urgent),
            planned_later=len(plan.later),
            invalid=[{"line": i.line, "lead_id": i.lead_id, "reason": i.reason} for i in plan.invalid],
            closed=[{"line": row.line, "lead_id": row.lead_id, "reason": why} for row, why in plan.closed],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "rows": self.rows,
            "inside_72h": self.planned_urgent,
            "inside_90_days": self.planned_later,
            "retained": self.retained,
            "pending": self.pending,
            "rejected": dict(sorted(self.rejected.items())),
            "already_done": dict(sorted(self.already.items())),
            "skipped_window_closed": self.closed,
            "invalid": self.invalid,
            "not_sent": self.not_sent,
            "stopped": self.stopped,
        }

    def lines(self) -> list[str]:
        def counts(counter: Counter[str]) -> str:
            return "  ".join(f"{name}={n}" for name, n in sorted(counter.items())) or "-"

        out = [
            f"backfill for {self.vendor}: {self.rows} row(s)",
            f"  retained:               {self.retained}",
            f"  pending:                {self.pending}    (the service's retry worker finishes them)",
            f"  rejected:               {sum(self.rejected.values())}    {counts(self.rejected)}",
            f"  already done:           {sum(self.already.values())}    {counts(self.already)}",
            f"  skipped, window closed: {len(self.closed)}    {_line_list(self.closed)}",
            f"  invalid:                {len(self.invalid)}",
        ]
        out += [f"    line {item['line']}: {item['reason']}" for item in self.invalid]
        if self.stopped:
            out.append(f"  not sent:               {self.not_sent}    stopped: {self.stopped}")
        return out


def _line_list(items: list[dict[str, Any]], limit: int = 20) -> str:
    lines = [str(item["line"]) for item in items]
    if not lines:
        return "-"
    more = f" (+{len(lines) - limit} more)" if len(lines) > limit else ""
    return ("line " if len(lines) == 1 else "lines ") + ", ".join(lines[:limit]) + more


class Progress:
    """One line on stderr every `every` leads or `seconds` seconds, and at the end."""

    def __init__(self, err: TextIO, total: int, *, every: int, seconds: float, clock: Callable[[], float]) -> None:
        self.err, self.total, self.every, self.seconds, self.clock = err, total, every, seconds, clock
        self.started = self.last = clock()
        self.done = 0

    def step(self, summary: Summary, *, force: bool = False) -> None:
        self.done += 1 if not force else 0
        now = self.clock()
        if not force and self.done % self.every and now - self.last < self.seconds:
            return
        self.last = now
        share = self.done / self.total if self.total else 1.0
        bar = "#" * int(share * 20)
        rate = self.done / (now - self.started) if now > self.started else 0.0
        print(
            f"backfill [{bar:<20}] {self.done}/{self.total}  retained {summary.retained}  pending {summary.pending}  "
            f"rejected {sum(summary.rejected.values())}  already {sum(summary.already.values())}  {rate:.1f} leads/s",
            file=self.err,
            flush=True,
        )


@dataclass
class Pace:
    """At most `rate` leads a second, and a pause after TrustedForm throttled us."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float = 0.0

    def wait(self) -> None:
        now = self.clock()
        if self._next > now:
            self.sleep(self._next - now)
        self._next = max(now, self._next) + 1 / self.rate

    def pause(self, seconds: float) -> None:
        self.sleep(min(max(seconds, 1.0), MAX_THROTTLE_PAUSE_SECONDS))


def run_backfill(
    deps: Deps,
    plan: Plan,
    summary: Summary,
    *,
    source: str,
    err: TextIO,
    pace: Pace,
    progress_every: int = 100,
    progress_seconds: float = 10.0,
) -> None:
    """Send every planned lead not already in the store, counting into ``summary`` (the caller's, so
    that it holds the counts so far when an interruption or an error is re-raised: every lead sent is
    in the store, and a rerun skips it)."""
    todo = plan.to_send
    progress = Progress(err, len(todo), every=progress_every, seconds=progress_seconds, clock=pace.clock)
    try:
        with quiet_service(err):
            for index, row in enumerate(todo):
                reason = _send(deps, row, summary, source=source, pace=pace)
                progress.step(summary)
                if reason is Reason.ACCOUNT_ERROR:  # every next lead would wait on the same trouble
                    summary.not_sent = len(todo) - index - 1
                    summary.stopped = (
                        "TrustedForm refused our account (account_error): fix the API key or the account, then "
                        "rerun (the leads sent are pending and retried by the service)"
                    )
                    return
    except BaseException as exc:
        summary.not_sent = len(todo) - progress.done
        summary.stopped = f"interrupted ({type(exc).__name__}) after {progress.done} lead(s): rerun to continue"
        raise
    progress.step(summary, force=True)


def _send(deps: Deps, row: Row, summary: Summary, *, source: str, pace: Pace) -> Reason | None:
    vendor = summary.vendor
    # The vendor's lead id is idempotent in the store: a lead sent before (this run or an earlier one)
    # is answered from there, and TrustedForm is not called for it again.
    existing = deps.reader.find_vendor_lead(vendor, row.lead_id)
    if existing is not None:
        lead = deps.reader.get_lead(existing)
        summary.already[lead.status.value if lead else Status.RECEIVED.value] += 1
        return None
    pace.wait()
    try:
        answer = submit_lead(deps, vendor=vendor, submission=row.submission)
    except InputRejected as exc:
        summary.rejected[exc.reason.value] += 1
        return exc.reason
    _record_origin(deps, answer, row, source)
    if answer.status is Status.RETAINED:
        summary.retained += 1
    elif answer.status is Status.PENDING or answer.status is Status.RECEIVED:
        summary.pending += 1
        if answer.reason is Reason.TRUSTEDFORM_THROTTLED:
            pace.pause(_planned_delay(deps, answer))
    else:
        summary.rejected[answer.reason.value if answer.reason else "unknown"] += 1
    return answer.reason


def _record_origin(deps: Deps, answer: LeadAnswer, row: Row, source: str) -> None:
    """The lead arrived now, but it is older: its history says where it came from and its own date."""
    lead = deps.reader.get_lead(answer.lead_id) if answer.lead_id else None
    if lead is None or lead.vendor_lead_id != row.lead_id:
        return
    detail = {"file": source, "line": row.line, "lead_date": row.lead_date.isoformat()}
    deps.writer.add_history(lead, [Event("backfilled", ACTOR, detail)], now=deps.clock())


def _planned_delay(deps: Deps, answer: LeadAnswer) -> float:
    """How long the service plans to wait before trying this lead again (Retry-After honoured)."""
    lead = deps.reader.get_lead(answer.lead_id) if answer.lead_id else None
    planned = getattr(lead, "next_attempt_at", None) if lead else None
    if not planned:
        return 1.0
    return (datetime.fromisoformat(planned.replace("Z", "+00:00")) - deps.clock()).total_seconds()
