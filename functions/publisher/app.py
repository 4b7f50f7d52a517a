"""DynamoDB stream -> EventBridge: publishes each lead's final outcome and recovery (partial batch
responses: a record that fails is retried from its sequence number, the ones before it are done)."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import wiring
from tf_retainer.events.outcomes import publish
from tf_retainer.runtime.observability import Metric, count, logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def record_handler(record: DynamoDBRecord) -> None:
    event = publish(
        wiring.event_bus(), wiring.published_entry(record.raw_event.get("dynamodb", {}).get("NewImage") or {})
    )
    if event is not None:
        count(Metric.EVENTS_PUBLISHED)
        logger.info("event published", extra={"event_id": event.event_id, "detail_type": event.detail_type})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
