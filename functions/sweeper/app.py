"""Scheduled sweeper: every overdue open lead goes back to the retry queue (see tf_retainer.leads.sweep)."""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer.leads import sweep
from tf_retainer.runtime.observability import logger, metrics, tracer
from tf_retainer.wiring import default_deps


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    return asdict(sweep.sweep(default_deps()))
