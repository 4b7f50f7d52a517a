"""SQS retry worker: each message is one more attempt for a pending lead (partial batch responses).

The records of a batch run concurrently (TrustedForm's latency dominates): a batch of 10 takes about
as long as its slowest retain, not the sum.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import service
from tf_retainer.observability import logger, metrics, tracer

# A batch whose every record failed is answered like any other (all listed as failures) rather than
# raised: SQS redelivers exactly the same, and poison messages reach the DLQ, which is alarmed.
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# One thread per record of the largest batch (the template's BatchSize is 10).
_executor = ThreadPoolExecutor(max_workers=10, thread_name_prefix="retain")


async def record_handler(record: SQSRecord) -> str:
    message = service.RetryMessage.parse(record.body)  # a malformed body fails this record only
    loop = asyncio.get_running_loop()
    outcome = await loop.run_in_executor(_executor, service.retry_lead, service.default_deps(), message)
    logger.info(
        "retry processed",
        extra={
            "lead_id": message.lead_id,
            "attempt": message.attempt,
            "outcome": outcome,
            "receive_count": record.attributes.approximate_receive_count,
        },
    )
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return async_process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
