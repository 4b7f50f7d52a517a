"""A request body becomes a LeadSubmission (JSON or form), or is refused naming the field: input DynamoDB
could not store is refused here, before anything is stored or sent."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from tf_retainer.domain.errors import InputRejected, missing_certificate_url
from tf_retainer.domain.leadid import TOKEN_FIELDS
from tf_retainer.domain.models import FieldError, LeadSubmission, Reason
from tf_retainer.store.codec import unstorable_number

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
CERT_URL_FIELDS = ("trustedform_cert_url", "xxTrustedFormCertUrl")


def parse_submission(
    body: bytes, content_type: str | None, max_bytes: int, *, token_alone: Callable[[], bool] | None = None
) -> LeadSubmission:
    """A JSON or form-encoded lead, validated. Raises InputRejected.

    The certificate URL is required, unless ``token_alone`` (asked only for a lead without one that carries a
    LeadiD token) says the vendor's rules take a lead kept on its token alone (leads/intake.py)."""
    if len(body) > max_bytes:
        raise InputRejected(Reason.PAYLOAD_TOO_LARGE, f"body is larger than {max_bytes} bytes")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputRejected(Reason.INVALID_REQUEST, "body is not UTF-8", malformed=True) from exc
    if media_type == JSON:
        data = _json_object(text)
    elif media_type == FORM:
        data = {}
        for name, value in parse_qsl(text, keep_blank_values=True):
            data.setdefault(name, value)  # a repeated field: the first value wins
    else:
        raise InputRejected(Reason.UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be {JSON} or {FORM}")
    if problems := [FieldError(field=name, message=problem) for name, problem in unstorable_fields(data)]:
        raise InputRejected(Reason.INVALID_REQUEST, "the lead is not valid", problems)
    # Whether a missing certificate URL is refused (asked at most once, and only when it is missing).
    refuse_missing = functools.cache(lambda: not (_token_given(data) and token_alone is not None and token_alone()))
    try:
        submission = LeadSubmission.model_validate(data)
    except ValidationError as exc:
        missing = not any(data.get(name) is not None for name in CERT_URL_FIELDS) and refuse_missing()
        raise _validation_rejection(exc, missing_certificate=missing) from exc
    if submission.trustedform_cert_url is None and refuse_missing():
        raise missing_certificate_url()
    if not submission.has_contact:
        raise InputRejected(Reason.MISSING_CONTACT, "email or phone is required: TrustedForm matches every retain")
    return submission


def json_body(text: str, max_bytes: int) -> dict[str, Any]:
    """A JSON object body (the consent routes'), its top-level fields storable. Raises InputRejected."""
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise InputRejected(Reason.PAYLOAD_TOO_LARGE, f"body is larger than {max_bytes} bytes")
    data = _json_object(text)
    refuse_unstorable(data)
    return data


def refuse_unstorable(data: dict[str, Any]) -> None:
    """InputRejected naming every top-level field DynamoDB could not store as sent."""
    if problems := [FieldError(field=name, message=problem) for name, problem in unstorable_fields(data)]:
        raise InputRejected(Reason.INVALID_REQUEST, "the body is not valid", problems)


def validation_errors(exc: ValidationError) -> list[FieldError]:
    """One FieldError per problem pydantic found, naming the field (dotted path)."""
    return [
        FieldError(field=".".join(str(p) for p in err["loc"]) or "body", message=err["msg"]) for err in exc.errors()
    ]


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except RecursionError as exc:  # nesting deeper than Python's stack: no lead is shaped like that
        raise InputRejected(Reason.INVALID_REQUEST, "body is nested too deeply", malformed=True) from exc
    except ValueError as exc:
        raise InputRejected(Reason.INVALID_REQUEST, "body is not valid JSON", malformed=True) from exc
    if not isinstance(data, dict):
        raise InputRejected(Reason.INVALID_REQUEST, "body must be a JSON object")
    return data


def _token_given(data: dict[str, Any]) -> bool:
    return any(data.get(name) not in (None, "") for name in TOKEN_FIELDS)


def _validation_rejection(exc: ValidationError, *, missing_certificate: bool = False) -> InputRejected:
    errors = validation_errors(exc)
    if missing_certificate:  # as when the field was required of every lead: named first, and the reason
        errors = [*(missing_certificate_url().errors or []), *errors]
    cert_problem = any(e.field in CERT_URL_FIELDS for e in errors)
    token_problem = any(e.field in TOKEN_FIELDS for e in errors)
    reason = Reason.INVALID_REQUEST
    if cert_problem:
        reason = Reason.INVALID_CERTIFICATE_URL
    elif token_problem:
        reason = Reason.INVALID_LEADID_TOKEN
    return InputRejected(reason, "the lead is not valid", errors)


def unstorable_fields(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Top-level fields DynamoDB could not store as sent: (field, why). Deeper values are refused by the
    model anyway (extra fields are scalars)."""
    problems = []
    for name, value in data.items():
        label = name.encode("utf-8", "backslashreplace").decode()
        if not _encodable(name):
            problems.append((label, "field name is not valid Unicode (a lone surrogate)"))
        elif isinstance(value, str) and not _encodable(value):
            problems.append((label, "not valid Unicode (a lone surrogate)"))
        elif isinstance(value, int | float) and not isinstance(value, bool) and (why := unstorable_number(value)):
            problems.append((label, why))
    return problems


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
