"""POST /revocations (one, or a batch: an SMS platform's STOP stream) and POST /leads/{lead_id}/contacts:
parse, call one use case, map the answer. Scheduled (every 5 minutes): finish applying the revocations an
invocation left unapplied, and count those not honoured in time. The routes' ``responses`` are the published
description (docs/openapi.json, merged with the intake function's)."""

import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError
from tf_retainer.api.parsing import JSON, json_body, refuse_unstorable, validation_errors
from tf_retainer.api.status import refusal_status
from tf_retainer.api.unavailable import store_unavailable_response
from tf_retainer.domain.consent import (
    BatchAnswer,
    ContactAnswer,
    ContactReport,
    RevocationAnswer,
    RevocationBatch,
    RevocationRequest,
)
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.models import Reason
from tf_retainer.domain.revocation import Recorder
from tf_retainer.leads import contacts, revocations
from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.runtime.observability import logger, metrics, tracer
from tf_retainer.wiring import default_deps

app = APIGatewayRestResolver(enable_validation=True)
# Kept back from the invocation's end when applying revocations: the answer and its logs.
MARGIN_SECONDS = 2.0


def _answer(description: str, model: type) -> OpenAPIResponse:
    return {"description": description, "content": {JSON: {"model": model}}}


_REFUSED = "`invalid_request` (the body is not JSON, or a field is wrong: `errors` names it)"
REVOCATION_ANSWERS: dict[int, OpenAPIResponse] = {
    201: _answer("`recorded`: the gate is closed for every lead of the consumer from now on", RevocationAnswer),
    200: _answer("`repeated`: this id was recorded before (nothing changed)", RevocationAnswer),
    404: _answer(
        "`consumer_not_found`: a vendor's key, and no lead of this vendor carries the phone or email", RevocationAnswer
    ),
    409: _answer("`revocation_id_conflict`: this id was recorded with other content", RevocationAnswer),
    400: _answer(_REFUSED, RevocationAnswer),
    422: _answer(_REFUSED, RevocationAnswer),
}
BATCH_ANSWERS: dict[int, OpenAPIResponse] = {
    200: _answer(
        "one result per revocation, in order: `recorded`, `repeated` or `refused` (with its reason)", BatchAnswer
    ),
    400: _answer(_REFUSED, RevocationAnswer),
    422: _answer(f"{_REFUSED}; at most 100 revocations", RevocationAnswer),
}
CONTACT_ANSWERS: dict[int, OpenAPIResponse] = {
    201: _answer("recorded in the lead's evidence (or, `recorded` false, reported before)", ContactAnswer),
    404: _answer("`lead_not_found`: no such lead (of this vendor)", RevocationAnswer),
    400: _answer(_REFUSED, RevocationAnswer),
    422: _answer(_REFUSED, RevocationAnswer),
}
_REVOCATION_SCHEMA = RevocationRequest.model_json_schema()
# The bodies are read by the routes themselves (each revocation of a batch on its own): documented here.
REVOCATION_BODY = {
    "requestBody": {
        "required": True,
        "description": "One revocation. At least one of phone and email; kept only as the consumer index's keyed "
        "tokens (one per spelling of a North American number), never in clear; the message sealed.",
        "content": {JSON: {"schema": _REVOCATION_SCHEMA}},
    }
}
BATCH_BODY = {
    "requestBody": {
        "required": True,
        "description": "Up to 100 revocations, each recorded or refused on its own (an SMS platform's STOP stream).",
        "content": {
            JSON: {
                "schema": {
                    "type": "object",
                    "required": ["revocations"],
                    "additionalProperties": False,
                    "properties": {
                        "revocations": {"type": "array", "minItems": 1, "maxItems": 100, "items": _REVOCATION_SCHEMA}
                    },
                }
            }
        },
    }
}
CONTACT_BODY = {
    "requestBody": {
        "required": True,
        "description": "One contact made or tried (a call, a text, an email).",
        "content": {JSON: {"schema": ContactReport.model_json_schema()}},
    }
}
LeadId = Annotated[str, Path(min_length=1, max_length=128, description="Our lead_id, or the vendor's own lead_id")]


def _caller() -> Recorder:
    """Who calls: a vendor (its own leads and consumers) or the buyer's systems (any), from the authorizer."""
    context = app.current_event.request_context.authorizer.get_context()
    name = context.get("vendor")
    if not name:  # API Gateway's authorizer guarantees it; a misconfigured local call may not
        raise InputRejected(Reason.UNKNOWN_VENDOR_KEY, "no identity: send your key in x-api-key", lead_status=None)
    return Recorder(role="buyer" if context.get("role") == "buyer" else "vendor", name=str(name))


def _deadline() -> float:
    return time.monotonic() + app.lambda_context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS


def _body() -> dict[str, Any]:
    # A batch of STOP messages may be larger than a lead: four times the leads' limit.
    return json_body(app.current_event.decoded_body or "", default_deps().settings.max_body_bytes * 4)


def _json(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _request(data: dict[str, Any]) -> RevocationRequest:
    refuse_unstorable(data)
    try:
        return RevocationRequest.model_validate(data)
    except ValidationError as exc:
        raise InputRejected(
            Reason.INVALID_REQUEST, "the revocation is not valid", validation_errors(exc), lead_status=None
        ) from exc


@app.post(
    "/revocations",
    responses=REVOCATION_ANSWERS,
    summary="Record a consumer's revocation of consent",
    openapi_extensions=REVOCATION_BODY,
)
@tracer.capture_method
def post_revocation() -> Response[RevocationAnswer]:
    request = _request(_body())
    answer = revocations.record(default_deps(), request, _caller(), deadline=_deadline())
    return _json(201 if answer.status == "recorded" else 200, answer.model_dump(mode="json"))


@app.post(
    "/revocations/batch",
    responses=BATCH_ANSWERS,
    summary="Record many revocations (an SMS platform's STOP stream), each on its own",
    openapi_extensions=BATCH_BODY,
)
@tracer.capture_method
def post_revocations() -> Response[BatchAnswer]:
    try:
        batch = RevocationBatch.model_validate(_body())
    except ValidationError as exc:
        raise InputRejected(
            Reason.INVALID_REQUEST, "the batch is not valid", validation_errors(exc), lead_status=None
        ) from exc
    caller, deps, deadline = _caller(), default_deps(), _deadline()
    results = []
    for index, item in enumerate(batch.revocations):
        try:
            results.append(revocations.record(deps, _request(dict(item)), caller, deadline=deadline))
        except InputRejected as refused:
            errors = [
                error.model_copy(update={"field": f"revocations.{index}.{error.field}"})
                for error in refused.errors or []
            ]
            given = item.get("id")
            client_id = given if isinstance(given, str) else None
            results.append(
                RevocationAnswer(
                    id=client_id, status="refused", reason=refused.reason, detail=refused.detail, errors=errors or None
                )
            )
    return _json(200, BatchAnswer(results=results).model_dump(mode="json"))


@app.post(
    "/leads/<lead_id>/contacts",
    responses=CONTACT_ANSWERS,
    summary="Report a contact made (or tried) with a lead: counted by the frequency caps, kept as evidence",
    openapi_extensions=CONTACT_BODY,
)
@tracer.capture_method
def post_contact(lead_id: LeadId) -> Response[ContactAnswer]:
    try:
        report = ContactReport.model_validate(_body())
    except ValidationError as exc:
        raise InputRejected(
            Reason.INVALID_REQUEST, "the contact is not valid", validation_errors(exc), lead_status=None
        ) from exc
    caller = _caller()
    vendor = caller.name if caller.role == "vendor" else None
    answer = contacts.report_contact(default_deps(), vendor=vendor, lead_id=lead_id, report=report, actor=caller.label)
    return _json(201, answer.model_dump(mode="json"))


@app.exception_handler(InputRejected)
def input_rejected(exc: InputRejected) -> Response:
    status = refusal_status(exc)
    logger.info("input rejected", extra={"reason": exc.reason.value, "http_status": status})
    body = RevocationAnswer(status="refused", reason=exc.reason, detail=exc.detail, errors=exc.errors)
    return _json(status, body.model_dump(mode="json"))


@app.exception_handler(StoreUnavailable)
def store_unavailable(exc: StoreUnavailable) -> Response:
    """The table or the consumer key could not be reached in time: perhaps not recorded, send it again (a
    revocation sent again is recorded once)."""
    detail = "perhaps not recorded: send it again"
    body = RevocationAnswer(status="refused", reason=Reason.STORE_UNAVAILABLE, detail=detail)
    return store_unavailable_response(exc, body.model_dump(mode="json"))


@app.not_found
def not_found(_exc: Exception) -> Response:
    body = RevocationAnswer(status="refused", reason=Reason.INVALID_REQUEST, detail="no such route")
    return _json(404, body.model_dump(mode="json"))


def _honour(context: LambdaContext) -> dict[str, Any]:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
    deps = default_deps()
    report = revocations.honour_unhonoured(
        deps, honour_seconds=deps.settings.revocation_honour_seconds, deadline=deadline
    )
    if report.overdue:
        logger.warning("revocations not honoured in time", extra={"revocation_ids": report.overdue})
    # "late": leads of a recent revocation it had not reached (taken while it was recorded, or missed since).
    return {"pending": report.pending, "overdue": report.overdue, "honoured": report.honoured, "late": report.late}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if event.get("source") == "aws.scheduler":
        return _honour(context)
    return app.resolve(event, context)
