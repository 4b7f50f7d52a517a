"""Scheduled archiver: final leads older than ARCHIVE_AFTER_DAYS to the evidence archive in S3 (see
tf_retainer.evidence.archive). An invocation may name the days to archive: {"days": ["2026-01-31", ...]}."""

from dataclasses import asdict
from datetime import date
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import wiring
from tf_retainer.evidence.archive import lambda_time_left
from tf_retainer.runtime.observability import Metric, count, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    days = [date.fromisoformat(day) for day in (event or {}).get("days", [])] or None
    # Every vendor that has a key (revoked or suspended ones too).
    vendors = {key.vendor for key in wiring.vendor_keys().list()}
    result = wiring.archiver().run(vendors, days=days, time_left=lambda_time_left(context))
    count(Metric.LEADS_ARCHIVED, result.archived)
    summary = asdict(result)
    logger.info(
        "archive run", extra={k: v for k, v in summary.items() if k != "objects"} | {"objects": len(result.objects)}
    )
    return summary
