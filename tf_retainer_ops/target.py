"""Which tf-retainer the operator means: a deployed stack, the local stack, or explicit resources.

Resolution order: explicit ``--table`` (with ``--queue-url``/``--dlq-url``/``--endpoint-url``), then
``--local`` (``.local-stack/state.json``), then ``--stack NAME`` or ``$TF_RETAINER_STACK``.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import ValidationError
from tf_retainer.runtime.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = Path(".local-stack") / "state.json"
STACK_ENV = "TF_RETAINER_STACK"


class OpsError(Exception):
    """A problem the operator can fix, reported as one line (exit status ``code``)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Target:
    table_name: str
    retry_queue_url: str | None = None
    retry_dlq_url: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    usage_plan_id: str | None = None
    evidence_key_id: str | None = None  # the KMS HMAC key evidence bundles are signed with
    anchor_key_id: str | None = None  # the KMS HMAC key the evidence anchors are MACed with
    callback_key_id: str | None = None  # the KMS key vendors' callback secrets are sealed with
    consumer_key_secret_id: str | None = None  # the consumer key: finding a consumer's leads, a vendor's lead id
    dashboard_url: str | None = None
    events_queue_url: str | None = None  # the example rule's queue: every outcome event
    archive_bucket: str | None = None  # the evidence archive (ArchiveBucketName)
    stack_name: str | None = None
    # The local stack's function environment (the service's settings), from its state file.
    service_environment: dict[str, str] | None = None
    source: str = "explicit"
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def deployed(self) -> bool:
        return self.source == "stack"

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = make_client(service, region=self.region, endpoint_url=self.endpoint_url)
        return self._clients[service]

    def settings(self, **values: Any) -> Settings:
        """The service's settings as far as the CLI knows them: this target's table, retry queue and archive
        bucket, ``values`` over them, the service's defaults for the rest (the evidence retention the CLI's
        writes get among them). The API key's secret is not the CLI's to read from here."""
        known = {
            "table_name": self.table_name,
            "retry_queue_url": self.retry_queue_url or "-",
            "trustedform_secret_id": "-",
            "consumer_key_secret_id": self.consumer_key_secret_id or "",
            "archive_bucket": self.archive_bucket or "",
        }
        try:
            return Settings.model_validate(known | values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise OpsError(f"the target's settings are invalid ({problems})") from exc

    def need_queue(self) -> str:
        if not self.retry_queue_url:
            raise OpsError("this command needs the retry queue: pass --queue-url, or use --stack / --local")
        return self.retry_queue_url

    def need_dlq(self) -> str:
        if not self.retry_dlq_url:
            raise OpsError("this command needs the retry dead-letter queue: pass --dlq-url, or use --stack / --local")
        return self.retry_dlq_url

    def need_events_queue(self) -> str:
        if not self.events_queue_url:
            raise OpsError("this command needs the outcome events' queue (LeadEventsQueueUrl): use --stack / --local")
        return self.events_queue_url

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "stack": self.stack_name,
            "table": self.table_name,
            "retry_queue_url": self.retry_queue_url,
            "retry_dlq_url": self.retry_dlq_url,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
        }


def make_client(service: str, *, region: str | None = None, endpoint_url: str | None = None) -> Any:
    # Few retries: an operator wants a quick answer, and moto's 500 NotImplemented (SQS message move
    # tasks) would otherwise be retried for seconds.
    attempts = 1 if service == "sqs" else 3
    config = Config(retries={"max_attempts": attempts, "mode": "standard"}, connect_timeout=3, read_timeout=30)
    session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
    credentials: dict[str, str] = {}
    if endpoint_url and session.get_credentials() is None:
        # The local stack (moto) takes any credentials; don't fail on a machine that has none.
        credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if session.region_name is None:
        if endpoint_url:
            session = boto3.session.Session(region_name="us-east-1")
        else:
            raise OpsError("no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION")
    return session.client(service, endpoint_url=endpoint_url, config=config, **credentials)


def resolve(args: Any, *, cwd: Path | None = None) -> Target:
    """The target from parsed CLI arguments (attributes: table, queue_url, dlq_url, endpoint_url,
    usage_plan_id, local, stack, region)."""
    region = getattr(args, "region", None)
    if getattr(args, "table", None):
        return Target(
            table_name=args.table,
            retry_queue_url=getattr(args, "queue_url", None),
            retry_dlq_url=getattr(args, "dlq_url", None),
            endpoint_url=getattr(args, "endpoint_url", None),
            region=region,
            usage_plan_id=getattr(args, "usage_plan_id", None),
            evidence_key_id=getattr(args, "evidence_key_id", None),
            anchor_key_id=getattr(args, "anchor_key_id", None),
            callback_key_id=getattr(args, "callback_key_id", None),
            consumer_key_secret_id=getattr(args, "consumer_key_secret", None),
            events_queue_url=getattr(args, "events_queue_url", None),
            archive_bucket=getattr(args, "archive_bucket", None),
            source="explicit",
        )
    if getattr(args, "local", False):
        return from_local_state(cwd=cwd)
    stack = getattr(args, "stack", None) or os.environ.get(STACK_ENV)
    if stack:
        return from_stack(stack, region=region, endpoint_url=getattr(args, "endpoint_url", None))
    raise OpsError(f"no target: pass --stack NAME (or set {STACK_ENV}), --local, or --table/--queue-url/--dlq-url")


def find_state_file(cwd: Path | None = None) -> Path | None:
    for base in (cwd or Path.cwd(), REPO_ROOT):
        candidate = base / STATE_FILE
        if candidate.is_file():
            return candidate
    return None


def from_local_state(*, cwd: Path | None = None) -> Target:
    path = find_state_file(cwd)
    if path is None:
        raise OpsError("local stack not running: start it with make run")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        endpoint_url = state["endpoint_url"]
        table_name = state["table_name"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OpsError(f"local stack state file {path} is unreadable ({exc}): restart it with make run") from exc
    _check_reachable(endpoint_url)
    return Target(
        table_name=table_name,
        retry_queue_url=state.get("retry_queue_url"),
        retry_dlq_url=state.get("retry_dlq_url"),
        endpoint_url=endpoint_url,
        region=state.get("region") or "us-east-1",
        evidence_key_id=state.get("evidence_key_id"),
        anchor_key_id=state.get("anchor_key_id"),
        callback_key_id=state.get("callback_key_id"),
        consumer_key_secret_id=state.get("consumer_key_secret_id"),
        events_queue_url=state.get("events_queue_url"),
        service_environment=state.get("service_environment"),
        archive_bucket=state.get("archive_bucket"),
        source="local",
    )


def _check_reachable(endpoint_url: str) -> None:
    parts = urlsplit(endpoint_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=2):
            pass
    except OSError as exc:
        raise OpsError(
            f"local stack not reachable at {endpoint_url} ({exc.strerror or exc}): start it with make run"
        ) from exc


def from_stack(name: str, *, region: str | None = None, endpoint_url: str | None = None) -> Target:
    cloudformation = make_client("cloudformation", region=region, endpoint_url=endpoint_url)
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if "does not exist" in message:
            where = cloudformation.meta.region_name
            raise OpsError(f"stack {name} not found in {where}: check --stack / --region") from exc
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if "LeadsTableName" not in outputs:
        raise OpsError(f"stack {name} has no LeadsTableName output: is it a tf-retainer stack?")
    return Target(
        table_name=outputs["LeadsTableName"],
        retry_queue_url=outputs.get("RetryQueueUrl"),
        retry_dlq_url=outputs.get("RetryDeadLetterQueueUrl"),
        endpoint_url=endpoint_url,
        region=cloudformation.meta.region_name,
        usage_plan_id=outputs.get("UsagePlanId"),
        evidence_key_id=outputs.get("EvidenceKeyId"),
        anchor_key_id=outputs.get("AnchorKeyId"),
        callback_key_id=outputs.get("CallbackSecretKeyId"),
        consumer_key_secret_id=outputs.get("ConsumerKeySecretArn"),
        dashboard_url=outputs.get("DashboardUrl"),
        events_queue_url=outputs.get("LeadEventsQueueUrl"),
        archive_bucket=outputs.get("ArchiveBucketName"),
        stack_name=name,
        source="stack",
    )
