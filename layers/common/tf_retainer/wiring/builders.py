"""Every adapter, built from settings and an explicit client: what the per-container functions of
``tf_retainer.wiring`` build Lambda's from, and what the operator CLI builds a target stack's from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tf_retainer.domain.keyring import Keyring
from tf_retainer.runtime.settings import Settings
from tf_retainer.wiring.clients import LazyRules, SecretApiKey, SecretConsumerKey
from tf_retainer.wiring.consent import build_calling_book, build_revocations

if TYPE_CHECKING:
    from tf_retainer.aws.anchor_bucket import S3AnchorBucket
    from tf_retainer.aws.archive_bucket import S3ArchiveBucket
    from tf_retainer.aws.kms_mac import KmsMac
    from tf_retainer.aws.queues import SqsRetryQueue
    from tf_retainer.leads.deps import Deps
    from tf_retainer.ports.screening import Screening
    from tf_retainer.ports.services import ApiKeySource, CertificateApi
    from tf_retainer.store.archive_marks import ArchiveMarks
    from tf_retainer.store.lead_table import LeadTable
    from tf_retainer.store.legal_holds import HoldStore
    from tf_retainer.store.rule_sets import RuleStore
    from tf_retainer.store.vendor_callbacks import VendorCallbackStore
    from tf_retainer.store.vendor_keys import VendorKeyStore


def build_keyring(settings: Settings, secretsmanager: Any = None) -> Keyring:
    """The deployment's consumer key (read on first use): on a bounded client of its own, or ``secretsmanager``."""
    return Keyring(SecretConsumerKey(settings.consumer_key_secret_id, settings.remote_call_seconds, secretsmanager))


def build_lead_table(settings: Settings, client: Any, keyring: Keyring | None = None) -> LeadTable:
    from tf_retainer.store.lead_table import lead_table as build

    keyring = keyring or build_keyring(settings)
    return build(
        settings.table_name,
        retention_days=settings.evidence_retention_days,
        client=client,
        keyring=keyring,
        in_flight_seconds=settings.received_grace_seconds,
    )


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


def build_vendor_callbacks(
    settings: Settings, client: Any, *, kms: Any = None, key_id: str = ""
) -> VendorCallbackStore:
    """The callbacks store; ``kms`` and ``key_id`` (default the settings' CALLBACK_SECRET_KEY_ID) seal and open
    the vendors' secrets."""
    from tf_retainer.store.vendor_callbacks import VendorCallbackStore

    return VendorCallbackStore(
        settings.table_name, client=client, kms=kms, key_id=key_id or settings.callback_secret_key_id
    )


def build_archive_bucket(settings: Settings, s3: Any) -> S3ArchiveBucket:
    """The archive bucket the settings name (an archived part's own URI names its bucket: reading one back,
    or holding it, needs no name)."""
    from tf_retainer.aws.archive_bucket import S3ArchiveBucket

    return S3ArchiveBucket(s3, settings.archive_bucket)


def build_anchor_store(settings: Settings, s3: Any) -> S3AnchorBucket:
    """The evidence anchors, in the archive bucket the settings name."""
    from tf_retainer.aws.anchor_bucket import S3AnchorBucket

    return S3AnchorBucket(s3, settings.archive_bucket)


def build_anchor_mac(kms: Any, key_id: str) -> KmsMac:
    """The anchors' MAC under ``key_id`` (a KMS HMAC key): made by AnchorFunction, checked by the CLI."""
    from tf_retainer.aws.kms_mac import KmsMac

    return KmsMac(kms, key_id)


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
    screening: Screening | None = None,
) -> Deps:
    """The lead use cases' dependencies from a table and an SQS client (Lambda's, or a deployed stack's)."""
    from tf_retainer.leads.deps import Deps  # the lead use cases' ports: only the functions that run them

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
        keyring=table.keyring,
        screening=screening or _screening(settings, table.table.client),
    )


def _screening(settings: Settings, dynamodb: Any) -> Screening | None:
    if not settings.screens:  # off: nothing of the screens is imported
        return None
    from tf_retainer.wiring.screening import build_screening

    return build_screening(settings, dynamodb=dynamodb)
