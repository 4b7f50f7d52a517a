"""Numbers across DynamoDB's whole exponent range: a lead is refused naming the field, or every number it
carries is one DynamoDB stores (an unstorable number would fail the write in AWS: a 5xx moto never shows).

The oracle is DynamoDB's documented rule, written here on its own: zero, or at most 38 significant digits
with a decimal exponent (scientific notation) from -130 to +125.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tf_retainer.api.parsing import JSON, parse_submission
from tf_retainer.domain.errors import InputRejected

from tests.support.hostile import parse_budget, stack_budget

CERT_URL = "https://cert.trustedform.com/" + "e" * 40


def dynamodb_stores(value: Any) -> bool:
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if number.is_zero():
        return True
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    significant = "".join(map(str, digits)).rstrip("0")
    return len(significant) <= 38 and -130 <= exponent + len(digits) - 1 <= 125


# Mantissas of 1 to 40 digits, with a sign and a decimal point anywhere, at every exponent around
# DynamoDB's range and well beyond it.
mantissas = st.builds(
    lambda sign, digits, point: sign + (digits[:point] + "." + digits[point:] if 0 < point < len(digits) else digits),
    st.sampled_from(("", "-")),
    st.text("0123456789", min_size=1, max_size=40).filter(lambda d: d[0] != "0" or len(d) == 1),
    st.integers(0, 40),
)
numbers = st.builds("{}e{}".format, mantissas, st.integers(-170, 170)) | st.integers(-(10**45), 10**45).map(str)


def lead_with(literal: str) -> bytes:
    return f'{{"trustedform_cert_url": "{CERT_URL}", "email": "a@example.com", "score": {literal}}}'.encode()


def test_a_number_is_refused_naming_its_field_or_kept_as_dynamodb_stores_it():
    @parse_budget()
    @given(literal=numbers)
    def refused_or_storable(literal: str) -> None:
        try:
            submission = parse_submission(lead_with(literal), JSON, 65536)
        except InputRejected as refused:
            assert [error.field for error in refused.errors or []] == ["score"], literal
            assert not dynamodb_stores(json.loads(literal)), f"{literal} is storable, yet refused"
            return
        assert dynamodb_stores(submission.extra_fields["score"]), f"{literal} was kept, DynamoDB refuses it"

    refused_or_storable()


def test_a_lead_carrying_any_number_never_gets_a_5xx(stack, outbound):
    @stack_budget()
    @given(literal=numbers)
    def answered(literal: str) -> None:
        response = stack.post(None, raw=lead_with(literal).replace(b"e" * 40, _fresh_cert().encode()))
        assert response.status < 500, (literal, response.status)
        if response.status in (201, 202):  # kept: stored exactly as DynamoDB would store it
            state = stack.lead_state(response.json()["lead_id"])
            assert dynamodb_stores(state["lead"].get("score", 0)), literal

    answered()


def _fresh_cert() -> str:
    from local.simulator import make_web_cert_id

    return make_web_cert_id()
