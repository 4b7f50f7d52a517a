"""The composition root: every adapter is built here, from typed ports, and nowhere else.

Each handler asks for what its use cases need, built once per Lambda container and reused:
``default_deps()`` (intake, retry, sweeper, holds), ``event_bus()`` (publisher), ``callback_deps()``
(callback), ``vendor_keys()`` (authorizer, auto-suspend, archiver), ``lead_table()``, ``hold_store()``,
``archive_marks()``, ``s3()``, ``anchorer()`` (anchor). Each is made by a ``build_*`` function from
settings and an explicit client; the operator CLI calls the same functions with a target stack's settings
and clients (``build_deps``, ``build_lead_table``, ``build_vendor_keys``, ...). ``reset()`` drops them
all: the local stack's "new container".

Each function imports only what it uses: adapters are imported inside the builder that makes them (the
sweeper never loads the rules or the secret, the authorizer never the lead store); the TrustedForm client
imports httpx on its first retain, and the SQS client is built on its first call.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3

from tf_retainer.runtime.settings import get_settings
from tf_retainer.wiring.builders import (
    build_anchor_mac,
    build_anchor_store,
    build_api_key,
    build_archive_bucket,
    build_archive_marks,
    build_deps,
    build_hold_store,
    build_keyring,
    build_lead_table,
    build_retry_queue,
    build_rule_store,
    build_vendor_callbacks,
    build_vendor_keys,
)
from tf_retainer.wiring.clients import LazyClient, bounded
from tf_retainer.wiring.consent import build_calling_rules, build_revocations

if TYPE_CHECKING:
    from tf_retainer.aws.archive_bucket import S3ArchiveBucket
    from tf_retainer.aws.event_bus import EventBridgeBus
    from tf_retainer.domain.anchors import Written
    from tf_retainer.events.delivery import CallbackDeps
    from tf_retainer.evidence.anchoring import Anchorer
    from tf_retainer.evidence.archive import Archiver
    from tf_retainer.leads.deps import Deps
    from tf_retainer.ports.services import PublishedEntry
    from tf_retainer.store.archive_marks import ArchiveMarks
    from tf_retainer.store.lead_table import LeadTable
    from tf_retainer.store.legal_holds import HoldStore
    from tf_retainer.store.vendor_keys import VendorKeyStore

__all__ = [  # the builders the operator CLI uses on a target stack's settings and clients
    "build_anchor_mac",
    "build_anchor_store",
    "build_api_key",
    "build_archive_bucket",
    "build_archive_marks",
    "build_calling_rules",
    "build_deps",
    "build_hold_store",
    "build_keyring",
    "build_lead_table",
    "build_retry_queue",
    "build_revocations",
    "build_rule_store",
    "build_vendor_callbacks",
    "build_vendor_keys",
]


@lru_cache(maxsize=1)
def dynamodb() -> Any:
    """One client (and connection pool) for everything in the table, each call bounded in time, a throttled
    call sent again within that bound (store/throttling.py). botocore's own check of every request against
    the API model is a fifth of a retry's CPU per record (a batch's records share one GIL); the requests
    are built by the store, tested, and validated by DynamoDB anyway."""
    from tf_retainer.store.throttling import wait_out_throttling

    seconds = get_settings().remote_call_seconds
    client = boto3.client("dynamodb", config=bounded(seconds, parameter_validation=False))
    return wait_out_throttling(client, within_seconds=seconds)


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
        # KMS opens the vendors' sealed secrets (one call per vendor and secret: the store keeps them opened).
        callbacks=build_vendor_callbacks(
            settings, dynamodb(), kms=LazyClient("kms", bounded(settings.remote_call_seconds))
        ),
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


@lru_cache(maxsize=1)
def anchorer() -> Anchorer:
    """AnchorFunction's: the anchors in the archive bucket, their MAC under the anchor key (one KMS call a
    document), each call bounded in time."""
    from tf_retainer.evidence.anchoring import Anchorer

    settings = get_settings()
    if not (settings.archive_bucket and settings.anchor_key_id):
        raise RuntimeError("ARCHIVE_BUCKET and ANCHOR_KEY_ID must be set: the anchors have nowhere to go")
    config = bounded(settings.remote_call_seconds)
    return Anchorer(
        build_anchor_store(settings, boto3.client("s3", config=config)),
        build_anchor_mac(boto3.client("kms", config=config), settings.anchor_key_id),
    )


def written_entry(record: dict[str, Any]) -> Written | None:
    """What a DynamoDB stream record says was written to a lead's chain (the stream's adapter), to anchor."""
    from tf_retainer.store.stream import written_in

    return written_in(record)


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
    anchorer,
)


def reset() -> None:
    """Forget settings, every built adapter and the cached secret: a new Lambda container, as far as the
    service knows (the local stack and the tests, whenever the environment changes under one process).
    Closes the connection pools that were opened."""
    if default_deps.cache_info().currsize:
        deps = default_deps()
        deps.trustedform.close()
        if deps.screening is not None:
            deps.screening.close()
    if callback_deps.cache_info().currsize:
        callback_deps().http.close()
    for builder in BUILDERS:
        builder.cache_clear()
    get_settings.cache_clear()
    from tf_retainer.aws.secrets import forget_cached_keys

    forget_cached_keys()
