"""Scheduled (daily): active legal holds cover the leads that arrived since (tf_retainer.evidence.legal_hold)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import wiring
from tf_retainer.evidence import legal_hold as holds
from tf_retainer.runtime.observability import logger, metrics, tracer
from tf_retainer.runtime.settings import get_settings


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    lock = wiring.archive_bucket().legal_hold if get_settings().archive_bucket else None
    reports = holds.apply_active_holds(
        wiring.lead_table(),
        wiring.hold_store(),
        now=wiring.default_deps().clock(),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        lock_archive=lock,
    )
    return {"holds": len(reports), "covered": [lead_id for report in reports for lead_id in report.covered]}
