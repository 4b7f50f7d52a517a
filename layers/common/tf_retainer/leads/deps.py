"""What the lead use cases (intake, attempt, retry, sweep, lookup, the gate, revocations, contact reports)
work with: ports only.

``tf_retainer.wiring`` builds it from the real adapters; the unit tests from fakes (tests/support/fakes.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tf_retainer.domain.keyring import Keyring
from tf_retainer.ports.consent import CallingRulesSource, RevocationLedger
from tf_retainer.ports.leads import LeadIndex, LeadReader, LeadWriter
from tf_retainer.ports.screening import Screening
from tf_retainer.ports.services import ApiKeySource, CertificateApi, RetryQueue, RuleSource
from tf_retainer.runtime.settings import Settings


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Deps:
    settings: Settings
    writer: LeadWriter
    reader: LeadReader
    index: LeadIndex
    trustedform: CertificateApi
    retry_queue: RetryQueue
    api_key: ApiKeySource
    rules: RuleSource
    ledger: RevocationLedger
    calling: CallingRulesSource
    keyring: Keyring  # the consumer key's derivations (a vendor's lead id -> our lead id, a consumer's tokens)
    clock: Callable[[], datetime] = field(default=_now)
    new_id: Callable[[], str] = field(default=_new_id)
    # The screens of a lead's phone number (leads/screening.py): None when SCREENS names no provider.
    screening: Screening | None = None
