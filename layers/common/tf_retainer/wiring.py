"""The composition root: every adapter is built here, from typed ports, and nowhere else.

Each handler asks for what its use cases need, built once per Lambda container and reused:
``default_deps()`` (intake, retry, sweeper, holds), ``event_bus()`` (publisher), ``callback_deps()``
(callback), ``vendor_keys()`` (authorizer, auto-suspend, archiver), ``lead_table()``, ``hold_store()``,
``archive_marks()``, ``s3()``. Each is made by a ``build_*`` function from settings and an explicit client;
the operator CLI calls the same functions with a target stack's settings and clients (``build_deps``,
``build_lead_table``, ``build_vendor_keys``, ...). ``reset()`` drops them all: the local stack's "new
container".

Each function imports only what it uses: adapters are imported inside the builder that makes them (the
sweeper never loads the rules or the secret, the authorizer never the lead store); the TrustedForm client
imports httpx on its first retain, and the SQS client is built on its first call.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from tf_retainer.leads.deps import Deps
from tf_retainer.runtime.settings import Settings, get_settings
from tf_retainer.wiring_consent import build_calling_book, build_revocations

if TYPE_CHECKING:
    from tf_retainer.aws.archive_bucket import S3ArchiveBucket
    from tf_retainer.aws.event_bus import EventBridgeBus
    from tf_retainer.aws.queues import SqsRetryQueue
    from tf_retainer.decisions.rulebook import RuleBook, RulesInForce
    from tf_retainer.events.delivery import CallbackDeps
    from tf_retainer.evidence.archive import Archiver
    from tf_retainer.ports.services import ApiKeySource, CertificateApi, PublishedEntry
    from tf_retainer.store.archive_marks import ArchiveMarks
    from tf_retainer.store.lead_table import LeadTable
    from tf_retainer.store.legal_holds import HoldStore
    from tf_retainer.store.rule_sets import RuleStore
    from tf_retainer.store.vendor_callbacks import VendorCallbackStore
    from tf_retainer.store.vendor_keys import VendorKeyStore


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


@lru_cache(maxsize=1)
def dynamodb() -> Any:
    """One client (and connection pool) for everything in the table, each call bounded in time. botocore's
    own check of every request against the API model is a fifth of a retry's CPU per record (a batch's
    records share one GIL); the requests are built by the store, tested, and validated by DynamoDB anyway."""
    return boto3.client("dynamodb", config=bounded(get_settings().remote_call_seconds, parameter_validation=False))


def build_lead_table(settings: Settings, client: Any) -> LeadTable:
    from tf_retainer.store.lead_table import lead_table as build

    return build(settings.table_name, retention_days=settings.evidence_retention_days, client=client)


def build_vendor_keys(settings: Settings, client: Any) -> VendorKeyStore:
    from tf_retainer.store.vendor_keys import VendorKeyStore

    return VendorKeyStore(settings.table_name, client=client)


def build_hold_store(settings: Settings, client: Any) -> HoldStore:
    from tf_retainer.store.legal_holds import HoldStore

    return HoldStore(settings.table_name, client=client)


def build_archive_marks(settings: Settings, client: Any) -> ArchiveMarks:
    from tf_retainer.store.archive_marks import ArchiveMarks

    return ArchiveMarks(settings.table_name, client=client)


def build_rule_store(settings: Settings, client: Any) -> RuleStore:
    from tf_retainer.store.rule_sets import RuleStore

    return RuleStore(settings.table_name, client=client)


def build_vendor_callbacks(settings: Settings, client: Any) -> VendorCallbackStore:
    from tf_retainer.store.vendor_callbacks import VendorCallbackStore

    return VendorCallbackStore(settings.table_name, client=client)


def build_archive_bucket(settings: Settings, s3: Any) -> S3ArchiveBucket:
    """The archive bucket the settings name (an archived part's own URI names its bucket: reading one back,
    or holding it, needs no name)."""
    from tf_retainer.aws.archive_bucket import S3ArchiveBucket

    return S3ArchiveBucket(s3, settings.archive_bucket)


def build_retry_queue(settings: Settings, sqs: Any) -> SqsRetryQueue:
    from tf_retainer.aws.queues import SqsRetryQueue

    return SqsRetryQueue(sqs, settings.retry_queue_url)


def build_api_key(settings: Settings, secretsmanager: Any = None) -> ApiKeySource:
    """The TrustedForm API key the settings name: on a bounded client of its own, or ``secretsmanager``."""
    return SecretApiKey(settings.trustedform_secret_id, settings.remote_call_seconds, secretsmanager)


def build_deps(
    settings: Settings,
    *,
    table: LeadTable,
    sqs: Any,
    api_key: ApiKeySource | None = None,
    trustedform: CertificateApi | None = None,
) -> Deps:
    """The lead use cases' dependencies from a table and an SQS client (Lambda's, or a deployed stack's)."""
    if trustedform is None:
        from tf_retainer.providers.trustedform.client import TrustedFormClient

        trustedform = TrustedFormClient(settings.trustedform_base_url, connect_timeout=settings.connect_timeout_seconds)
    return Deps(
        settings=settings,
        writer=table.writer,
        reader=table.reader,
        index=table.index,
        trustedform=trustedform,
        retry_queue=build_retry_queue(settings, sqs),
        api_key=api_key or build_api_key(settings),
        rules=LazyRules(settings, table.table.client),
        ledger=build_revocations(settings, table.table),
        calling=build_calling_book(settings, table.table),
    )


@lru_cache(maxsize=1)
def lead_table() -> LeadTable:
    return build_lead_table(get_settings(), dynamodb())


@lru_cache(maxsize=1)
def default_deps() -> Deps:
    """Built once per Lambda container (or process): clients and connection pools are reused. The
    TrustedForm client builds its connection pool (and imports httpx) on its first retain."""
    settings = get_settings()
    return build_deps(settings, table=lead_table(), sqs=LazyClient("sqs", bounded(settings.remote_call_seconds)))


@lru_cache(maxsize=1)
def vendor_keys() -> VendorKeyStore:
    """The authorizer's one store (it never loads the lead store)."""
    return build_vendor_keys(get_settings(), dynamodb())


@lru_cache(maxsize=1)
def hold_store() -> HoldStore:
    return build_hold_store(get_settings(), dynamodb())


@lru_cache(maxsize=1)
def archive_marks() -> ArchiveMarks:
    return build_archive_marks(get_settings(), dynamodb())


@lru_cache(maxsize=1)
def s3() -> Any:
    return boto3.client("s3")


def archive_bucket() -> S3ArchiveBucket:
    return build_archive_bucket(get_settings(), s3())


def archiver() -> Archiver:
    """The archiver over the shared table client (its settings read afresh: one run an hour)."""
    from tf_retainer.evidence.archive import Archiver

    settings = get_settings()
    return Archiver(
        leads=lead_table(),
        marks=archive_marks(),
        bucket=archive_bucket(),
        after_days=settings.archive_after_days,
        grace_days=settings.archive_grace_days,
        lookback_days=settings.archive_lookback_days,
    )


@lru_cache(maxsize=1)
def event_bus() -> EventBridgeBus:
    """The publisher's bus: one EventBridge client."""
    from tf_retainer.aws.event_bus import EventBridgeBus

    settings = get_settings()
    if not settings.event_bus_name:
        raise RuntimeError("EVENT_BUS_NAME is not set: the publisher has nowhere to publish")
    return EventBridgeBus(boto3.client("events"), settings.event_bus_name)


@lru_cache(maxsize=1)
def callback_deps() -> CallbackDeps:
    """The callback function's: one HTTP connection pool, the callbacks store, one SQS client."""
    import httpx

    from tf_retainer.events.delivery import CallbackDeps

    settings = get_settings()
    return CallbackDeps(
        settings=settings,
        callbacks=build_vendor_callbacks(settings, dynamodb()),
        sqs=boto3.client("sqs"),
        # Never the environment's proxies: the connection goes to the address the checks approved.
        http=httpx.Client(
            timeout=httpx.Timeout(settings.callback_timeout_seconds), trust_env=False, follow_redirects=False
        ),
    )


def published_entry(new_image: dict[str, Any]) -> PublishedEntry | None:
    """What a DynamoDB stream record's new image holds for the publisher (the stream's adapter)."""
    from tf_retainer.store.stream import published_in

    return published_in(new_image)


BUILDERS = (
    dynamodb,
    lead_table,
    default_deps,
    vendor_keys,
    hold_store,
    archive_marks,
    s3,
    event_bus,
    callback_deps,
)


def reset() -> None:
    """Forget settings, every built adapter and the cached secret: a new Lambda container, as far as the
    service knows (the local stack and the tests, whenever the environment changes under one process).
    Closes the connection pools that were opened."""
    if default_deps.cache_info().currsize:
        default_deps().trustedform.close()
    if callback_deps.cache_info().currsize:
        callback_deps().http.close()
    for builder in BUILDERS:
        builder.cache_clear()
    get_settings.cache_clear()
    from tf_retainer.aws.secrets import forget_cached_keys

    forget_cached_keys()
