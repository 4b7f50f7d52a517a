"""Scheduled (daily): suspends the vendors whose leads fall below the deployment's thresholds; off while
they are 0 (see tf_retainer.vendors.auto_suspend)."""

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import wiring
from tf_retainer.runtime.observability import logger, metrics, tracer
from tf_retainer.runtime.settings import get_settings
from tf_retainer.vendors import auto_suspend


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    if not settings.auto_suspend_enabled:
        return asdict(auto_suspend.Evaluation(enabled=False))
    evaluation = auto_suspend.evaluate(wiring.lead_table().index, wiring.vendor_keys(), settings, now=datetime.now(UTC))
    return asdict(evaluation)
