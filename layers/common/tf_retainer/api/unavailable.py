"""The one 503 of the HTTP functions: the store (or the consumer key) did not answer in time, so what was
sent may or may not be kept, and the caller is told to send it again after ``RETRY_AFTER_SECONDS``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from tf_retainer.api.status import RETRY_AFTER_SECONDS, UNAVAILABLE_STATUS
from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.runtime.observability import Metric, count, logger


def store_unavailable_response(exc: StoreUnavailable, body: dict[str, Any]) -> Response:
    """Logged with the call that failed and its error (messages name a store method or the consumer key
    secret, never lead data), counted (the store-unavailable alarm), answered 503 with Retry-After."""
    logger.warning("store unavailable", extra={"error": type(exc.__cause__ or exc).__name__, "detail": str(exc)})
    count(Metric.STORE_UNAVAILABLE)
    return Response(
        status_code=UNAVAILABLE_STATUS,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
