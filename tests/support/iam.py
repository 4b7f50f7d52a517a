"""IAM's decision on one DynamoDB request, from a role's statements (as tests/integration/local/test_iam.py
reads them from the translated template): an explicit Deny wins, else an Allow whose action, resource and
condition all match, else denied. The condition operators the template uses are evaluated as IAM does;
any other one fails loudly (teach it here before the template uses it).

A request names what IAM's DynamoDB condition keys see: the partition key values (dynamodb:LeadingKeys),
the attribute names (dynamodb:Attributes: a PutItem's item, an UpdateItem's key and update expression)
and ReturnValues.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

TABLE = "<LeadsTable.Arn>"


@dataclass(frozen=True)
class Request:
    action: str  # e.g. "dynamodb:PutItem"
    leading_keys: tuple[str, ...]
    attributes: tuple[str, ...] = ()
    return_values: str | None = None
    resource: str = TABLE

    def context(self) -> dict[str, list[str]]:
        values = {"dynamodb:LeadingKeys": list(self.leading_keys), "dynamodb:Attributes": list(self.attributes)}
        if self.return_values is not None:
            values["dynamodb:ReturnValues"] = [self.return_values]
        return values


@dataclass
class Decision:
    allowed: bool
    by: list[str] = field(default_factory=list)  # the Sids that decided


def decide(statements: list[tuple[dict[str, Any], list[str]]], request: Request) -> Decision:
    """``statements``: (statement, its resources rendered as test_iam.render does)."""
    allows: list[str] = []
    denies: list[str] = []
    for statement, resources in statements:
        if not _action_matches(statement, request.action) or not _resource_matches(resources, request.resource):
            continue
        if not condition_holds(statement.get("Condition", {}), request.context()):
            continue
        (denies if statement["Effect"] == "Deny" else allows).append(statement.get("Sid", "?"))
    if denies:
        return Decision(False, denies)
    return Decision(bool(allows), allows)


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    actions = statement.get("Action", [])
    actions = actions if isinstance(actions, list) else [actions]
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in actions)


def _resource_matches(resources: list[str], resource: str) -> bool:
    return any(fnmatch.fnmatchcase(resource, pattern) for pattern in resources)


def condition_holds(condition: dict[str, Any], context: dict[str, list[str]]) -> bool:
    for operator, keys in condition.items():
        for key, expected in keys.items():
            wanted = expected if isinstance(expected, list) else [expected]
            if not _holds(operator, context.get(key), [str(value) for value in wanted]):
                return False
    return True


def _holds(operator: str, values: list[str] | None, wanted: list[str]) -> bool:
    def like(value: str) -> bool:
        return any(fnmatch.fnmatchcase(value, pattern) for pattern in wanted)

    def equal(value: str) -> bool:
        return value in wanted

    tests = {"StringLike": like, "StringEquals": equal, "StringNotLike": lambda value: not like(value)}
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in tests:
        raise AssertionError(f"condition operator {operator!r}: teach tests/support/iam.py")
    test = tests[base]
    if qualifier == "ForAllValues":
        return all(test(value) for value in values or [])
    if qualifier == "ForAnyValue":
        return any(test(value) for value in values or [])
    if qualifier:
        raise AssertionError(f"condition qualifier {qualifier!r}: teach tests/support/iam.py")
    if not values:
        return if_exists
    return len(values) == 1 and test(values[0])


# --------------------------------------------------------------------------- requests from boto3 calls

# A name, whole (a function's, such as list_append(, is none: without the boundaries its prefix would be one).
_NAME = re.compile(r"#\w+|\b[A-Za-z_][A-Za-z0-9_]*\b(?!\s*\()")
_KEYWORDS = {"SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "IN", "BETWEEN"}


def update_attributes(params: dict[str, Any]) -> tuple[str, ...]:
    """The attribute names an UpdateItem touches: its key's and every one its update expression names."""
    names = params.get("ExpressionAttributeNames", {})
    expression = re.sub(r":\w+", " ", params.get("UpdateExpression", ""))
    found = set(params["Key"])
    for token in _NAME.findall(expression):
        if token.upper() in _KEYWORDS:
            continue
        found.add(names.get(token, token))
    return tuple(sorted(found))


def requests_of(operation: str, params: dict[str, Any]) -> list[Request]:
    """What IAM authorises for one DynamoDB call (a transaction: each of its items)."""

    def pk(item_or_key: dict[str, Any]) -> str:
        return str(item_or_key["pk"]["S"])

    if operation == "PutItem":
        return [Request("dynamodb:PutItem", (pk(params["Item"]),), tuple(sorted(params["Item"])))]
    if operation == "UpdateItem":
        returned = params.get("ReturnValues")
        return [Request("dynamodb:UpdateItem", (pk(params["Key"]),), update_attributes(params), returned)]
    if operation == "DeleteItem":
        return [Request("dynamodb:DeleteItem", (pk(params["Key"]),), tuple(sorted(params["Key"])))]
    if operation == "TransactWriteItems":
        found: list[Request] = []
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            inner = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}.get(kind)
            if inner is None:
                found.append(Request(f"dynamodb:{kind}Item", (pk(body["Key"]),)))
            else:
                found += requests_of(inner, body)
        return found
    return []
