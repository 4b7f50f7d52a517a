"""POST /leads and GET /leads/{lead_id}: parse the request, call one use case, map the answer."""

import base64
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import api, intake, lookup
from tf_retainer.deps import default_deps
from tf_retainer.errors import InputRejected
from tf_retainer.models import LeadAnswer, LeadView, Reason, Status
from tf_retainer.observability import logger, metrics, tracer

app = APIGatewayRestResolver(enable_validation=True)
# Headroom left in the Lambda's own timeout after the TrustedForm call, for the DynamoDB writes.
WRITE_HEADROOM_SECONDS = 3.0

ANSWERS: dict[int, OpenAPIResponse] = {
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
        raise InputRejected(Reason.UNKNOWN_VENDOR_KEY, "no vendor identity: send your key in x-api-key")
    return str(vendor)


def _reply(status: int, answer: LeadAnswer) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=answer.to_body())


@app.post("/leads", responses=ANSWERS, summary="Submit a lead and retain its TrustedForm certificate")
@tracer.capture_method
def post_lead() -> Response[LeadAnswer]:
    event = app.current_event
    body = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    vendor, deps = _vendor(), default_deps()
    submission = api.parse_submission(
        body, event.headers.get("content-type") or event.headers.get("Content-Type"), deps.settings.max_body_bytes
    )
    remaining = app.lambda_context.get_remaining_time_in_millis() / 1000 - WRITE_HEADROOM_SECONDS
    answer = intake.submit_lead(deps, vendor=vendor, submission=submission, time_budget=remaining)
    return _reply(api.answer_status(answer), answer)


@app.get("/leads/<lead_id>", summary="A vendor's own lead (by our lead_id or the vendor's): status, reason and history")
@tracer.capture_method
def get_lead(
    lead_id: Annotated[str, Path(min_length=1, max_length=128)],
    history_after: Annotated[str | None, Query(max_length=512)] = None,
    history_limit: Annotated[int, Query(ge=1, le=lookup.HISTORY_PAGE)] = lookup.HISTORY_PAGE,
) -> Response[LeadView]:
    view = lookup.get_lead(
        default_deps(), vendor=_vendor(), lead_id=lead_id, history_after=history_after, history_limit=history_limit
    )
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=view)


@app.exception_handler(InputRejected)
def input_rejected(exc: InputRejected) -> Response:
    status = api.refusal_status(exc)
    logger.info("input rejected", extra={"reason": exc.reason.value, "http_status": status})
    return _reply(status, exc.answer())


@app.not_found
def not_found(_exc: Exception) -> Response:
    answer = LeadAnswer(status=Status.REJECTED, reason=Reason.INVALID_REQUEST, detail="no such route")
    return _reply(api.ROUTE_NOT_FOUND_STATUS, answer)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
