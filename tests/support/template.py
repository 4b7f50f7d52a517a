"""Reading template.yaml in tests: its resources, and what each function is granted and calls."""

from __future__ import annotations

from typing import Any


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == resource_type}


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


# What each function's code calls on the table (layers/common/tf_retainer/store.py, functions/*/app.py).
# TransactWriteItems is authorised per contained action: the store's transactions hold Put and Update.
TABLE_ACTIONS = {
    "IntakeFunction": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"},
    "RetryFunction": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"},
    "AuthorizerFunction": {"dynamodb:GetItem"},
    # The open index, and each vendor's leads still as reserved (the vendor index, then BatchGetItem: issue 22).
    "SweeperFunction": {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    },
    # Its event source mapping reads the stream with its role; the code reads nothing else.
    "PublisherFunction": {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    },
}
TABLE_ACTIONS["CallbackFunction"] = {"dynamodb:GetItem"}  # a vendor's callback URL and secret
# The vendor-key list and each vendor's leads (index Queries, then the states: BatchGetItem); a
# suspension's transaction (Update, Put).
TABLE_ACTIONS["AutoSuspendFunction"] = {
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:UpdateItem",
    "dynamodb:PutItem",
}
# Legal holds: finds leads (indexes), reads their partitions, writes history and hold records (PutItem,
# leading keys limited) and moves ttl (UpdateItem, attributes limited); never DeleteItem.
TABLE_ACTIONS["HoldFunction"] = {
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
}
# Leads' records and their certificates' claims (Query, GetItem), vendors' leads by day (the indexes,
# then the states: BatchGetItem), archived_to and an earlier ttl (UpdateItem, attributes limited).
TABLE_ACTIONS["ArchiverFunction"] = {
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:UpdateItem",
}
# Revocations and contact reports: a consumer's leads (the consumer indexes), the unapplied revocations (gsi2),
# reads of leads and revocations, writes of chain entries and revocations (Put), a revocation marked (Update).
TABLE_ACTIONS["ConsentFunction"] = {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
# The anchors: its event source mapping reads the stream with its role; the code reads nothing else.
TABLE_ACTIONS["AnchorFunction"] = TABLE_ACTIONS["PublisherFunction"]


def granted(items: list[Any]) -> list[Any]:
    """A list of policies or statements as granted when every condition holds (the widest grant): each
    ``Fn::If`` replaced by its first branch, its AWS::NoValue second branch dropped."""
    found = []
    for item in items:
        while isinstance(item, dict) and set(item) == {"Fn::If"}:
            item = item["Fn::If"][1]
        if item != {"Ref": "AWS::NoValue"}:
            found.append(item)
    return found


def statements(policies: list[Any]) -> list[dict[str, Any]]:
    found = []
    for policy in granted(policies):
        if isinstance(policy, dict) and "Statement" in policy:
            found += granted(policy["Statement"])
    return found


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def function_policies(template: dict[str, Any], name: str) -> tuple[set[str], list[dict[str, Any]]]:
    """A function's SAM policy templates and IAM statements: its Policies, or those of its own Role.
    (tests/integration/local/test_iam.py checks what SAM makes of them.)"""
    properties = props(template, name)
    if "Role" in properties:
        assert "Policies" not in properties, f"{name}: SAM ignores Policies when Role is set"
        role = properties["Role"]["Fn::GetAtt"][0]
        documents = [policy["PolicyDocument"] for policy in props(template, role)["Policies"]]
        return set(), [statement for document in documents for statement in granted(document["Statement"])]
    policies = granted(properties["Policies"])
    templates = {next(iter(policy)) for policy in policies if isinstance(policy, dict)} - {"Statement"}
    return templates, statements(policies)
