"""The composition root's part for the screens (builders.build_deps calls this only when SCREENS names a
provider): the screening adapters, their keys, the shared per-number results and the sealed phone numbers.
Each provider's API URL is its production host or a loopback simulator (runtime/settings.py)."""

from __future__ import annotations

from typing import Any

from tf_retainer.domain.screens import Provider, Screen
from tf_retainer.ports.screening import Screening
from tf_retainer.runtime.settings import Settings
from tf_retainer.wiring.clients import LazyClient, bounded


class SecretCredentials:
    """The screening providers' keys, each from its own secret (JSON with the adapter's CREDENTIALS fields),
    read like the TrustedForm key: bounded, cached, re-read on demand (``force``)."""

    def __init__(self, settings: Settings, fields: dict[Provider, tuple[str, ...]], client: Any = None) -> None:
        self._settings, self._fields, self._client = settings, fields, client
        self._config = bounded(settings.remote_call_seconds, attempts=1)
        self._provider: Any = None

    def __call__(self, provider: Provider, force: bool) -> dict[str, str]:
        from tf_retainer.aws.secrets import bounded_provider, read_fields, secrets_provider

        if self._provider is None:
            self._provider = bounded_provider(self._config) if self._client is None else secrets_provider(self._client)
        secret_id = getattr(self._settings, f"{provider.value}_secret_id")
        return read_fields(self._provider, secret_id, self._fields[provider], owner=provider.value, force_fetch=force)


def build_screening(
    settings: Settings, *, dynamodb: Any, kms: Any = None, secretsmanager: Any = None, transport: Any = None
) -> Screening | None:
    """The screening providers SCREENS names (None: no screen is on), their keys, the shared results and the
    sealed phone numbers; each provider's API URL is its production host or a loopback simulator (settings)."""
    if not settings.screens:
        return None
    from tf_retainer.aws.contact_key import KmsContactSeal
    from tf_retainer.ports.screening import Screening
    from tf_retainer.providers.screening.blacklist_alliance import BlacklistAlliance
    from tf_retainer.providers.screening.dncscrub import DncScrub
    from tf_retainer.providers.screening.twilio_lookup import TwilioLookup
    from tf_retainer.store.screen_results import DynamoScreenResults

    timeout = {"connect_timeout": settings.connect_timeout_seconds, "transport": transport}
    url = lambda value: str(value).rstrip("/")  # noqa: E731
    adapters = {
        Provider.BLACKLIST_ALLIANCE: lambda: BlacklistAlliance(
            {"api": url(settings.blacklist_alliance_api_url)}, **timeout
        ),
        Provider.DNCSCRUB: lambda: DncScrub(
            {"scrub": url(settings.dncscrub_api_url), "data": url(settings.dncscrub_data_api_url)},
            project_id=settings.dncscrub_project_id,
            **timeout,
        ),
        Provider.TWILIO_LOOKUP: lambda: TwilioLookup({"api": url(settings.twilio_lookup_api_url)}, **timeout),
    }
    named = {Provider(name) for screen, name in settings.screens.items() if Screen(screen).of_number}
    built = {provider: adapters[provider]() for provider in named}
    fields = {provider: adapter.CREDENTIALS for provider, adapter in built.items()}
    consent_record = None
    if settings.screens.get(Screen.LEADID.value) == Provider.JORNAYA.value:
        from tf_retainer.providers.screening.jornaya import Jornaya

        consent_record = Jornaya({"api": url(settings.jornaya_api_url)}, **timeout)
        fields[Provider.JORNAYA] = Jornaya.CREDENTIALS
    return Screening(
        adapters=built,
        credentials=SecretCredentials(settings, fields, secretsmanager),
        results=DynamoScreenResults(settings.table_name, client=dynamodb),
        seal=KmsContactSeal(kms or LazyClient("kms", bounded(settings.remote_call_seconds)), settings.contact_key_id),
        consent_record=consent_record,
    )
