"""What the use cases work with: real AWS/TrustedForm clients in Lambda; moto, the simulator and a
fixed clock in tests.

Each function imports only what it uses: the rules and the secret are imported by the use cases that
need them (tf_retainer.leads.attempt), not here, so the sweeper, which needs neither, never loads them; the
TrustedForm client imports httpx on its first retain, and the SQS client is built on its first call."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from tf_retainer.runtime.settings import Settings, get_settings
from tf_retainer.store.leads import LeadStore

if TYPE_CHECKING:
    from tf_retainer.decisions.rulebook import RuleBook, RulesInForce
    from tf_retainer.providers.trustedform.client import TrustedFormClient


@dataclass
class Deps:
    settings: Settings
    store: LeadStore
    trustedform: TrustedFormClient
    sqs: Any
    api_key: Callable[[bool], str]  # force a re-read (True) after a 401: the key may have been rotated
    rules: Callable[[str], RulesInForce]  # the rules in force for a vendor
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)


class LazyRules:
    """The rules in force for a vendor, from a RuleBook built on the first call (see the module's note)."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self._settings, self._client = settings, client
        self._book: RuleBook | None = None
        self._building = threading.Lock()

    def __call__(self, vendor: str) -> RulesInForce:
        if self._book is None:
            with self._building:
                if self._book is None:
                    from tf_retainer.decisions.rulebook import RuleBook
                    from tf_retainer.store.rule_sets import RuleStore

                    self._book = RuleBook(RuleStore(self._settings.table_name, client=self._client), self._settings)
        return self._book(vendor)


def _api_key(secret_id: str) -> Callable[[bool], str]:
    def read(force: bool) -> str:
        from tf_retainer.aws.secrets import get_api_key

        return get_api_key(secret_id, force_fetch=force)

    return read


class LazyClient:
    """A boto3 client built on its first call: most leads never reach the retry queue, so the intake
    need not build an SQS client (~25 ms) before it answers them."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._client: Any = None
        self._building = threading.Lock()  # a retry batch's threads may all reach for it at once

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._building:
                if self._client is None:
                    self._client = boto3.client(self._service)
        return getattr(self._client, name)


@lru_cache(maxsize=1)
def default_deps() -> Deps:
    """Built once per Lambda container (or process): clients and connection pools are reused. The
    TrustedForm client builds its connection pool (and imports httpx) on its first retain."""
    from tf_retainer.providers.trustedform.client import TrustedFormClient

    settings = get_settings()
    # One client (and connection pool) for the leads and the rules. botocore's own check of every
    # request against the API model is a fifth of a retry's CPU per record (a batch's records share one
    # GIL); the requests are built by the store, tested, and validated by DynamoDB anyway.
    dynamodb = boto3.client("dynamodb", config=Config(parameter_validation=False))
    return Deps(
        settings=settings,
        store=LeadStore(settings.table_name, retention_days=settings.evidence_retention_days, client=dynamodb),
        trustedform=TrustedFormClient(settings.trustedform_base_url, connect_timeout=settings.connect_timeout_seconds),
        sqs=LazyClient("sqs"),
        api_key=_api_key(settings.trustedform_secret_id),
        rules=LazyRules(settings, dynamodb),
    )
