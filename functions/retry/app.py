"""SQS retry worker: each message is one more attempt for a pending lead (partial batch responses).

The records of a batch run concurrently (TrustedForm's latency dominates): a batch of 10 takes about
as long as its slowest retain, not the sum.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json
from tf_retainer.domain.retry_message import RetryMessage
from tf_retainer.leads import retry
from tf_retainer.runtime.observability import logger, metrics, tracer
from tf_retainer.wiring import default_deps


class RetryRecord(SqsRecordModel):
    body: Json[RetryMessage]  # a malformed body fails this record only


# A batch whose every record failed is answered like any other (all listed as failures) rather than
# raised: SQS redelivers exactly the same, and poison messages reach the DLQ, which is alarmed.
processor = AsyncBatchProcessor(event_type=EventType.SQS, model=RetryRecord, raise_on_entire_batch_failure=False)
# One thread per record of the largest batch (the template's BatchSize is 10).
_executor = ThreadPoolExecutor(max_workers=10, thread_name_prefix="retain")
_deadline: list[float | None] = [None]  # the current invocation's, on time.monotonic's clock


async def record_handler(record: RetryRecord) -> str:
    message = record.body
    loop = asyncio.get_running_loop()
    outcome = await loop.run_in_executor(_executor, retry.retry_lead, default_deps(), message, _deadline[0])
    logger.info(
        "retry processed",
        extra={
            "lead_id": message.lead_id,
            "attempt": message.attempt,
            "outcome": outcome,
            "receive_count": record.attributes.ApproximateReceiveCount,
        },
    )
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    # The invocation's end (the batch's records run at once, each within it).
    _deadline[0] = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    return async_process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
