"""The clients the adapters run on, each call bounded in time, and what is read lazily: the rules, the
TrustedForm API key and the consumer key (none of them read by a function that does not use them)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from tf_retainer.runtime.settings import Settings

if TYPE_CHECKING:
    from tf_retainer.decisions.rulebook import RuleBook, RulesInForce


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
                    from tf_retainer.wiring.builders import build_rule_store

                    self._book = RuleBook(build_rule_store(self._settings, self._client), self._settings)
        return self._book(vendor)


def bounded(remote_call_seconds: float, *, attempts: int = 2, **extra: Any) -> Config:
    """A client config under which one call, retries included, ends within ``remote_call_seconds``: the
    per-invocation deadline of the use cases counts on it (botocore's defaults wait 60 s a read, and
    retry DynamoDB ten times)."""
    per_attempt = remote_call_seconds / attempts
    connect = min(0.5, per_attempt / 3)
    return Config(
        connect_timeout=connect,
        read_timeout=per_attempt - connect,
        retries={"mode": "standard", "total_max_attempts": attempts},
        **extra,
    )


class SecretApiKey:
    """The TrustedForm API key from Secrets Manager, imported on first use (the sweeper never reads it): one
    read, without retries, ends within ``remote_call_seconds``; or through a given client (the CLI's, on a
    target stack)."""

    def __init__(self, secret_id: str, remote_call_seconds: float, client: Any = None) -> None:
        self._secret_id, self._client = secret_id, client
        self._config = bounded(remote_call_seconds, attempts=1)
        self._provider: Any = None

    def __call__(self, force: bool) -> str:
        from tf_retainer.aws.secrets import bounded_provider, read_api_key, secrets_provider

        if self._provider is None:
            self._provider = bounded_provider(self._config) if self._client is None else secrets_provider(self._client)
        return read_api_key(self._provider, self._secret_id, force_fetch=force)


class SecretConsumerKey:
    """The consumer key from Secrets Manager (domain/keyring.py), read on first use, kept for the container's
    life (it never changes without a re-index); a read that fails reaches the store's callers as
    StoreUnavailable (no lead can be stored or found without it)."""

    def __init__(self, secret_id: str, remote_call_seconds: float, client: Any = None) -> None:
        self._secret_id, self._client = secret_id, client
        self._config = bounded(remote_call_seconds, attempts=1)

    def __call__(self) -> bytes:
        from tf_retainer.aws.secrets import bounded_provider, read_consumer_key, secrets_provider
        from tf_retainer.ports.leads import StoreUnavailable

        if not self._secret_id:
            raise StoreUnavailable("CONSUMER_KEY_SECRET_ID is not set: no consumer key to store or find a lead with")
        provider = bounded_provider(self._config) if self._client is None else secrets_provider(self._client)
        return read_consumer_key(provider, self._secret_id)


class LazyClient:
    """A boto3 client built on its first call: most leads never reach the retry queue, so the intake
    need not build an SQS client (~25 ms) before it answers them."""

    def __init__(self, service: str, config: Config | None = None) -> None:
        self._service, self._config = service, config
        self._client: Any = None
        self._building = threading.Lock()  # a retry batch's threads may all reach for it at once

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._building:
                if self._client is None:
                    self._client = boto3.client(self._service, config=self._config)
        return getattr(self._client, name)
