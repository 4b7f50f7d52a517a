"""The buyer's TrustedForm API key and the deployment's consumer key, from Secrets Manager, cached between
invocations.

One way to read each, whichever client reads it: Lambda's (Powertools' default provider) or the operator
CLI's (a provider on a deployed stack's client).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.ports.services import ApiKeyUnavailable

CACHE_SECONDS = 300
# The consumer key never changes under a deployment (its tokens are index keys): read once a container.
CONSUMER_KEY_CACHE_SECONDS = 24 * 3600
# A generated secret string of 64 letters and digits: about 380 bits.
MIN_CONSUMER_KEY_LENGTH = 32


def read_api_key(provider: Any, secret_id: str, *, force_fetch: bool = False) -> str:
    """The key in a ``{"api_key": ...}`` secret, through a Powertools SecretsProvider (its cache included)."""
    return read_fields(provider, secret_id, ("api_key",), owner="TrustedForm", force_fetch=force_fetch)["api_key"]


def read_fields(
    provider: Any, secret_id: str, fields: tuple[str, ...], *, owner: str, force_fetch: bool = False
) -> dict[str, str]:
    """The named fields of a JSON secret (each a non-empty string), through a Powertools SecretsProvider."""
    try:
        value = provider.get(secret_id, transform="json", max_age=CACHE_SECONDS, force_fetch=force_fetch)
    except parameters.exceptions.GetParameterError as exc:
        raise ApiKeyUnavailable(f"{owner} API key secret could not be read") from exc
    except parameters.exceptions.TransformParameterError as exc:
        raise ApiKeyUnavailable(f"{owner} API key secret is not JSON") from exc
    found = {name: value.get(name) for name in fields} if isinstance(value, dict) else {}
    missing = [name for name in fields if not isinstance(found.get(name), str) or not found[name]]
    if missing:
        raise ApiKeyUnavailable(f"{owner} API key secret has no {missing[0]}")
    return {name: str(found[name]) for name in fields}


def read_consumer_key(provider: Any, secret_id: str) -> bytes:
    """The key in a ``{"consumer_key": ...}`` secret; StoreUnavailable when it cannot be read (nothing about a
    consumer can be stored or found without it)."""
    try:
        value = provider.get(secret_id, transform="json", max_age=CONSUMER_KEY_CACHE_SECONDS)
    except (parameters.exceptions.GetParameterError, parameters.exceptions.TransformParameterError) as exc:
        raise StoreUnavailable("the consumer key secret could not be read") from exc
    key = value.get("consumer_key") if isinstance(value, dict) else None
    if not isinstance(key, str) or len(key) < MIN_CONSUMER_KEY_LENGTH:
        raise StoreUnavailable(f"the consumer key secret has no consumer_key of {MIN_CONSUMER_KEY_LENGTH}+ characters")
    return key.encode()


def bounded_provider(config: Any) -> Any:
    """A provider of its own, on a client whose calls end in bounded time (Lambda's: see wiring.bounded)."""
    return parameters.SecretsProvider(boto_config=config)


def secrets_provider(client: Any) -> Any:
    """A provider (with its own cache) on a given Secrets Manager client: the CLI's, on a target stack."""
    return parameters.SecretsProvider(boto3_client=client)


def get_api_key(secret_id: str, *, force_fetch: bool = False) -> str:
    """Lambda's read; ``force_fetch`` re-reads it (after a 401: the key may have been rotated)."""
    return read_api_key(_default_provider(), secret_id, force_fetch=force_fetch)


def _default_provider() -> Any:
    # The provider parameters.get_secret uses: one cache for every caller in the container.
    if "secrets" not in DEFAULT_PROVIDERS:
        DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider()
    return DEFAULT_PROVIDERS["secrets"]


def forget_cached_keys() -> None:
    """Drop every cached secret value (a new container)."""
    parameters.clear_caches()
