"""DynamoDB stream -> the evidence anchors: every write of a lead's chain entry (its number, its hash, first
write or overwrite), one MAC'd document per batch and hour, to the Object-Lock archive bucket (see
tf_retainer.evidence.anchoring). A batch is anchored whole or raises: Lambda retries it (bisecting it),
then reports it to AnchorFailureQueue."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import wiring
from tf_retainer.runtime.observability import Metric, count, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    written = [found for record in event.get("Records", []) if (found := wiring.written_entry(record))]
    documents = wiring.anchorer().anchor(written, datetime.now(UTC))
    count(Metric.ENTRIES_ANCHORED, len(written))
    logger.info("entries anchored", extra={"entries": len(written), "documents": len(documents)})
    return {"anchored": len(written), "documents": documents}
