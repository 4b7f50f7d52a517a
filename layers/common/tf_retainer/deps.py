"""What the use cases work with: real AWS/TrustedForm clients in Lambda; moto, the simulator and a
fixed clock in tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import boto3

from .rulebook import RuleBook, RulesInForce
from .secrets import get_api_key
from .settings import Settings, get_settings
from .store.leads import LeadStore
from .store.rules import RuleStore
from .trustedform import TrustedFormClient


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


@lru_cache(maxsize=1)
def default_deps() -> Deps:
    """Built once per Lambda container (or process): clients and connection pools are reused."""
    settings = get_settings()
    return Deps(
        settings=settings,
        store=LeadStore(settings.table_name, retention_days=settings.evidence_retention_days),
        trustedform=TrustedFormClient(settings.trustedform_base_url, connect_timeout=settings.connect_timeout_seconds),
        sqs=boto3.client("sqs"),
        api_key=lambda force: get_api_key(settings.trustedform_secret_id, force_fetch=force),
        rules=RuleBook(RuleStore(settings.table_name), settings),
    )
