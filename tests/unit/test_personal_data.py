"""Personal data is recognised by the shape of a value, whatever field it came in (issue 26, item 6)."""

from __future__ import annotations

import pytest
from tf_retainer.domain import extras, personal_data


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("jane.doe@example.com", "email"),
        ("from Jane <jane@example.co.uk>", "email"),
        ("4111 1111 1111 1111", "card"),  # Visa's test number: passes Luhn
        ("4111-1111-1111-1111", "card"),
        (4111111111111111, "card"),
        ("078-05-1120", "ssn"),
        ("(512) 555-1212", "phone"),
        ("+1 512.555.1212", "phone"),
        ("5125551212", "phone"),
        (5125551212, "phone"),
        ("google", None),
        ("spring-sale-2026", None),
        ("4111111111111112", None),  # 16 digits that fail Luhn: not a card, and too long for a phone
        ("90210", None),
        ("12345-6789", None),  # ZIP+4
        (True, None),
        (3.5, None),
        (None, None),
    ],
)
def test_a_value_is_told_by_its_shape(value, kind):
    assert personal_data.kind_of(value) == kind


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("dob", True),
        ("utm_source", True),
        ("address.line1", True),
        ("jane@example.com", False),
        ("078-05-1120", False),
        ("5125551212", False),
        ("a name with spaces", False),
        ("x" * 65, False),
    ],
)
def test_only_plain_names_are_recorded(name, safe):
    assert personal_data.safe_name(name) is safe


def conceal(kind: str, value: str) -> str:
    return f"{kind}<{value}>"


def test_an_allowed_field_holding_personal_data_is_dropped_and_a_contact_field_concealed():
    screened = extras.screen(
        {
            "utm_source": "jane@example.com",  # allowed, but an email
            "utm_medium": "cpc",
            "affiliate_id": "4111 1111 1111 1111",  # allowed, but a card
            "sub_id": "A-17",
            "Mobile": "(512) 555-1212",
            "ssn": "078-05-1120",
            "jane@example.com": "x",  # a name that is itself personal data
            "a b": "y",
        },
        ("utm_source", "utm_medium", "affiliate_id", "sub_id"),
        conceal,
    )
    assert screened.kept == {"utm_medium": "cpc", "sub_id": "A-17", "Mobile": "phone<5125551212>"}
    assert screened.dropped == ["affiliate_id", "ssn", "utm_source", "(2 unnamed)"]
