"""POST /leads and GET /leads/{lead_id}: thin routes over tf_retainer.service."""

import base64
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import service
from tf_retainer.errors import InputRejected
from tf_retainer.models import LeadAnswer, LeadView, Reason, Status
from tf_retainer.observability import logger, metrics, tracer

app = APIGatewayRestResolver(enable_validation=True)
# Headroom left in the Lambda's own timeout after the TrustedForm call, for the DynamoDB writes.
WRITE_HEADROOM_SECONDS = 3.0

ANSWERS = {
    201: {
        "description": "retained",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LeadAnswer"}}},
    },
    202: {"description": "pending: TrustedForm will be tried again"},
    400: {"description": "malformed body"},
    401: {"description": "unknown vendor key"},
    403: {"description": "revoked vendor key"},
    409: {"description": "lead_id repeated with different content"},
    413: {"description": "body too large"},
    415: {"description": "unsupported Content-Type"},
    422: {"description": "rejected: bad input or a terminal TrustedForm answer"},
}


def _vendor() -> str:
    vendor = app.current_event.request_context.authorizer.get_context().get("vendor")
    if not vendor:  # API Gateway's authorizer guarantees it; a misconfigured local call may not
        raise InputRejected(401, Reason.UNKNOWN_VENDOR_KEY, "no vendor identity: send your key in x-api-key")
    return str(vendor)


def _reply(status: int, answer: LeadAnswer) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=answer.to_body())


@app.post("/leads", responses=ANSWERS, summary="Submit a lead and retain its TrustedForm certificate")
@tracer.capture_method
def post_lead() -> Response[LeadAnswer]:
    event = app.current_event
    body = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    remaining = app.lambda_context.get_remaining_time_in_millis() / 1000 - WRITE_HEADROOM_SECONDS
    status, answer = service.submit_lead(
        service.default_deps(),
        vendor=_vendor(),
        body=body,
        content_type=event.headers.get("content-type") or event.headers.get("Content-Type"),
        time_budget=remaining,
    )
    return _reply(status, answer)


@app.get("/leads/<lead_id>", summary="A vendor's own lead: status, reason and history")
@tracer.capture_method
def get_lead(lead_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Response[LeadView]:
    view = service.get_lead(service.default_deps(), vendor=_vendor(), lead_id=lead_id)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=view)


@app.exception_handler(InputRejected)
def input_rejected(exc: InputRejected) -> Response:
    logger.info("input rejected", extra={"reason": exc.reason.value, "http_status": exc.http_status})
    return _reply(exc.http_status, exc.answer())


@app.not_found
def not_found(_exc: Exception) -> Response:
    return _reply(404, LeadAnswer(status=Status.REJECTED, reason=Reason.INVALID_REQUEST, detail="no such route"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
