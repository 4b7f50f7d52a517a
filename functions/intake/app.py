"""POST /leads, GET /leads/{lead_id} and its call gate: parse the request, call one use case, map the
answer. The route decorators' ``responses`` and ``configure_openapi`` are the published description
(docs/openapi.json, ``make openapi``); they change no answer."""

import base64
import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer.api.parsing import FORM, JSON, parse_submission
from tf_retainer.api.status import (
    ROUTE_NOT_FOUND_STATUS,
    answer_status,
    refusal_status,
)
from tf_retainer.api.unavailable import store_unavailable_response
from tf_retainer.domain.contacts import Channel
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.models import ContactableAnswer, LeadAnswer, LeadSubmission, LeadView, Reason, Status
from tf_retainer.leads import intake, lookup
from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.runtime.observability import logger, metrics, tracer
from tf_retainer.wiring import default_deps

app = APIGatewayRestResolver(enable_validation=True)

# --- the published description (OpenAPI) ---------------------------------------------------------

VENDOR_KEY = "vendorKey"
app.configure_openapi(
    title="tf-retainer leads API",
    version="1.0.0",
    description=(
        "Submit leads carrying a TrustedForm certificate URL; the certificate is retained through the "
        "TrustedForm Certificate API v4 and the evidence kept. Base URL: "
        "https://<api id>.execute-api.<region>.amazonaws.com/<stage>. Every answer about a lead carries "
        "`status` and, when not retained, a machine-readable `reason` (the `Reason` schema lists them all)."
    ),
    # A plain mapping, validated into Powertools' APIKey model only when the description is generated:
    # importing its OpenAPI models costs ~85 ms of every cold start.
    security_schemes={
        VENDOR_KEY: {  # type: ignore[dict-item]
            "type": "apiKey",
            "name": "x-api-key",
            "in": "header",
            "description": "Your vendor key: it names you (the vendor sent to TrustedForm), never the body.",
        }
    },
    security=[{VENDOR_KEY: []}],
)


def _answer(description: str, model: type = LeadAnswer) -> OpenAPIResponse:
    return {"description": description, "content": {JSON: {"model": model}}}


_GATEWAY_ERROR: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"const": "error"},
        "reason": {"enum": ["client_error", "internal_error"]},
        "message": {"type": "string"},
    },
}
# What every route may answer besides its own: API Gateway itself (before or after the function), and the
# function when our store does not answer (503).
GATEWAY: dict[int, OpenAPIResponse] = {
    401: _answer("`unknown_vendor_key`: no or an unknown x-api-key (from the authorizer)"),
    403: _answer(
        "`vendor_key_revoked`: the x-api-key was revoked; `vendor_suspended`: the vendor is suspended by the "
        "buyer (from the authorizer); `not_a_vendor_key`: a buyer-system key on a vendor's route"
    ),
    429: {
        "description": "`client_error`: the vendor's usage plan throttle or quota (API Gateway)",
        "content": {JSON: {"schema": _GATEWAY_ERROR}},
    },
    500: {"description": "`internal_error` (API Gateway)", "content": {JSON: {"schema": _GATEWAY_ERROR}}},
    503: _answer(
        "`store_unavailable`: our store did not answer in time; what you sent may or may not be kept. Send "
        "the same request again after `Retry-After` seconds: a lead sent again is answered, never taken twice. "
        "Never permission to contact a lead"
    ),
    502: {"description": "`internal_error`: the function failed", "content": {JSON: {"schema": _GATEWAY_ERROR}}},
    504: {"description": "`internal_error`: the function timed out", "content": {JSON: {"schema": _GATEWAY_ERROR}}},
}
SUBMIT_ANSWERS: dict[int, OpenAPIResponse] = {
    201: _answer("`retained`"),
    202: _answer(
        "`pending`: TrustedForm will be tried again (`trustedform_unavailable`, `trustedform_timeout`, "
        "`trustedform_throttled`, `trustedform_unexpected`, `account_error`); GET the lead for the outcome"
    ),
    400: _answer("`invalid_request`: the body is not UTF-8, not JSON, or nested too deeply"),
    409: _answer("`lead_id_conflict`: the same lead_id with different content"),
    413: _answer("`payload_too_large`: the body is larger than MAX_BODY_BYTES (64 KiB)"),
    415: _answer("`unsupported_media_type`: Content-Type is neither application/json nor form-urlencoded"),
    422: _answer(
        "`rejected` (bad input: `invalid_request` with `errors`, `invalid_certificate_url`, `missing_contact`; "
        "TrustedForm's terminal answers; `certificate_reused`, or `leadid_reused` for a lead without a "
        "certificate whose LeadiD token another lead holds; the buyer's policies and rules, failing facts in "
        "`detail`) or "
        "`expired` (`retain_window_closed`, `retry_limit_reached`)"
    ),
    **GATEWAY,
}
# Powertools' own answer to a path or query parameter out of range (before the handler runs): no
# status or reason, and detail items without msg (so not its HTTPValidationError schema).
_VALIDATION_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["statusCode", "detail"],
    "properties": {
        "statusCode": {"const": 422},
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "type"],
                "properties": {"loc": {"type": "array", "items": {"type": "string"}}, "type": {"type": "string"}},
            },
        },
    },
}
_NOT_FOUND = _answer("`lead_not_found`: no such lead of this vendor; `status` is null")
LOOKUP_ANSWERS: dict[int, OpenAPIResponse] = {
    200: _answer("the lead and a page of its history", LeadView),
    404: _NOT_FOUND,
    422: {
        "description": "`invalid_request`: a history_after cursor this API did not give (a LeadAnswer); or a "
        "parameter out of range (a validation error)",
        "content": {JSON: {"schema": {"anyOf": [{"$ref": "#/components/schemas/LeadAnswer"}, _VALIDATION_ERROR]}}},
    },
    **GATEWAY,
}
GATE_ANSWERS: dict[int, OpenAPIResponse] = {
    200: _answer(
        "`contactable` true, or false with the `reason` (GateReason), `detail` and, where waiting helps, "
        "`next_allowed_at`",
        ContactableAnswer,
    ),
    404: _NOT_FOUND,
    422: {
        "description": "a lead_id longer than 128 characters, an unknown channel (a validation error)",
        "content": {JSON: {"schema": _VALIDATION_ERROR}},
    },
    **GATEWAY,
}
_SUBMISSION_SCHEMA = LeadSubmission.model_json_schema()
# POST /leads reads its body itself (JSON or form, see parse_submission): documented, not validated here.
SUBMISSION_BODY = {
    "requestBody": {
        "required": True,
        "description": "The lead, as JSON or form-encoded (a repeated form field: the first value wins), UTF-8, "
        "at most 64 KiB. `xxTrustedFormCertUrl` is accepted for `trustedform_cert_url`, required unless the "
        "vendor's `consent_records` rule is enforced with `jornaya` or `either` and a LeadiD token is given "
        "(the lead is then kept on its token alone). At least one of email and phone. Any other field: at "
        "most 100, names up to 64 characters, scalars only.",
        "content": {JSON: {"schema": _SUBMISSION_SCHEMA}, FORM: {"schema": _SUBMISSION_SCHEMA}},
    }
}

# --- the routes ------------------------------------------------------------------------------------


def _identity() -> tuple[str, bool]:
    """The caller's name, and whether it is the buyer's system (a buyer-system key) rather than a vendor."""
    context = app.current_event.request_context.authorizer.get_context()
    vendor = context.get("vendor")
    if not vendor:  # API Gateway's authorizer guarantees it; a misconfigured local call may not
        raise InputRejected(Reason.UNKNOWN_VENDOR_KEY, "no vendor identity: send your key in x-api-key")
    return str(vendor), context.get("role") == "buyer"


def _vendor() -> str:
    """A vendor's name: a buyer-system key cannot post or read leads as a vendor."""
    name, buyer = _identity()
    if buyer:
        raise InputRejected(Reason.NOT_A_VENDOR_KEY, "a buyer-system key: this route is for vendors' keys")
    return name


def _reply(status: int, answer: LeadAnswer) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=answer.to_body())


@app.post(
    "/leads",
    responses=SUBMIT_ANSWERS,
    summary="Submit a lead and retain its TrustedForm certificate",
    openapi_extensions=SUBMISSION_BODY,
)
@tracer.capture_method
def post_lead() -> Response[LeadAnswer]:
    event = app.current_event
    body = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    vendor, deps = _vendor(), default_deps()
    submission = parse_submission(
        body,
        event.headers.get("content-type") or event.headers.get("Content-Type"),
        deps.settings.max_body_bytes,
        token_alone=lambda: intake.takes_token_alone(deps, vendor),
    )
    deadline = time.monotonic() + app.lambda_context.get_remaining_time_in_millis() / 1000
    answer = intake.submit_lead(deps, vendor=vendor, submission=submission, deadline=deadline)
    return _reply(answer_status(answer), answer)


LeadId = Annotated[str, Path(min_length=1, max_length=128, description="Our lead_id, or the vendor's own lead_id")]


@app.get(
    "/leads/<lead_id>",
    responses=LOOKUP_ANSWERS,
    summary="A vendor's own lead (by our lead_id or the vendor's): status, reason and history",
)
@tracer.capture_method
def get_lead(
    lead_id: LeadId,
    history_after: Annotated[str | None, Query(max_length=512)] = None,
    history_limit: Annotated[int, Query(ge=1, le=lookup.HISTORY_PAGE)] = lookup.HISTORY_PAGE,
) -> Response[LeadView]:
    view = lookup.get_lead(
        default_deps(), vendor=_vendor(), lead_id=lead_id, history_after=history_after, history_limit=history_limit
    )
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=view)


@app.get(
    "/leads/<lead_id>/contactable",
    responses=GATE_ANSWERS,
    summary="The call gate: may this lead be contacted now, on this channel (consent standing and evidenced, the "
    "law of the hour)?",
)
@tracer.capture_method
def get_contactable(
    lead_id: LeadId,
    channel: Annotated[Channel, Query(description="How the lead would be contacted: call, text or email")] = "call",
    brand: Annotated[str | None, Query(min_length=1, max_length=128, description="For which brand, if any")] = None,
) -> Response[ContactableAnswer]:
    # The gate's law of the hour (calling rules, places, holidays) is imported by the one route that asks it:
    # at module level it was a third of the intake's cold start, paid by every POST /leads container.
    from tf_retainer.leads import gate

    name, buyer = _identity()  # a buyer-system key asks about any lead, by our lead_id
    question = gate.Question(channel=channel, brand=brand)
    answer = gate.contactable(default_deps(), vendor=None if buyer else name, lead_id=lead_id, question=question)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=answer)


@app.exception_handler(InputRejected)
def input_rejected(exc: InputRejected) -> Response:
    status = refusal_status(exc)
    logger.info("input rejected", extra={"reason": exc.reason.value, "http_status": status})
    return _reply(status, exc.answer())


@app.exception_handler(StoreUnavailable)
def store_unavailable(exc: StoreUnavailable) -> Response:
    """The table (or the consumer key) stayed busy or did not answer: a lead's reservation may have been
    applied with its answer lost, so the vendor is not told "rejected" or "pending", but to send it again."""
    detail = "our store did not answer in time: send the same request again (a lead sent again is never taken twice)"
    return store_unavailable_response(exc, LeadAnswer(reason=Reason.STORE_UNAVAILABLE, detail=detail).to_body())


@app.not_found
def not_found(_exc: Exception) -> Response:
    answer = LeadAnswer(status=Status.REJECTED, reason=Reason.INVALID_REQUEST, detail="no such route")
    return _reply(ROUTE_NOT_FOUND_STATUS, answer)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
