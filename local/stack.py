"""The whole service on this machine, in one process: ``python -m local.stack`` (``make run``).

* moto's server on 127.0.0.1 (``MOTO_PORT``, default a free port) holds the DynamoDB table, the retry
  queue and its dead-letter queue, the API key secret and the dashboard, built from template.yaml by
  ``local.provision``;
* the TrustedForm simulator on 127.0.0.1 (``SIMULATOR_PORT``, default a free port), unless
  ``TRUSTEDFORM_API_URL`` names another one;
* the functions in ``LOCAL_WORKERS`` (default 4) worker processes, each one a Lambda container with
  its own module state, one invocation at a time, reaching moto over HTTP (``local.functions.WorkerPool``);
* the leads API on http://127.0.0.1:``PORT`` (default 3000): the real authorizer and intake handler
  behind ``local.apigw.LocalApiGateway``, a thread per connection, requests running concurrently in
  the workers;
* the retry poller: the real RetryFunction fed from the retry queue as Lambda's event source mapping
  feeds it, in a worker too;
* with ``LOCAL_SCREENS`` (SCREENS' form, e.g. ``leadid=jornaya,dnc=dncscrub``): each named screening
  provider's simulator (and Jornaya's) on 127.0.0.1, provisioned as a deployment choosing it would be
  (local/providers.py). Off by default.

No Docker, no network beyond loopback, no AWS account: fake credentials are always set, so nothing in
this process can act on a real account even if a client missed AWS_ENDPOINT_URL.

``--aws-faults[=SPEC]`` (or ``AWS_FAULTS=SPEC``): AWS's faults that moto never shows - transaction
conflicts, throttling, duplicate deliveries, a lagging index, killed functions (local/faults.py).

Environment: see docs/local-stack.md. Ctrl-C or SIGTERM stops everything and exits 0.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local.backend import HOST, Backend, set_fake_credentials
from local.sampler import SAMPLE_ENV, Sampler

_STARTED = time.perf_counter()  # the heavy imports (boto3, moto, Powertools) happen in main()

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGE = "dev"
DEFAULT_PORT = 3000
DEFAULT_WORKERS = 4
MAX_WORKERS = 64
DEFAULT_TRUSTEDFORM_API_KEY = "sim-key"
DEFAULT_VENDOR_NAME = "demo-vendor"
DEFAULT_VENDOR_KEY = "demo-vendor-key-local-only"  # readable on purpose: it exists only in local moto
DEFAULT_STATE_FILE = REPO_ROOT / ".local-stack" / "state.json"
# Shortened retry timings for local use (the deployed defaults are minutes to an hour).
LOCAL_RETRY_DEFAULTS = {
    "RETRY_BASE_SECONDS": "2",
    "RETRY_CAP_SECONDS": "10",
    "ACCOUNT_ERROR_DELAY_SECONDS": "15",
    "CALLBACK_BASE_DELAY_SECONDS": "2",
}
# DynamoDB keeps a stream record 24 hours; here the stream poller reads each within a second or two, and a
# record kept longer only holds memory (a lead's records: ~5 KiB, packed by motolock.PackedStreamRecord),
# so 5 minutes, as the retry timings are shortened (LOCAL_STREAM_RETENTION_SECONDS, up to 24 hours).
LOCAL_STREAM_RETENTION_SECONDS = 300
# Variables that point the functions at this stack: always the stack's values, whatever the shell has.
STACK_OWNED_VARIABLES = frozenset(
    {
        "TABLE_NAME",
        "RETRY_QUEUE_URL",
        "TRUSTEDFORM_SECRET_ID",
        "CONSUMER_KEY_SECRET_ID",
        "CALLBACK_QUEUE_URL",
        "CALLBACK_DLQ_URL",
        "CALLBACK_SECRET_KEY_ID",
        "ARCHIVE_BUCKET",
        "ANCHOR_KEY_ID",
        "TRUSTEDFORM_API_URL",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    }
)
READY_MARKER = "tf-retainer local stack ready"

log = logging.getLogger("tf_retainer.local.stack")


class StartupError(RuntimeError):
    """A clear, user-facing reason the stack cannot start (port taken, bad setting...)."""


@dataclass
class LocalStack:
    """The running pieces, in start order; ``stop()`` stops them in reverse."""

    backend: Backend | None = None  # moto, the simulators, the resources
    workers: Any = None
    poller: Any = None
    sweeper: Any = None
    auto_suspend: Any = None  # only while a threshold is set (AUTO_SUSPEND_* in the shell)
    holds: Any = None
    consent: Any = None
    archiver: Any = None
    streams: Any = None
    anchors: Any = None
    callbacks: Any = None
    receiver: Any = None
    faults: Any = None  # local.faults.FaultLayer, with --aws-faults
    api: Any = None
    api_url: str = ""
    vendor_name: str = ""
    vendor_key: str = ""
    state_file: Path | None = None
    stopped: list[str] = field(default_factory=list)

    @property
    def provisioned(self) -> Any:
        return self.backend.provisioned if self.backend else None

    @property
    def endpoint_url(self) -> str:
        return self.backend.endpoint_url if self.backend else ""

    @property
    def simulator_url(self) -> str:
        return self.backend.simulator_url if self.backend else ""

    @property
    def simulator(self) -> Any:
        """The TrustedForm simulator this stack runs (None when TRUSTEDFORM_API_URL names another)."""
        return self.backend.sim if self.backend else None

    @property
    def providers(self) -> Any:
        """The screening providers' simulators (local.providers.LocalProviders), with LOCAL_SCREENS."""
        return self.backend.providers if self.backend else None

    def stop(self) -> None:
        if self.workers is not None:  # invocations in flight (a hung TrustedForm call...) end now
            self.workers.interrupt()
        for name in (
            "api",
            "auto_suspend",
            "sweeper",
            "holds",
            "consent",
            "archiver",
            "callbacks",
            "anchors",
            "streams",
            "poller",
            "workers",
            "receiver",
            "faults",
        ):
            piece = getattr(self, name)
            if piece is None:
                continue
            setattr(self, name, None)
            self._stop_piece(name, piece.stop)
        if self.backend is not None:
            backend, self.backend = self.backend, None
            if backend.sim is not None:
                self._stop_piece("simulator", backend.stop_simulator)
            if backend.providers is not None:
                self._stop_piece("providers", backend.stop_providers)
            self._stop_piece("moto", backend.stop)
        if self.state_file is not None:
            _remove_state_file(self.state_file)
            self.state_file = None

    def _stop_piece(self, name: str, stop: Any) -> None:
        try:
            stop()
            self.stopped.append(name)
        except Exception as exc:
            log.warning("stopping %s failed: %s", name, type(exc).__name__)


# --------------------------------------------------------------------------------------------- setup


def _auto_suspend_enabled() -> bool:
    from tf_retainer.runtime.settings import Settings

    return Settings.from_environ(os.environ).auto_suspend_enabled


def _int_env(name: str, default: int, maximum: int = 65535, what: str = "a port number") -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StartupError(f"{name}={raw!r} is not {what}") from None
    if not 0 <= value <= maximum:
        raise StartupError(f"{name}={raw!r} is not {what}")
    return value


def _stream_retention() -> timedelta:
    """How long the table's stream keeps a record here (DynamoDB: 24 hours; see LOCAL_STREAM_RETENTION)."""
    seconds = _int_env(
        "LOCAL_STREAM_RETENTION_SECONDS", LOCAL_STREAM_RETENTION_SECONDS, 86_400, "a number of seconds up to 86400"
    )
    return timedelta(seconds=max(1, seconds))


def _worker_count() -> int:
    raw = os.environ.get("LOCAL_WORKERS", "").strip()
    if not raw:
        return DEFAULT_WORKERS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_WORKERS:
        raise StartupError(f"LOCAL_WORKERS={raw!r} is not a number of worker processes from 1 to {MAX_WORKERS}")
    return value


CALLBACK_FUNCTION = "CallbackFunction"


def sqs_concurrency(provisioned: Any, function: str, workers: int) -> int:
    """Batches of ``function``'s SQS event source in flight at once: the stage's ScalingConfig.MaximumConcurrency
    (capped by the function's reserved concurrency, as Lambda caps it), but one worker process always left
    for the API (a batch can hang on a remote call for its timeout)."""
    properties = provisioned._template()["Resources"][function]["Properties"]
    scaling = next(
        event["Properties"].get("ScalingConfig", {})
        for event in properties["Events"].values()
        if event["Type"] == "SQS"
    )
    resolve = provisioned._resolver().resolve
    maximum = int(resolve(scaling).get("MaximumConcurrency", 2))
    if "ReservedConcurrentExecutions" in properties:
        maximum = min(maximum, int(resolve(properties["ReservedConcurrentExecutions"])))
    return max(1, min(maximum, workers - 1))


def _check_port_free(name: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            raise StartupError(f"{name}={port}: {HOST}:{port} is already in use (set {name} to another port)") from None


def function_environment(backend: Backend, shell: Mapping[str, str]) -> dict[str, str]:
    """What the functions see: the template's variables resolved against the local resources, a shell
    value winning for anything but the stack-owned ones, and shortened retry timings by default."""
    env: dict[str, str] = {}
    for name, value in backend.function_environment().items():
        env[name] = value if name in STACK_OWNED_VARIABLES or name not in shell else shell[name]
    # The demo vendor's callback receiver is on 127.0.0.1, over http: allowed here, never deployed.
    env["CALLBACK_ALLOW_PRIVATE"] = "true"
    for name, value in LOCAL_RETRY_DEFAULTS.items():
        env[name] = shell.get(name) or value
    return env


def _fault_plan() -> Any:
    from local.faults import FaultPlan

    try:
        return FaultPlan.parse(os.environ.get("AWS_FAULTS", ""))
    except ValueError as exc:
        raise StartupError(f"AWS_FAULTS: {exc}") from None


def _start_faults(stack: LocalStack, plan: Any) -> Any:
    """AWS's faults in front of moto; the workers (started later) are whom it kills."""
    from local.faults import FaultLayer

    def running(pid: int) -> str | None:
        return stack.workers.running(pid) if stack.workers is not None else None

    def kill(pid: int) -> None:
        if stack.workers is not None:
            stack.workers.kill_worker(pid)

    port = int(stack.endpoint_url.rsplit(":", 1)[1])
    return FaultLayer(plan, port, running=running, kill=kill).install()


def _backend(api_key: str) -> Backend:
    """moto on MOTO_PORT, the simulator on SIMULATOR_PORT (unless TRUSTEDFORM_API_URL names another), the
    screening providers' simulators LOCAL_SCREENS names."""
    moto_port, simulator_port = _int_env("MOTO_PORT", 0), _int_env("SIMULATOR_PORT", 0)
    _check_port_free("MOTO_PORT", moto_port)
    external = os.environ.get("TRUSTEDFORM_API_URL", "").strip()
    if not external:
        _check_port_free("SIMULATOR_PORT", simulator_port)
    screens = os.environ.get("LOCAL_SCREENS", "").strip()
    if screens:
        from local.providers import chosen_screens

        try:
            chosen_screens(screens)
        except ValueError as exc:
            raise StartupError(f"LOCAL_SCREENS: {exc}") from None
    return Backend(
        api_key,
        moto_port=moto_port,
        simulator=external or None,
        simulator_port=simulator_port,
        stage=STAGE,
        screens=screens,
    )


def _start_receiver(stack: LocalStack) -> None:
    import secrets

    from local.receiver import CallbackReceiver

    port = _int_env("CALLBACK_PORT", 0)
    _check_port_free("CALLBACK_PORT", port)
    stack.receiver = CallbackReceiver(secret=secrets.token_urlsafe(24), port=port).start()


def _register_vendor(stack: LocalStack) -> None:
    import boto3
    from tf_retainer.runtime.settings import get_settings
    from tf_retainer.store.vendor_callbacks import VendorCallbackStore
    from tf_retainer.store.vendor_keys import VendorKeyStore

    stack.vendor_name = os.environ.get("LOCAL_VENDOR_NAME", "").strip() or DEFAULT_VENDOR_NAME
    stack.vendor_key = os.environ.get("LOCAL_VENDOR_KEY", "").strip() or DEFAULT_VENDOR_KEY
    if not 16 <= len(stack.vendor_key) <= 256:
        raise StartupError("LOCAL_VENDOR_KEY must be 16 to 256 characters (the authorizer refuses others)")
    settings = get_settings()  # also validates the environment before any request arrives
    VendorKeyStore(settings.table_name).put(stack.vendor_key, stack.vendor_name, now=datetime.now(UTC))
    VendorCallbackStore(settings.table_name, kms=boto3.client("kms"), key_id=stack.provisioned.callback_key_id).put(
        stack.vendor_name, stack.receiver.url, stack.receiver.secret, now=datetime.now(UTC)
    )


def write_state(stack: LocalStack, path: Path) -> None:
    """``.local-stack/state.json``: where an operator CLI finds this stack (no secrets in it)."""
    provisioned = stack.provisioned
    state = {
        "pid": os.getpid(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "endpoint_url": stack.endpoint_url,
        "region": provisioned.region,
        "table_name": provisioned.table_name,
        "retry_queue_url": provisioned.retry_queue_url,
        "retry_dlq_url": provisioned.retry_dlq_url,
        "retry_queue_arn": provisioned.retry_queue_arn,
        "retry_dlq_arn": provisioned.retry_dlq_arn,
        "secret_id": provisioned.secret_id,
        "consumer_key_secret_id": provisioned.consumer_key_secret_id,
        "stack_name": provisioned.stack_name,
        "dashboard_name": provisioned.dashboard_name,
        "evidence_key_id": provisioned.evidence_key_id,
        "callback_key_id": provisioned.callback_key_id,
        "anchor_key_id": provisioned.anchor_key_id,
        "anchor_failure_queue_url": provisioned.anchor_failure_queue_url,
        "archive_bucket": provisioned.archive_bucket,
        "event_bus_name": provisioned.event_bus_name,
        "events_queue_url": provisioned.events_queue_url,
        "publish_failure_queue_url": provisioned.publish_failure_queue_url,
        "parameters": provisioned.parameters,
        "extra_refs": provisioned.extra_refs,  # the KMS keys' ids, the providers' secrets' ARNs (no values)
        "api_url": stack.api_url,
        "simulator_url": stack.simulator_url,
        "provider_simulator_urls": stack.providers.urls if stack.providers else {},
        "vendor": stack.vendor_name,
        "callback_receiver_url": stack.receiver.url,
        "aws_faults": stack.faults.plan.describe() if stack.faults else "off",
        # What the functions run with (no secrets: the key stays in Secrets Manager), for a CLI command
        # that runs the service in-process (tf-retainer backfill).
        "service_environment": {name: os.environ[name] for name in _service_variables() if name in os.environ},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
    stack.state_file = path


def provisioned_from_state(state: Mapping[str, Any]) -> Any:
    """The stack's resources (a ``local.provision.Provisioned``) as its state file (``write_state``) names
    them: for a process outside the stack that reads or writes what it holds."""
    from local.provision import Provisioned

    return Provisioned(
        table_name=state["table_name"],
        retry_queue_url=state["retry_queue_url"],
        retry_dlq_url=state["retry_dlq_url"],
        secret_id=state["secret_id"],
        consumer_key_secret_id=state.get("consumer_key_secret_id", ""),
        region=state["region"],
        endpoint_url=state["endpoint_url"],
        retry_queue_arn=state.get("retry_queue_arn", ""),
        retry_dlq_arn=state.get("retry_dlq_arn", ""),
        stack_name=state.get("stack_name", "tf-retainer-local-dev"),
        dashboard_name=state.get("dashboard_name", ""),
        evidence_key_id=state.get("evidence_key_id", ""),
        callback_key_id=state.get("callback_key_id", ""),
        anchor_key_id=state.get("anchor_key_id", ""),
        anchor_failure_queue_url=state.get("anchor_failure_queue_url", ""),
        archive_bucket=state.get("archive_bucket", ""),
        event_bus_name=state.get("event_bus_name", ""),
        events_queue_url=state.get("events_queue_url", ""),
        publish_failure_queue_url=state.get("publish_failure_queue_url", ""),
        parameters=state.get("parameters") or {},
        extra_refs=state.get("extra_refs") or {},
    )


def _service_variables() -> list[str]:
    from tf_retainer.runtime.settings import Settings

    return [name.upper() for name in Settings.model_fields]


def _remove_state_file(path: Path) -> None:
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def start(api_key: str | None = None) -> LocalStack:
    """Start every piece; on failure stop what started and raise."""
    from local.apigw import LocalApiGateway
    from local.functions import WorkerPool, start_fork_server
    from local.motolock import trim_stream_records
    from local.poller import RETRY_FUNCTION, RetryPoller
    from local.provision import function_logical_ids
    from local.scheduler import RateSchedule
    from local.server import ApiServerThread, LocalApiServer
    from local.streams import ANCHOR_FUNCTION, StreamPoller

    stack = LocalStack()
    try:
        api_port = _int_env("PORT", DEFAULT_PORT)
        _check_port_free("PORT", api_port)
        workers = _worker_count()
        tf_key = api_key or os.environ.get("TRUSTEDFORM_API_KEY", "").strip() or DEFAULT_TRUSTEDFORM_API_KEY
        shell = dict(os.environ)
        plan = _fault_plan()
        backend = _backend(tf_key)
        retention = _stream_retention()
        set_fake_credentials()
        start_fork_server()  # the workers' imports overlap moto's start and provisioning
        trim_stream_records(retention)  # moto runs in this process
        stack.backend = backend.start()
        if plan.active:
            stack.faults = _start_faults(stack, plan)
        _start_receiver(stack)
        os.environ.update(function_environment(backend, shell))
        # The workers import every function now (a cold start each, in parallel), so the first request
        # is as quick as the next.
        stack.workers = WorkerPool(workers, dict(os.environ), function_logical_ids(stack.provisioned.template))
        stack.workers.start()
        _register_vendor(stack)

        # Each invocation runs in a worker process, one at a time per worker: no lock in this process.
        stack.poller = RetryPoller(
            stack.provisioned,
            invocation_lock=nullcontext(),
            invoke=stack.workers.invoke,
            concurrency=sqs_concurrency(stack.provisioned, RETRY_FUNCTION, workers),
            duplicate_rate=plan.duplicate,
            seed=plan.seed,
        )
        stack.poller.start()
        # The template's sweeper runs every 5 minutes; here, often enough to watch it work.
        stack.sweeper = RateSchedule(
            "SweeperFunction", max(1, _int_env("LOCAL_SWEEP_SECONDS", 30)), stack.workers.invoke
        )
        stack.sweeper.start()
        # The automatic vendor suspension (deployed: daily, off by default), when the shell turns it on.
        if _auto_suspend_enabled():
            stack.auto_suspend = RateSchedule(
                "AutoSuspendFunction", max(1, _int_env("LOCAL_AUTO_SUSPEND_SECONDS", 60)), stack.workers.invoke
            )
            stack.auto_suspend.start()
        # The template applies legal holds daily; here every few minutes (a hold set by the CLI covers
        # the leads stored so far at once: this is for leads that arrive after it).
        stack.holds = RateSchedule("HoldFunction", max(1, _int_env("LOCAL_HOLD_SECONDS", 300)), stack.workers.invoke)
        stack.holds.start()
        # Revocations an invocation left unapplied (the template: every 5 minutes).
        stack.consent = RateSchedule(
            "ConsentFunction", max(1, _int_env("LOCAL_HONOUR_SECONDS", 30)), stack.workers.invoke
        )
        stack.consent.start()
        # The template's archiver runs hourly; locally too (no lead is ARCHIVE_AFTER_DAYS old unless the
        # days are overridden, so it mostly finds nothing).
        stack.archiver = RateSchedule(
            "ArchiverFunction", max(1, _int_env("LOCAL_ARCHIVE_SECONDS", 3600)), stack.workers.invoke
        )
        stack.archiver.start()
        # The table's stream drives the publisher, as its event source mapping does on AWS.
        stack.streams = StreamPoller(stack.provisioned, invoke=stack.workers.invoke)
        stack.streams.start()
        # And the anchoring function, as its own mapping does: every chain entry's write to the archive bucket.
        stack.anchors = StreamPoller(stack.provisioned, ANCHOR_FUNCTION, invoke=stack.workers.invoke)
        stack.anchors.start()
        # Vendor callbacks: CallbackQueue drives CallbackFunction; the demo vendor is called back here.
        stack.callbacks = RetryPoller(
            stack.provisioned,
            CALLBACK_FUNCTION,
            queue_url=stack.provisioned.callback_queue_url,
            invocation_lock=nullcontext(),
            invoke=stack.workers.invoke,
            concurrency=sqs_concurrency(stack.provisioned, CALLBACK_FUNCTION, workers),
            duplicate_rate=plan.duplicate,
            seed=plan.seed,
        )
        stack.callbacks.start()
        if stack.faults is not None:
            pollers = (stack.poller, stack.callbacks)
            stack.faults.elsewhere["duplicate deliveries"] = lambda: sum(p.duplicated for p in pollers if p)
        try:
            gateway = LocalApiGateway(invoke=stack.workers.invoke)
            server = LocalApiServer(gateway, HOST, api_port, invocation_lock=nullcontext())
        except OSError as exc:
            raise StartupError(f"PORT={api_port}: cannot listen on {HOST}:{api_port} ({exc.strerror})") from None
        stack.api = ApiServerThread(server)
        stack.api_url = stack.api.start()
        state_file = Path(os.environ.get("LOCAL_STACK_STATE", "").strip() or DEFAULT_STATE_FILE)
        write_state(stack, state_file)
    except BaseException:
        stack.stop()
        raise
    return stack


# -------------------------------------------------------------------------------------------- banner


def sample_lead(cert_id: str) -> dict[str, str]:
    return {
        "trustedform_cert_url": f"https://cert.trustedform.com/{cert_id}",
        "email": "jane.doe@example.com",
        "phone": "512-555-0100",
        "lead_id": "demo-1",
    }


def curl_command(api_url: str, vendor_key: str, cert_id: str) -> str:
    body = json.dumps(sample_lead(cert_id), separators=(",", ":"))
    return (
        f"curl -sS -X POST {api_url}/leads -H {shlex.quote('x-api-key: ' + vendor_key)} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )


def revocation_command(api_url: str, key: str) -> str:
    body = json.dumps(
        {"id": "stop-1", "phone": sample_lead("")["phone"], "via": "sms", "message": "STOP"}, separators=(",", ":")
    )
    return (
        f"curl -sS -X POST {api_url}/revocations -H {shlex.quote('x-api-key: ' + key)} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )


def banner(stack: LocalStack, seconds: float) -> str:
    from local.simulator import BEHAVIOURS, PARAMETERISED_BEHAVIOURS, make_web_cert_id

    provisioned = stack.provisioned
    lines = [
        f"  API          {stack.api_url}  (POST /leads, GET /leads/{{lead_id}}[/contactable],",
        "               POST /revocations[/batch], POST /leads/{lead_id}/contacts; /local/... works too)",
        f"  API docs     {stack.api_url}/docs  (browse the OpenAPI description, {stack.api_url}/openapi.json)",
        f"  demo vendor  {stack.vendor_name}   x-api-key: {stack.vendor_key}",
        f"  moto (AWS)   {stack.endpoint_url}  table {provisioned.table_name}",
        f"               retry queue {provisioned.retry_queue_url.rsplit('/', 1)[-1]}, "
        f"dead letters {provisioned.retry_dlq_url.rsplit('/', 1)[-1]}",
        f"  functions    {stack.workers.describe()}",
        f"  retry worker {stack.poller.describe()}",
        f"  sweeper      {stack.sweeper.describe()} (overdue open leads back to the retry queue)",
        f"  auto-suspend {stack.auto_suspend.describe() if stack.auto_suspend else 'off (AUTO_SUSPEND_* unset)'}",
        f"  holds        {stack.holds.describe()} (legal holds cover the leads that arrived since)",
        f"  archiver     {stack.archiver.describe()} (final leads past ARCHIVE_AFTER_DAYS to the S3 archive)",
        f"  consent      {stack.consent.describe()} (revocations an invocation left unapplied)",
        f"  events       {stack.streams.describe()}",
        f"               stream records kept {_stream_retention().total_seconds():.0f} s "
        "(LOCAL_STREAM_RETENTION_SECONDS; DynamoDB: 24 hours)",
        f"               bus {provisioned.event_bus_name}; every event also on "
        f"{provisioned.events_queue_url.rsplit('/', 1)[-1]}: tf-retainer --local events tail",
        f"  anchors      {stack.anchors.describe()}",
        "               every chain entry's write, MACed, under anchors/ in the archive bucket: "
        "tf-retainer --local evidence verify LEAD_ID",
        f"  callbacks    {stack.callbacks.describe()}",
        f"               the demo vendor's leads that leave pending are POSTed, signed, to {stack.receiver.url};",
        f"               what arrived (signature checked): curl -sS {stack.receiver.url}",
        f"  AWS faults   {stack.faults.plan.describe() if stack.faults else 'off (--aws-faults[=SPEC])'}"
        + (f"; injected so far: curl -sS {stack.endpoint_url}/_local/faults" if stack.faults else ""),
        f"  retry timing base {os.environ['RETRY_BASE_SECONDS']} s, cap {os.environ['RETRY_CAP_SECONDS']} s, "
        f"account errors {os.environ['ACCOUNT_ERROR_DELAY_SECONDS']} s",
    ]
    if stack.simulator is not None:
        sim = stack.simulator_url
        lines += [
            f"  TrustedForm  {sim}  (simulator; every well-formed certificate id is retained by default)",
            "               script a certificate's answers, then post a lead with it:",
            f"               curl -sS -X POST {sim}/_simulator/certificates/<cert_id> "
            '-d \'{"behaviours":["unavailable","success"]}\'',
            f"               what it was sent: curl -sS {sim}/_simulator/requests",
            f"               behaviours: {', '.join((*BEHAVIOURS, *PARAMETERISED_BEHAVIOURS))}",
            "               (header X-Simulator-Behaviour: <name> picks one for a direct call to the simulator)",
        ]
    else:
        lines.append(f"  TrustedForm  {stack.simulator_url}  (TRUSTEDFORM_API_URL)")
    if stack.providers is not None:
        screens = ", ".join(f"{screen}={provider}" for screen, provider in stack.providers.screens.items())
        lines.append(f"  screens      {screens} (LOCAL_SCREENS; the buyer's rules decide which run: tf-retainer rules)")
        lines += [f"               {name}  {url}  (simulator)" for name, url in stack.providers.urls.items()]
    else:
        lines.append("  screens      off (LOCAL_SCREENS=leadid=jornaya,dnc=dncscrub,... starts their simulators)")
    lines += [
        f"  state file   {_display_path(stack.state_file)}",
        "",
        "Try it:",
        f"  {curl_command(stack.api_url, stack.vendor_key, make_web_cert_id())}",
        f"  curl -sS {stack.api_url}/leads/<lead_id> -H {shlex.quote('x-api-key: ' + stack.vendor_key)}",
        f"  curl -sS {stack.api_url}/leads/<lead_id>/contactable -H {shlex.quote('x-api-key: ' + stack.vendor_key)}",
        "  the consumer texts STOP (then ask the gate again: consent_revoked):",
        f"  {revocation_command(stack.api_url, stack.vendor_key)}",
        "",
        f"{READY_MARKER} in {seconds:.2f} s (Ctrl-C to stop)",
    ]
    return "\n".join(lines)


def _display_path(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------ as a subprocess


# What the stack must not inherit from the caller's shell: it builds these itself, or a caller sets them
# (an in-process bench run before it leaves its own resources' names in os.environ, gone since).
_INHERITED_PREFIXES_DROPPED = ("AWS_", "TRUSTEDFORM_", "RETRY_", "LOCAL_", "POWERTOOLS_", "CALLBACK_")
_INHERITED_NAMES_DROPPED = STACK_OWNED_VARIABLES | {"PORT", "MOTO_PORT", "SIMULATOR_PORT", "PYTHONDONTWRITEBYTECODE"}


class StackProcess:
    """``python -m local.stack`` as a user runs it (``make run``): a subprocess on free 127.0.0.1 ports,
    driven over HTTP. ``start()``; ``wait()`` for its ready line (its state file then says where
    everything is); ``stop()`` (SIGTERM, as Ctrl-C; killed if it does not exit). Also a context manager
    (start and wait; stop).

    ``settings``: environment variables for the stack on top of ``base_env`` (default: this process's),
    from which whatever would point it at another stack is dropped. Its stdout and stderr go to
    ``workdir`` (stdout.log, stderr.log), its state file too. ``root``: the checkout to run (a
    before/after pair of benches); ``own_session``: out of this process's group (a Ctrl-C here does not
    reach it; the caller stops it).
    """

    def __init__(
        self,
        workdir: Path,
        settings: Mapping[str, str] | None = None,
        *,
        base_env: Mapping[str, str] | None = None,
        root: Path = REPO_ROOT,
        own_session: bool = False,
    ) -> None:
        self.workdir = workdir
        self.state_file = workdir / "state.json"
        self.root = root
        self.own_session = own_session
        env = {
            name: value
            for name, value in (os.environ if base_env is None else base_env).items()
            if not name.startswith(_INHERITED_PREFIXES_DROPPED) and name not in _INHERITED_NAMES_DROPPED
        }
        env.update(
            PORT="0",
            MOTO_PORT="0",
            SIMULATOR_PORT="0",
            LOCAL_STACK_STATE=str(self.state_file),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join((str(root), str(root / "layers" / "common"))),
        )
        env.update(settings or {})
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []  # its stdout up to the ready line (the banner); all of it in stdout.log
        self.state: dict[str, Any] = {}
        self.ready_seconds = 0.0
        self._ready = threading.Event()
        self._started = 0.0

    def __enter__(self) -> StackProcess:
        return self.launch()

    def launch(self, timeout: float = 120.0) -> StackProcess:
        """``start()`` then ``wait()``; killed again if it does not become ready."""
        self.start()
        try:
            self.wait(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return str(self.state["api_url"])

    @property
    def simulator_url(self) -> str:
        return str(self.state["simulator_url"])

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def resources(self) -> Any:
        """Its resources (``local.provision.Provisioned``), as its state file names them."""
        return provisioned_from_state(self.state)

    def client(self, service: str) -> Any:
        """A boto3 client of its moto server (fake credentials: set_fake_credentials() in this process)."""
        from local.provision import aws_client

        return aws_client(service, str(self.state["region"]), str(self.state["endpoint_url"]))

    def start(self) -> StackProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._started = time.monotonic()
        with open(self.workdir / "stderr.log", "w", encoding="utf-8") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local.stack"],
                cwd=self.root,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=self.own_session,
            )
        threading.Thread(target=self._read_stdout, name="tf-stack-stdout", daemon=True).start()
        return self

    def _read_stdout(self) -> None:
        """Keeps the pipe drained for the stack's whole life (its workers may print), into stdout.log."""
        assert self.process is not None and self.process.stdout is not None
        with open(self.workdir / "stdout.log", "w", encoding="utf-8") as log_file:
            for line in self.process.stdout:
                log_file.write(line)
                log_file.flush()
                if not self._ready.is_set():
                    self.lines.append(line)
                    if READY_MARKER in line:
                        self._ready.set()

    def wait(self, timeout: float = 120.0) -> dict[str, Any]:
        """Until the ready line (then the state file, read); StartupError with its output if it exits
        first or ``timeout`` seconds pass."""
        assert self.process is not None, "not started"
        deadline = self._started + timeout
        while not self._ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                what = f"exited with {self.process.returncode}" if self.process.poll() is not None else "not ready"
                raise StartupError(
                    f"the local stack {what} after {time.monotonic() - self._started:.0f} s:\n"
                    f"{''.join(self.lines)[-3000:]}\n{self.stderr()[-3000:]}"
                )
        self.ready_seconds = time.monotonic() - self._started
        self.state = json.loads(self.state_file.read_text(encoding="utf-8"))
        for name in ("api_url", "simulator_url", "endpoint_url"):
            if not str(self.state[name]).startswith(f"http://{HOST}:"):
                raise StartupError(f"{name} {self.state[name]} is not on {HOST}")
        return self.state

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then its exit code (killed, -9, if it does not exit within ``timeout`` seconds)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.process.returncode)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stderr(self) -> str:
        try:
            return (self.workdir / "stderr.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    # -- what it uses (/proc) -------------------------------------------------------------------------

    def tree(self) -> list[int]:
        """The stack's pid and its live descendants' (its worker processes, their fork server)."""
        found, pending = [], [self.pid]
        while pending:
            pid = pending.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    pending += [int(child) for child in task.read_text().split()]
                except (OSError, ValueError):
                    continue
        return found

    def rss_mib(self) -> tuple[float, float]:
        """Resident memory, MiB: (the stack's process, which holds moto; with every descendant)."""
        sizes = [_proc_rss_kib(pid) for pid in self.tree()]
        return sizes[0] / 1024, sum(sizes) / 1024

    def cpu_seconds(self) -> float:
        """user + sys seconds of the stack and its live descendants so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return total


def _proc_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    for arg in argv or []:
        if arg == "--aws-faults" or arg.startswith("--aws-faults="):
            from local.faults import DEFAULT_SPEC

            os.environ["AWS_FAULTS"] = arg.partition("=")[2] or DEFAULT_SPEC
        else:
            print(__doc__, file=sys.stderr)
            return 0 if arg in ("-h", "--help") else 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s.%(msecs)03d %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )
    # botocore's "Found credentials...", moto's and httpx's request lines.
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Powertools warns on stderr after every invocation that published no metric (GET /leads/{id}, the
    # authorizer): noise next to the request log.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        # A second Ctrl-C while stopping: leave now. A second SIGTERM is no one insisting: `make run` killed
        # with its process group gets the kill's, then the one make forwards to its child.
        if done.is_set() and signum == signal.SIGINT:
            os._exit(1)
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a stack that stopped answering waits on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    sampler = None
    if os.environ.get(SAMPLE_ENV):
        sampler = Sampler(os.environ[SAMPLE_ENV])
        sampler.start()
    try:
        stack = start()
    except StartupError as exc:
        print(f"tf-retainer local stack cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    print(banner(stack, time.perf_counter() - _STARTED), flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        stopping = time.perf_counter()
        faults = stack.faults.summary() if stack.faults else None
        stack.stop()
        if sampler is not None:
            sampler.stop()
        log.info("stopped %s in %.2f s", ", ".join(stack.stopped), time.perf_counter() - stopping)
        if faults:
            log.info("AWS faults injected: %s", json.dumps(faults))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
