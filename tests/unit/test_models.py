"""LeadSubmission: what a vendor may post, and what it becomes."""

import pytest
from pydantic import ValidationError
from tf_retainer.domain.models import MAX_EXTRA_FIELDS, LeadSubmission

CERT_URL = "https://cert.trustedform.com/eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947"


def lead(**fields) -> LeadSubmission:
    return LeadSubmission.model_validate({"trustedform_cert_url": CERT_URL, **fields})


def invalid(**fields) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        lead(**fields)
    return caught.value


def error_fields(error: ValidationError) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in error.errors()]


@pytest.mark.parametrize(
    "email", ["a@example.com", "first.last+tag@sub.example.co.uk", "A@EXAMPLE.COM", "x" * 64 + "@example.com"]
)
def test_email_addresses_are_accepted(email):
    assert lead(email=email).email == email


@pytest.mark.parametrize(
    "email",
    ["plain", "a@b", "a@@b.com", "a b@example.com", "@example.com", "a@example.", "x" * 65 + "@example.com"],
)
def test_things_that_are_not_email_addresses_are_refused(email):
    assert error_fields(invalid(email=email)) == ["email"]


def test_email_longer_than_254_characters_is_refused():
    assert error_fields(invalid(email="a@" + "b" * 250 + ".com")) == ["email"]


@pytest.mark.parametrize("phone", ["5551234567", "+1 (555) 123-4567", "555.123.4567", "1234567"])
def test_phone_numbers_are_accepted(phone):
    assert lead(phone=phone).phone == phone


@pytest.mark.parametrize("phone", ["123456", "555-CALL-NOW", "555/123/4567", "+1 555 123 4567 ext 9", "1" * 33])
def test_things_that_are_not_phone_numbers_are_refused(phone):
    assert error_fields(invalid(phone=phone)) == ["phone"]


@pytest.mark.parametrize("field", ["email", "phone"])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_empty_contact_fields_become_none(field, value):
    submission = lead(**{field: value})
    assert getattr(submission, field) is None
    assert not submission.has_contact


@pytest.mark.parametrize("field", ["email", "phone", "lead_id", "trustedform_cert_url"])
def test_known_fields_must_be_strings(field):
    fields = {"email": "a@example.com", field: 5551234567}
    assert field in error_fields(invalid(**fields))


def test_known_fields_are_stripped():
    submission = lead(
        trustedform_cert_url=f"  {CERT_URL}\n", email=" a@example.com ", phone="\t5551234567 ", lead_id=" V-1 "
    )
    assert submission.trustedform_cert_url == CERT_URL
    assert submission.email == "a@example.com"
    assert submission.phone == "5551234567"
    assert submission.lead_id == "V-1"


def test_has_contact_with_either_email_or_phone():
    assert lead(email="a@example.com").has_contact
    assert lead(phone="5551234567").has_contact


@pytest.mark.parametrize("lead_id", ["V-1", "abc_123", "!~", "x" * 128, "order#42/7"])
def test_vendor_lead_ids_of_printable_ascii_are_accepted(lead_id):
    assert lead(lead_id=lead_id).lead_id == lead_id


@pytest.mark.parametrize("lead_id", ["has space", "tab\tinside", "caf\u00e9", "x" * 129, "", "line\nbreak"])
def test_vendor_lead_ids_outside_the_pattern_are_refused(lead_id):
    assert error_fields(invalid(lead_id=lead_id)) == ["lead_id"]


def test_extra_fields_are_kept_as_received():
    submission = lead(email="a@example.com", zip=" 90210 ", age=42, score=0.5, opted_in=True, note=None)
    assert submission.extra_fields == {"zip": " 90210 ", "age": 42, "score": 0.5, "opted_in": True, "note": None}


def test_at_most_the_maximum_number_of_extra_fields():
    extras = {f"f{i}": "x" for i in range(MAX_EXTRA_FIELDS)}
    assert len(lead(email="a@example.com", **extras).extra_fields) == MAX_EXTRA_FIELDS
    with pytest.raises(ValidationError, match="at most 100 extra fields"):
        lead(email="a@example.com", **extras, one_more="x")


def test_extra_field_names_are_bounded():
    assert lead(email="a@example.com", **{"n" * 64: "x"}).extra_fields == {"n" * 64: "x"}
    with pytest.raises(ValidationError, match="64 characters"):
        lead(email="a@example.com", **{"n" * 65: "x"})


def test_extra_field_values_are_bounded():
    assert lead(email="a@example.com", note="v" * 2048).extra_fields["note"] == "v" * 2048
    with pytest.raises(ValidationError, match="longer than 2048"):
        lead(email="a@example.com", note="v" * 2049)


@pytest.mark.parametrize("value", [{"nested": 1}, [1, 2], ["a"]])
def test_extra_field_values_must_be_scalars(value):
    with pytest.raises(ValidationError, match="must be a string, number, boolean or null"):
        lead(email="a@example.com", extra=value)


def test_hidden_field_name_does_not_override_an_explicit_certificate_url():
    other = "https://cert.trustedform.com/" + "b" * 40
    submission = lead(xxTrustedFormCertUrl=other, email="a@example.com")
    assert submission.trustedform_cert_url == CERT_URL
