"""The HTTP adapter: what a vendor's body becomes, and the status code every answer and refusal gets."""

import json
from urllib.parse import urlencode

import pytest
from tf_retainer.api.parsing import parse_submission
from tf_retainer.api.status import answer_status, refusal_status
from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.models import LeadAnswer, Reason, Status

CERT_URL = "https://cert.trustedform.com/eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
LIMIT = 65536


def as_json(data) -> bytes:
    return json.dumps(data).encode()


def as_form(pairs) -> bytes:
    return urlencode(pairs).encode()


def refused(body: bytes, content_type: str | None = JSON, max_bytes: int = LIMIT) -> InputRejected:
    with pytest.raises(InputRejected) as caught:
        parse_submission(body, content_type, max_bytes)
    return caught.value


# --- accepted bodies ---------------------------------------------------------------------------


def test_json_lead_is_read_with_its_extra_fields():
    body = as_json({"trustedform_cert_url": CERT_URL, "email": "a@example.com", "lead_id": "V-1", "zip": "90210"})
    submission = parse_submission(body, JSON, LIMIT)
    assert submission.trustedform_cert_url == CERT_URL
    assert submission.email == "a@example.com"
    assert submission.lead_id == "V-1"
    assert submission.extra_fields == {"zip": "90210"}


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", " application/json "])
def test_json_media_type_is_matched_without_parameters_or_case(content_type):
    submission = parse_submission(
        as_json({"trustedform_cert_url": CERT_URL, "phone": "555-123-4567"}), content_type, LIMIT
    )
    assert submission.phone == "555-123-4567"


def test_form_lead_accepts_trustedforms_hidden_field_name():
    body = as_form([("xxTrustedFormCertUrl", CERT_URL), ("email", "a@example.com"), ("first_name", "Ann")])
    submission = parse_submission(body, f"{FORM}; charset=UTF-8", LIMIT)
    assert submission.trustedform_cert_url == CERT_URL
    # renamed, not kept twice as an extra field
    assert submission.extra_fields == {"first_name": "Ann"}


def test_json_lead_accepts_the_hidden_field_name_too():
    submission = parse_submission(as_json({"xxTrustedFormCertUrl": CERT_URL, "email": "a@example.com"}), JSON, LIMIT)
    assert submission.trustedform_cert_url == CERT_URL


def test_repeated_form_field_first_value_wins():
    body = as_form(
        [
            ("trustedform_cert_url", CERT_URL),
            ("email", "first@example.com"),
            ("email", "second@example.com"),
            ("trustedform_cert_url", "https://evil.example/x"),
        ]
    )
    submission = parse_submission(body, FORM, LIMIT)
    assert submission.email == "first@example.com"
    assert submission.trustedform_cert_url == CERT_URL


def test_blank_form_contact_field_does_not_count_as_contact():
    body = as_form([("trustedform_cert_url", CERT_URL), ("email", ""), ("phone", "5551234567")])
    submission = parse_submission(body, FORM, LIMIT)
    assert submission.email is None
    assert submission.phone == "5551234567"


def test_body_exactly_at_the_limit_is_read():
    body = as_json({"trustedform_cert_url": CERT_URL, "email": "a@example.com"})
    assert parse_submission(body, JSON, len(body)).email == "a@example.com"


# --- refused bodies ----------------------------------------------------------------------------


def test_body_over_the_limit_is_413():
    body = as_json({"trustedform_cert_url": CERT_URL, "email": "a@example.com"})
    error = refused(body, max_bytes=len(body) - 1)
    assert error.reason is Reason.PAYLOAD_TOO_LARGE
    assert refusal_status(error) == 413


def test_non_utf8_body_is_malformed_400():
    error = refused(b'{"email": "\xff\xfe"}')
    assert (error.reason, error.malformed, refusal_status(error)) == (Reason.INVALID_REQUEST, True, 400)


@pytest.mark.parametrize("body", [b"{not json", b"", b'{"trustedform_cert_url": '])
def test_invalid_json_is_malformed_400(body):
    error = refused(body)
    assert (error.reason, error.malformed, refusal_status(error)) == (Reason.INVALID_REQUEST, True, 400)


@pytest.mark.parametrize("body", [b"[]", b'"a string"', b"42", b"null", b'[{"trustedform_cert_url": "x"}]'])
def test_json_that_is_not_an_object_is_422(body):
    error = refused(body)
    assert (error.reason, error.malformed, refusal_status(error)) == (Reason.INVALID_REQUEST, False, 422)


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "multipart/form-data; boundary=x", "application/xml"])
def test_unsupported_media_type_is_415(content_type):
    error = refused(as_json({"trustedform_cert_url": CERT_URL, "email": "a@example.com"}), content_type)
    assert error.reason is Reason.UNSUPPORTED_MEDIA_TYPE
    assert refusal_status(error) == 415


@pytest.mark.parametrize(
    "data",
    [
        {"trustedform_cert_url": CERT_URL},
        {"trustedform_cert_url": CERT_URL, "email": "", "phone": "  "},
        {"trustedform_cert_url": CERT_URL, "email": None},
    ],
)
def test_lead_without_email_or_phone_is_missing_contact(data):
    error = refused(as_json(data))
    assert error.reason is Reason.MISSING_CONTACT
    assert refusal_status(error) == 422


@pytest.mark.parametrize(
    "data",
    [
        {"email": "a@example.com"},  # missing
        {"trustedform_cert_url": "", "email": "a@example.com"},  # empty
        {"trustedform_cert_url": "   ", "email": "a@example.com"},  # blank once stripped
        {"trustedform_cert_url": 123, "email": "a@example.com"},  # not a string
        {"trustedform_cert_url": [CERT_URL], "email": "a@example.com"},
        {"trustedform_cert_url": "https://cert.trustedform.com/" + "a" * 4096, "email": "a@example.com"},
    ],
)
def test_bad_certificate_url_field_is_invalid_certificate_url_with_field_errors(data):
    error = refused(as_json(data))
    assert error.reason is Reason.INVALID_CERTIFICATE_URL
    assert refusal_status(error) == 422
    assert error.errors
    assert [e.field for e in error.errors] == ["trustedform_cert_url"]
    answer = error.answer()
    assert answer.status is Status.REJECTED
    assert answer.errors == error.errors


def test_other_field_errors_are_invalid_request_naming_the_field():
    error = refused(as_json({"trustedform_cert_url": CERT_URL, "email": "not-an-email"}))
    assert error.reason is Reason.INVALID_REQUEST
    assert refusal_status(error) == 422
    assert [e.field for e in error.errors] == ["email"]


def test_certificate_url_error_wins_when_several_fields_are_bad():
    error = refused(as_json({"trustedform_cert_url": 1, "email": "nope"}))
    assert error.reason is Reason.INVALID_CERTIFICATE_URL
    assert {e.field for e in error.errors} == {"trustedform_cert_url", "email"}


# --- the status table --------------------------------------------------------------------------

EXPECTED_ANSWER_STATUS = {
    Status.RETAINED: 201,
    Status.PENDING: 202,
    Status.RECEIVED: 202,
    Status.REJECTED: 422,
    Status.EXPIRED: 422,
}


@pytest.mark.parametrize("status", list(Status))
def test_every_answer_status_has_an_http_status(status):
    assert answer_status(LeadAnswer(status=status)) == EXPECTED_ANSWER_STATUS[status]


EXPECTED_REFUSAL_STATUS = {
    Reason.PAYLOAD_TOO_LARGE: 413,
    Reason.UNSUPPORTED_MEDIA_TYPE: 415,
    Reason.LEAD_ID_CONFLICT: 409,
    Reason.LEAD_NOT_FOUND: 404,
    Reason.UNKNOWN_VENDOR_KEY: 401,
    Reason.VENDOR_KEY_REVOKED: 403,
    Reason.NOT_A_VENDOR_KEY: 403,
    Reason.REVOCATION_ID_CONFLICT: 409,
    Reason.CONSUMER_NOT_FOUND: 404,
}


@pytest.mark.parametrize("reason", list(Reason))
def test_every_refusal_reason_has_an_http_status(reason):
    error = InputRejected(reason, "detail")
    assert refusal_status(error) == EXPECTED_REFUSAL_STATUS.get(reason, 422)


@pytest.mark.parametrize("reason", list(Reason))
def test_a_malformed_body_is_400_whatever_the_reason(reason):
    assert refusal_status(InputRejected(reason, "detail", malformed=True)) == 400


@pytest.mark.parametrize(
    "literal",
    [
        "123456789012345678901234567890123456789012",
        "1e-200",
        "1e200",
        "NaN",
        "Infinity",
        "-Infinity",
        # Inside boto3's number context, outside DynamoDB's documented range (a 502 from DynamoDB before).
        "1e-131",
        "1.5e-140",
        "-1e-131",
        "9e126",
        "1e126",
        "-1e126",
    ],
)
def test_numbers_the_store_cannot_keep_are_refused(literal):
    body = f'{{"trustedform_cert_url": "{CERT_URL}", "email": "a@example.com", "score": {literal}}}'.encode()
    error = refused(body)
    assert refusal_status(error) in (400, 422)
    assert [e.field for e in error.errors or []] == ["score"]  # the answer names the field


@pytest.mark.parametrize(
    "literal",
    [
        "0",
        "-0.0",
        "1e-130",
        "-1e-130",
        # A number with a fraction or an exponent is read as a double (17 significant digits at most, as most
        # JSON readers do): the largest kept is the largest double under DynamoDB's maximum.
        "9.99999999999999e125",
        "-9.99999999999999e125",
        "12345678901234567890123456789012345678",  # 38 significant digits
        "1" + "0" * 60,  # one significant digit, however many zeros
    ],
)
def test_numbers_at_dynamodbs_documented_limits_are_kept(literal):
    body = f'{{"trustedform_cert_url": "{CERT_URL}", "email": "a@example.com", "score": {literal}}}'.encode()
    submission = parse_submission(body, JSON, LIMIT)
    assert submission.extra_fields["score"] == json.loads(literal)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"trustedform_cert_url": "%s", "email": "a@example.com", "note": "\\udfff"}', "note"),
        ('{"trustedform_cert_url": "%s", "email": "a@example.com", "\\ud800": 1}', "\\ud800"),
        ('{"trustedform_cert_url": "%s", "email": "a@example.com\\udfff"}', "email"),
    ],
)
def test_a_lone_surrogate_is_refused_naming_the_field(body, field):
    error = refused((body % CERT_URL).encode())
    assert refusal_status(error) == 422 and [e.field for e in error.errors or []] == [field]


def test_json_nested_deeper_than_the_stack_is_a_400_not_a_crash():
    deep = f'{{"trustedform_cert_url": "{CERT_URL}", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    error = refused(deep.encode())
    assert refusal_status(error) == 400 and "nested" in error.detail
