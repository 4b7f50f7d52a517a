"""Scheduled sweeper: every overdue open lead goes back to the retry queue (see tf_retainer.recovery)."""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import recovery
from tf_retainer.deps import default_deps
from tf_retainer.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    return asdict(recovery.sweep(default_deps()))
