"""Vendor callbacks from the callback queue: each record is one callback job (partial batch responses).

A record is an outcome event as the template's CallbackRule delivered it (the first attempt), or a job
this function queued again for a later attempt. A malformed record fails alone (and reaches the DLQ).
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import wiring
from tf_retainer.events.callbacks import CallbackJob
from tf_retainer.events.delivery import notify
from tf_retainer.runtime.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def job_of(body: dict[str, Any]) -> CallbackJob:
    if "detail-type" in body:  # straight from the event bus
        return CallbackJob.from_outcome_event(body)
    return CallbackJob.model_validate(body)


def record_handler(record: SQSRecord) -> str:
    return notify(wiring.callback_deps(), job_of(json.loads(record.body))).outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
