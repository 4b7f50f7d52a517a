"""Python values <-> DynamoDB attribute values (floats as Decimal, None left out)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# DynamoDB's documented limits for a number (Developer Guide, "Supported data types and naming rules"): up
# to 38 digits of precision; zero, or a magnitude from 1E-130 to 9.9999999999999999999999999999999999999E+125.
# boto3's own context (DYNAMODB_CONTEXT) is wider (it takes 1e-131 or 9e126), which DynamoDB then refuses.
MAX_DIGITS = 38
SMALLEST = Decimal("1E-130")
LARGEST = Decimal("9.9999999999999999999999999999999999999E+125")


def unstorable_number(value: int | float | Decimal) -> str | None:
    """Why DynamoDB would refuse this number, or None when it can store it exactly."""
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        return "a number must be finite (no NaN or Infinity)"
    if number.is_zero():
        return None
    digits = number.as_tuple().digits
    significant = len(bytes(digits).rstrip(b"\0"))  # trailing zeros are not precision
    if significant > MAX_DIGITS:
        return f"a number must have at most {MAX_DIGITS} significant digits"
    if not SMALLEST <= abs(number) <= LARGEST:
        return "a number's magnitude must be between 1E-130 and 9.9999999999999999999999999999999999999E+125"
    return None


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in _to_dynamo(item).items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return _from_dynamo({k: _deserializer.deserialize(v) for k, v in item.items()})
