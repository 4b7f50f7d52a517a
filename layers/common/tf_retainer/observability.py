"""The one Logger, Metrics and Tracer of the service (configured by POWERTOOLS_* variables)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger()
metrics = Metrics()
tracer = Tracer()

__all__ = ["MetricUnit", "logger", "metrics", "single_metric", "tracer"]


def mask_email(email: str | None) -> str | None:
    """For humans reading logs: the domain only."""
    if not email or "@" not in email:
        return None
    return "***@" + email.rsplit("@", 1)[1]
