"""Shared fixtures: moto resources built from template.yaml, the TrustedForm simulator on 127.0.0.1,
and the local API Gateway that runs the real authorizer and handlers."""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import boto3
import pytest

if TYPE_CHECKING:
    from tf_retainer.store.lead_index import DynamoLeadIndex
    from tf_retainer.store.lead_reader import DynamoLeadReader
    from tf_retainer.store.lead_table import LeadTable
    from tf_retainer.store.lead_writer import DynamoLeadWriter

# Never reach a real AWS account from a test, whatever the developer's shell holds.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

import botocore.loaders  # noqa: E402
import botocore.session  # noqa: E402

from local.motolock import reuse_symmetric_kms_private_key, serialise_moto  # noqa: E402
from local.provision import load_template  # noqa: E402

# Powertools reads POWERTOOLS_SERVICE_NAME / _METRICS_NAMESPACE once, when tf_retainer.runtime.observability is
# first imported - by a unit test's import, perhaps, before any stack fixture sets the environment.
# Give the process the template's own values from the start.
for _name, _value in load_template()["Globals"]["Function"]["Environment"]["Variables"].items():
    if _name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
        os.environ[_name] = _value
from local.simulator import TrustedFormSimulator, make_web_cert_id  # noqa: E402

serialise_moto()
reuse_symmetric_kms_private_key()

# Every botocore Session builds its own loader, which re-reads and re-parses the service model JSON
# (~50 ms a session). Tests create many sessions (provision(), Powertools' secrets provider, moto's
# fresh default session in each mock_aws(), the functions' clients): share one loader per data path
# in this process. The models are read-only; what each session and client sees is unchanged.
botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)


@functools.cache
def aws_client(service: str) -> Any:
    """One client per service for the whole run: moto intercepts it inside every mock_aws() context."""
    return boto3.session.Session(region_name=os.environ["AWS_DEFAULT_REGION"]).client(service)


TF_API_KEY = "tf-test-key-0123456789abcdef"
VENDOR = "acme-leads"


@pytest.fixture(scope="session")
def simulator() -> Iterator[TrustedFormSimulator]:
    sim = TrustedFormSimulator(api_keys=(TF_API_KEY,))
    sim.start()
    yield sim
    sim.stop()


@dataclass
class Stack:
    """The service in-process: moto AWS, the simulator, the gateway in front of the real handlers."""

    sim: TrustedFormSimulator
    provisioned: Any
    gateway: Any
    vendor_key: str
    env: dict[str, str]
    screen_sims: Any = None  # the screening providers' simulators, with the ``screened`` fixture

    @property
    def dynamodb(self) -> Any:
        return aws_client("dynamodb")

    @property
    def sqs(self) -> Any:
        return aws_client("sqs")

    @cached_property
    def leads(self) -> LeadTable:

        return self.provisioned.lead_store(self.dynamodb)

    @property
    def reader(self) -> DynamoLeadReader:
        return self.leads.reader

    @property
    def writer(self) -> DynamoLeadWriter:
        return self.leads.writer

    @property
    def index(self) -> DynamoLeadIndex:
        return self.leads.index

    def lead_state(self, lead_id: str) -> dict[str, Any] | None:
        """The lead as stored (typed read), as a JSON-like dict."""
        lead = self.reader.get_lead(lead_id)
        return lead.model_dump(mode="json", exclude_none=True) if lead else None

    @cached_property
    def vendor_keys(self) -> Any:
        from tf_retainer.store.vendor_keys import VendorKeyStore

        return VendorKeyStore(self.provisioned.table_name, client=self.dynamodb)

    def post(
        self,
        payload: Any,
        *,
        form: bool = False,
        key: str | None = None,
        raw: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        if raw is None:
            raw = urlencode(payload).encode() if form else json.dumps(payload).encode()
        content_type = content_type or ("application/x-www-form-urlencoded" if form else "application/json")
        headers = {"Content-Type": content_type, "x-api-key": key if key is not None else self.vendor_key}
        return self.gateway.handle("POST", "/leads", headers, raw)

    def get(self, lead_id: str, *, key: str | None = None) -> Any:
        return self.gateway.handle("GET", f"/leads/{lead_id}", {"x-api-key": key or self.vendor_key}, b"")

    def add_vendor(self, name: str) -> str:
        from datetime import UTC, datetime

        key = secrets.token_urlsafe(24)
        self.vendor_keys.put(key, name, now=datetime.now(UTC))
        return key

    def retry_messages(self, *, wait: int = 0) -> list[dict[str, Any]]:
        out = self.sqs.receive_message(
            QueueUrl=self.provisioned.retry_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return out.get("Messages", [])

    def next_retry_messages(self, count: int = 1, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Up to ``count`` retry messages, received once visible: a retry is delayed a second or two here
        (FAST_RETRIES), and polled for up to ``timeout`` seconds, ten times that and more."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            messages += self.retry_messages(wait=1)
        return messages

    def queued(self) -> int:
        """Messages on the retry queue, delayed or not."""
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.provisioned.retry_queue_url, AttributeNames=["All"])
        names = (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
        )
        return sum(int(attributes["Attributes"][name]) for name in names)

    def all_items(self) -> list[dict[str, Any]]:
        """Every item of the table, what it stores made readable (what a test of what is stored must look
        into): a chain entry's compressed content as its text; a lead state's packed fields unpacked into
        the item, its sealed fingerprints and head hash as hex (sealed: not the fingerprints)."""
        from tf_retainer.domain import chain
        from tf_retainer.store.codec import deserialize
        from tf_retainer.store.lead_item import unpack

        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.provisioned.table_name)
        items = [deserialize(item) for page in pages for item in page["Items"]]
        for item in items:
            if "b" in item and "h" in item:
                item["content"] = chain.unpack(bytes(item.pop("b"))).decode()
                item["h"] = bytes(item["h"]).hex()
            if "s" in item and item.get("sk") == "STATE":
                item.update(unpack(bytes(item.pop("s"))))
                item["m"] = {kind: bytes(sealed).hex() for kind, sealed in (item.get("m") or {}).items()}
                if "head" in item:
                    item["head"] = bytes(item["head"]).hex()
        return items

    def rewrite_state(self, lead_id: str, **changes: Any) -> None:
        """Set fields of a lead's state as time, a crash or an insider would have left them (its open-index
        keys following), through the store's own codec, everything else of the item kept."""
        from tf_retainer.store.codec import deserialize, serialize

        table = self.leads.table
        key = serialize({"pk": f"LEAD#{lead_id}", "sk": "STATE"})
        raw = deserialize(self.dynamodb.get_item(TableName=table.name, Key=key, ConsistentRead=True)["Item"])
        stored = table.codec.lead(raw, with_match=True)
        lead = type(stored).model_validate({**stored.model_dump(), **changes})
        builder = self.leads.writer._items  # the request builder the store writes with
        fresh = deserialize(builder.new_lead(lead, ttl=raw["ttl"])["Put"]["Item"])
        kept = {name: value for name, value in raw.items() if name not in fresh and name not in _CODEC_FIELDS}
        self.dynamodb.put_item(TableName=table.name, Item=serialize({**fresh, **kept}))


# Attributes the codec writes (a rewritten state drops those its new fields no longer have).
_CODEC_FIELDS = frozenset(
    {"status", "attempts", "applied", "lease_until", "check_after", "head", "s", "m", "gsi2pk", "gsi2sk"}
)


FAST_RETRIES = {
    "RETRY_BASE_SECONDS": "1",
    "RETRY_CAP_SECONDS": "2",
    "ACCOUNT_ERROR_DELAY_SECONDS": "1",
    "RULES_CACHE_SECONDS": "0",  # a rule set a test publishes applies to its next lead
}


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Settings a test overrides (parametrize this fixture), on top of FAST_RETRIES."""
    return {}


@pytest.fixture
def stack(simulator, monkeypatch, stack_env) -> Iterator[Stack]:
    from moto import mock_aws
    from tf_retainer import wiring

    from local.apigw import LocalApiGateway
    from local.provision import provision

    simulator.reset()
    simulator.api_keys = (TF_API_KEY,)
    simulator.latency = 0.0
    # A fresh moto backend for every test. boto3's default session is kept across tests (moto would drop
    # it): it only ever holds this file's fake credentials, and rebuilding it costs every test a reload.
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        provisioned = provision(api_key=TF_API_KEY)
        env = {**provisioned.environment(), "TRUSTEDFORM_API_URL": simulator.base_url, **FAST_RETRIES, **stack_env}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        stack = Stack(
            sim=simulator, provisioned=provisioned, gateway=LocalApiGateway(authorizer_ttl=0), vendor_key="", env=env
        )
        stack.vendor_key = stack.add_vendor(VENDOR)
        yield stack
        wiring.reset()


@pytest.fixture(scope="session")
def screen_sims() -> Iterator[Any]:
    """The screening providers' simulators (DNC.com, Twilio Lookup, Blacklist Alliance) on 127.0.0.1."""
    from tests.support.screening import start_sims

    sims = start_sims()
    yield sims
    for sim in sims.all():
        sim.stop()


@pytest.fixture
def screens() -> dict[str, str]:
    """Which provider answers each screen in ``screened`` (parametrize this fixture)."""
    from tests.support.screening import ALL_SCREENS

    return dict(ALL_SCREENS)


@pytest.fixture
def screened(stack, screen_sims, screens, monkeypatch) -> Stack:
    """The stack with the screens on (the providers' simulators, their keys in moto, a KMS key): the buyer's
    screen rules decide which run for a lead. The calling hours are in shadow: the call gate asked at any hour
    answers on the screens (the law of the hour is test_consent.py's)."""
    from datetime import UTC, datetime

    from tf_retainer import wiring
    from tf_retainer.decisions.calling import CallingOverride
    from tf_retainer.store.calling_rules import CallingRuleStore

    from tests.support.screening import screening_env

    shadow_hours = CallingOverride(modes={"federal_hours": "shadow", "state_hours": "shadow"})
    CallingRuleStore(stack.leads.table).publish(shadow_hours, actor="test", now=datetime.now(UTC))
    screen_sims.reset()
    env = screening_env(screen_sims, aws_client("secretsmanager"), aws_client("kms"), screens)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stack.env.update(env)
    wiring.reset()
    stack.screen_sims = screen_sims
    return stack


def lead(cert_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A good lead, with a fresh web certificate unless one is given."""
    body = {
        "trustedform_cert_url": f"https://cert.trustedform.com/{cert_id or make_web_cert_id()}",
        "email": "Jane.Doe@Example.com",
        "phone": "(512) 555-1212",
    }
    body.update(fields)
    return body


@pytest.fixture
def service_logs() -> Iterator[io.StringIO]:
    """Everything the service logs, formatted exactly as Lambda would ship it (JSON)."""
    from tf_retainer.runtime.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    target = logging.getLogger(logger.name)
    target.addHandler(handler)
    yield stream
    target.removeHandler(handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that wait longest (``slow``: real queue time) start first, so that with xdist's ``load``
    scheduling they spread over the workers and overlap the rest, instead of one of them starting last
    and setting the suite's wall time on its own."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    # There the service runs in subprocesses, which coverage does not measure: tracing the test process
    # (its in-process moto server) would only slow the suite down.
    for item in items:
        if item.path.parent.name in SUBPROCESS_SUITES:
            item.add_marker(pytest.mark.no_cover)


SUBPROCESS_SUITES = frozenset({"crash", "concurrency", "e2e"})
