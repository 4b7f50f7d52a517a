"""The buyer's TrustedForm API key, from Secrets Manager, cached between invocations."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

CACHE_SECONDS = 300


class ApiKeyUnavailable(RuntimeError):
    """The secret could not be read or holds no usable key."""


def get_api_key(secret_id: str, *, force_fetch: bool = False) -> str:
    """Return the key; ``force_fetch`` re-reads it (after a 401: the key may have been rotated)."""
    try:
        value = parameters.get_secret(secret_id, transform="json", max_age=CACHE_SECONDS, force_fetch=force_fetch)
    except parameters.exceptions.GetParameterError as exc:
        raise ApiKeyUnavailable("TrustedForm API key secret could not be read") from exc
    except parameters.exceptions.TransformParameterError as exc:
        raise ApiKeyUnavailable("TrustedForm API key secret is not JSON") from exc
    key = value.get("api_key") if isinstance(value, dict) else None
    if not isinstance(key, str) or not key:
        raise ApiKeyUnavailable("TrustedForm API key secret has no api_key")
    return key
