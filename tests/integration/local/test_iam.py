"""IAM as CloudFormation gets it: template.yaml translated by SAM (samtranslator, offline), then checked.

What SAM adds on its own is where wide grants hide (an SQS event source attaches
AWSLambdaSQSQueueExecutionRole, whose Resource is "*"; the DynamoDB policy templates grant Scan,
BatchWriteItem or DeleteItem), so the rules run on the translated template, every role of it:

* a statement with Resource "*" holds only actions that have no resource-level permissions (X-Ray);
* no Allow with NotAction or NotResource; no "*" (all actions) and no wildcard DynamoDB action; no SQS
  or DynamoDB action on a resource containing a wildcard (every queue, every table, every index);
* no managed policy but the reviewed ones (basic logs, X-Ray), and by name none known to grant SQS or
  DynamoDB access wholesale (AWSLambdaSQSQueueExecutionRole, AmazonDynamoDBFullAccess, ...);
* no dynamodb:DeleteItem, Scan, BatchWriteItem, PartiQLDelete or table administration for anyone;
* per function, the DynamoDB and SQS grants (action, resource) are exactly what its code calls.

samtranslator comes from aws-sam-cli's venv (``make sam-install``, .venv-sam) when the test's own
interpreter does not have it: it runs there in a subprocess, on the JSON of the template.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.provision import load_template
from tests.support.sam import REGION, as_list, function_roles, grants, managed_policies, normalise, render, translate
from tests.support.template import TABLE_ACTIONS

TABLE = "<LeadsTable.Arn>"
OPEN_INDEX = "<LeadsTable.Arn>/index/gsi2"
QUEUE = "<RetryQueue.Arn>"
STREAM = "<LeadsTable.StreamArn>"
STREAM_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")

# Actions with no resource-level permissions: the only ones a statement may grant on Resource "*".
RESOURCELESS_ACTIONS = {
    "xray:puttracesegments",
    "xray:puttelemetryrecords",
    "xray:getsamplingrules",
    "xray:getsamplingtargets",
    "xray:getsamplingstatisticsummaries",
    "dynamodb:liststreams",  # stream ARNs only (the publisher's event source mapping)
}
# Managed policies reviewed and allowed: logs (AWSLambdaBasicExecutionRole: logs:CreateLogGroup,
# CreateLogStream, PutLogEvents) and X-Ray. Any other one fails until someone reviews it.
ALLOWED_MANAGED_POLICIES = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess"}
# Known to grant SQS or DynamoDB on every queue or table of the account (named in the failure).
WIDE_MANAGED_POLICIES = {
    "AWSLambdaSQSQueueExecutionRole",
    "AmazonSQSFullAccess",
    "AmazonSQSReadOnlyAccess",
    "AmazonDynamoDBFullAccess",
    "AmazonDynamoDBFullAccess_v2",
    "AmazonDynamoDBFullAccesswithDataPipeline",
    "AmazonDynamoDBReadOnlyAccess",
    "AWSLambdaDynamoDBExecutionRole",
    "AWSLambdaInvocation-DynamoDB",
    "AWSLambda_FullAccess",
    "PowerUserAccess",
    "AdministratorAccess",
}
# Nobody deletes or scans (BatchWriteItem deletes too); the table is administered by CloudFormation only.
FORBIDDEN_DYNAMODB_ACTIONS = {
    "dynamodb:deleteitem",
    "dynamodb:scan",
    "dynamodb:batchwriteitem",
    "dynamodb:partiqldelete",
    "dynamodb:deletetable",
    "dynamodb:updatetable",
    "dynamodb:restoretablefrompointintime",
}
# SQS wildcards a SAM policy template may use on the retry queue (SQSSendMessagePolicy: SendMessage, batch).
ALLOWED_SQS_WILDCARDS = {"sqs:sendmessage*"}

# (action, resource) per function: TABLE_ACTIONS (tests/support/template.py) says which, this says where.
EXPECTED_DYNAMODB = {
    "IntakeFunction": {(action, TABLE) for action in TABLE_ACTIONS["IntakeFunction"]},
    "RetryFunction": {(action, TABLE) for action in TABLE_ACTIONS["RetryFunction"]},
    "AuthorizerFunction": {("dynamodb:GetItem", TABLE)},  # vendor key items only (condition below)
    "SweeperFunction": {
        ("dynamodb:Query", OPEN_INDEX),
        # leads still as reserved: each vendor's since the watermark (issue 22), then their states
        ("dynamodb:Query", "<LeadsTable.Arn>/index/gsi1"),
        ("dynamodb:BatchGetItem", TABLE),
        ("dynamodb:GetItem", TABLE),
        ("dynamodb:Query", TABLE),
        ("dynamodb:PutItem", TABLE),
        ("dynamodb:UpdateItem", TABLE),
    },
    # The stream only (its event source mapping reads with the function's role; the entry says it all).
    "PublisherFunction": {(action, STREAM) for action in STREAM_ACTIONS} | {("dynamodb:ListStreams", "*")},
    "AnchorFunction": {(action, STREAM) for action in STREAM_ACTIONS} | {("dynamodb:ListStreams", "*")},
    "CallbackFunction": {("dynamodb:GetItem", TABLE)},  # vendor callback items only (condition below)
    # The vendor-key list and each vendor's leads; suspensions on vendor key items only (condition below).
    "AutoSuspendFunction": {
        ("dynamodb:Query", OPEN_INDEX),
        ("dynamodb:Query", "<LeadsTable.Arn>/index/gsi1"),
        ("dynamodb:BatchGetItem", TABLE),  # the leads' states (gsi1 holds keys only; condition: LEAD#*)
        ("dynamodb:UpdateItem", TABLE),
        ("dynamodb:PutItem", TABLE),
    },
    # Legal holds: the indexes that find leads and list holds; reads; conditioned writes (test below).
    "HoldFunction": {("dynamodb:Query", f"{TABLE}/index/{index}") for index in ("gsi1", "gsi2", "gsi3", "gsi4")}
    | {
        ("dynamodb:Query", TABLE),
        ("dynamodb:GetItem", TABLE),
        ("dynamodb:PutItem", TABLE),
        ("dynamodb:UpdateItem", TABLE),
        ("dynamodb:BatchGetItem", TABLE),  # a vendor's leads' states (gsi1 holds keys only)
    },
    # Leads' records and their certificates' claims, vendors' leads by day (the index, then the states:
    # BatchGetItem, condition LEAD#*) and the vendors; archived_to and an earlier ttl (condition).
    "ArchiverFunction": {
        ("dynamodb:Query", TABLE),
        ("dynamodb:GetItem", TABLE),
        ("dynamodb:BatchGetItem", TABLE),
        ("dynamodb:Query", "<LeadsTable.Arn>/index/gsi1"),
        ("dynamodb:Query", OPEN_INDEX),
        ("dynamodb:UpdateItem", TABLE),
    },
}
# Revocations and contact reports: the consumer indexes and the unapplied revocations' list; reads of leads,
# vendors' lead ids and revocations, Puts of chain entries and revocations, Updates of revocations (conditions).
EXPECTED_DYNAMODB["ConsentFunction"] = {
    ("dynamodb:Query", f"{TABLE}/index/gsi3"),
    ("dynamodb:Query", f"{TABLE}/index/gsi4"),
    ("dynamodb:Query", OPEN_INDEX),
    ("dynamodb:Query", TABLE),
    ("dynamodb:GetItem", TABLE),
    ("dynamodb:PutItem", TABLE),
    ("dynamodb:UpdateItem", TABLE),
}
EXPECTED_SQS = {
    "IntakeFunction": {("sqs:SendMessage*", QUEUE)},
    # The event source mapping polls with the function's role (receive, delete, attributes); the retry
    # worker requeues with SendMessage.
    "RetryFunction": {
        ("sqs:ReceiveMessage", QUEUE),
        ("sqs:DeleteMessage", QUEUE),
        ("sqs:GetQueueAttributes", QUEUE),
        ("sqs:SendMessage", QUEUE),
    },
    "AuthorizerFunction": set(),
    "SweeperFunction": {("sqs:SendMessage*", QUEUE)},
    "HoldFunction": set(),
    "PublisherFunction": {("sqs:SendMessage", "<PublishFailureQueue.Arn>")},  # the OnFailure destination
    "AnchorFunction": {("sqs:SendMessage", "<AnchorFailureQueue.Arn>")},  # the OnFailure destination
    "ArchiverFunction": set(),
    # Its event source mapping polls the callback queue; a later attempt or a given-up job is a new message.
    "CallbackFunction": {
        ("sqs:ReceiveMessage", "<CallbackQueue.Arn>"),
        ("sqs:DeleteMessage", "<CallbackQueue.Arn>"),
        ("sqs:GetQueueAttributes", "<CallbackQueue.Arn>"),
        ("sqs:SendMessage", "<CallbackQueue.Arn>"),
        ("sqs:SendMessage", "<CallbackDeadLetterQueue.Arn>"),
    },
    "AutoSuspendFunction": set(),
    "ConsentFunction": set(),
}
VENDOR_KEYS_ONLY = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["VENDORKEY#*"]}}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate(load_template())


def data_grants(template: dict[str, Any], role: str, service: str) -> set[tuple[str, str]]:
    """(action, resource) pairs the role is allowed on DynamoDB or SQS."""
    pairs = set()
    for grant in grants(template):
        if grant.role != role or grant.statement.get("Effect") != "Allow":
            continue
        for action in grant.actions():
            if action.lower().startswith(f"{service}:"):
                pairs |= {(action, resource) for resource in grant.resources()}
    return pairs


# --------------------------------------------------------------------------- the rules


def violations(template: dict[str, Any]) -> list[str]:
    """Every broken rule of the module docstring (but the per-function expectations), as messages."""
    problems = []
    for grant in grants(template):
        statement, where = grant.statement, f"{grant.role} {grant.statement.get('Sid', '')}".strip()
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{where}: Allow with NotAction/NotResource")
            continue
        actions = [action.lower() for action in grant.actions()]
        resources = grant.resources()
        if "*" in resources and not set(actions) <= RESOURCELESS_ACTIONS:
            wide = sorted(set(actions) - RESOURCELESS_ACTIONS)
            problems.append(f"{where}: {wide} on Resource '*' (only resourceless actions may)")
        for action in actions:
            service = action.split(":", 1)[0] if ":" in action else "*"
            if service == "*":
                problems.append(f"{where}: action {action!r} (every service)")
            elif service == "dynamodb" and ("*" in action or "?" in action):
                problems.append(f"{where}: wildcard DynamoDB action {action!r}")
            elif service == "sqs" and ("*" in action or "?" in action) and action not in ALLOWED_SQS_WILDCARDS:
                problems.append(f"{where}: wildcard SQS action {action!r}")
            if action in FORBIDDEN_DYNAMODB_ACTIONS:
                problems.append(f"{where}: {action} (nobody deletes, scans or administers the table)")
            if service in ("sqs", "dynamodb", "*") and action not in RESOURCELESS_ACTIONS:
                for resource in resources:
                    if "*" in resource or "?" in resource:
                        problems.append(f"{where}: {action} on wildcard resource {resource!r}")
    for role, names in managed_policies(template).items():
        for name in sorted(names & WIDE_MANAGED_POLICIES):
            problems.append(f"{role}: managed policy {name} (SQS/DynamoDB on every queue/table)")
        for name in sorted(names - WIDE_MANAGED_POLICIES - ALLOWED_MANAGED_POLICIES):
            problems.append(f"{role}: managed policy {name} not reviewed (ALLOWED_MANAGED_POLICIES)")
    return sorted(set(problems))


# --------------------------------------------------------------------------- tests: the template


def test_translation_grants_nothing_wide(translated: dict[str, Any]) -> None:
    assert violations(translated) == []


def test_every_function_is_checked(translated: dict[str, Any]) -> None:
    assert set(function_roles(translated)) == set(EXPECTED_DYNAMODB) == set(EXPECTED_SQS) == set(TABLE_ACTIONS)


@pytest.mark.parametrize("function", sorted(EXPECTED_DYNAMODB))
def test_function_grants_match_its_code(translated: dict[str, Any], function: str) -> None:
    role = function_roles(translated)[function]
    assert data_grants(translated, role, "dynamodb") == EXPECTED_DYNAMODB[function]
    assert data_grants(translated, role, "sqs") == EXPECTED_SQS[function]
    # Secrets: only the functions that call TrustedForm and the screening providers read their keys (each
    # provider's only when a screen is given to it); only those that store a lead, send its sealed
    # fingerprints again or find a consumer's leads read the consumer key; nothing else. Only the intake
    # and the retry worker open sealed phone numbers (the intake seals them: ContactKey's policy says so).
    secrets = data_grants(translated, role, "secretsmanager")
    wanted = set()
    if function in ("IntakeFunction", "RetryFunction"):
        keys = (
            "TrustedFormApiKeySecret",
            *(f"{p}ApiKeySecret" for p in ("BlacklistAlliance", "DncScrub", "TwilioLookup", "Jornaya")),
        )
        wanted |= {("secretsmanager:GetSecretValue", f"<{key}>") for key in keys}
    if function in ("IntakeFunction", "RetryFunction", "HoldFunction", "ConsentFunction"):
        wanted.add(("secretsmanager:GetSecretValue", "<ConsumerKeySecret>"))
    assert secrets == wanted
    # No role's own policy names the contact key: its key policy names the two that seal and open numbers
    # (test_iam_writes.py).
    assert not [grant for grant in data_grants(translated, role, "kms") if grant[1] == "<ContactKey.Arn>"]


def dynamodb_statements(
    translated: dict[str, Any], function: str, actions: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """The statements of the function's role that grant DynamoDB actions (any, or one of ``actions``)."""
    role = function_roles(translated)[function]
    return [
        grant.statement
        for grant in grants(translated)
        if grant.role == role
        and any(action.startswith("dynamodb:") and (actions is None or action in actions) for action in grant.actions())
    ]


def test_authorizer_reads_vendor_keys_only(translated: dict[str, Any]) -> None:
    table_statements = dynamodb_statements(translated, "AuthorizerFunction")
    assert table_statements and all(statement["Condition"] == VENDOR_KEYS_ONLY for statement in table_statements)


def test_auto_suspend_writes_vendor_keys_only(translated: dict[str, Any]) -> None:
    writes = dynamodb_statements(
        translated, "AutoSuspendFunction", frozenset({"dynamodb:UpdateItem", "dynamodb:PutItem"})
    )
    assert writes and all(statement["Condition"] == VENDOR_KEYS_ONLY for statement in writes)


def test_callback_function_reads_vendor_callbacks_only(translated: dict[str, Any]) -> None:
    table_statements = dynamodb_statements(translated, "CallbackFunction")
    leading_keys = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["VENDORCALLBACK#*"]}}
    assert table_statements and all(statement["Condition"] == leading_keys for statement in table_statements)


def test_hold_function_writes_only_new_records_and_the_ttl_bookkeeping(translated: dict[str, Any]) -> None:
    """Its PutItem is limited to lead, certificate (or LeadiD token) and hold partitions; its UpdateItem to the
    attributes that take an item out of TTL (dynamodb:Attributes), so it cannot rewrite evidence; no DeleteItem."""
    role = function_roles(translated)["HoldFunction"]
    writes = {
        action: grant.statement
        for grant in grants(translated)
        if grant.role == role
        for action in grant.actions()
        if action in ("dynamodb:PutItem", "dynamodb:UpdateItem")
    }
    assert writes["dynamodb:PutItem"]["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LEAD#*", "CERT#*", "LEADID#*", "HOLD#*"]}
    }
    attributes = writes["dynamodb:UpdateItem"]["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert {"ttl", "held_ttl", "holds"} <= set(attributes)
    assert not set(attributes) & {"status", "detail", "lead", "match_lead", "request", "response"}


def test_retry_role_is_the_templates_own(translated: dict[str, Any]) -> None:
    """No SAM-generated policy on the retry role: its logs and X-Ray are granted explicitly, narrowly."""
    role = function_roles(translated)["RetryFunction"]
    assert role == "RetryFunctionRole"
    assert managed_policies(translated)[role] == set()
    properties = translated["Resources"][role]["Properties"]
    assert properties["Tags"] == [
        {"Key": "service", "Value": "tf-retainer"},
        {"Key": "stage", "Value": {"Ref": "Stage"}},
    ]
    principals = [s["Principal"] for s in properties["AssumeRolePolicyDocument"]["Statement"]]
    assert principals == [{"Service": "lambda.amazonaws.com"}]
    logs = data_grants(translated, role, "logs")
    assert logs == {
        ("logs:CreateLogStream", "<RetryFunctionLogGroup.Arn>"),
        ("logs:PutLogEvents", "<RetryFunctionLogGroup.Arn>"),
    }
    assert data_grants(translated, role, "xray") == {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
    services = {
        action.split(":")[0] for grant in grants(translated) if grant.role == role for action in grant.actions()
    }
    # kms: the table's key through DynamoDB, ServiceKey through SQS and Secrets Manager (TableKeyWriters,
    # ServiceKeySecretReaders, ServiceKeyQueueUsers; test_each_role_holds_the_keys_its_calls_need_and_no_more).
    assert services == {"sqs", "dynamodb", "secretsmanager", "logs", "xray", "kms"}


def test_retry_event_source_is_capped(translated: dict[str, Any]) -> None:
    (mapping,) = [
        resource
        for resource in translated["Resources"].values()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
        and resource["Properties"]["FunctionName"] == {"Ref": "RetryFunction"}
    ]
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["RetryQueue", "Arn"]}
    assert mapping["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Fn::FindInMap": ["StageConfig", {"Ref": "Stage"}, "RetryMaxConcurrency"]}
    }


def test_no_api_key_of_sams_own(translated: dict[str, Any]) -> None:
    """Vendors' keys are created by `tf-retainer vendors add`; the stack creates none (SAM's PER_API usage
    plan did: an enabled key on the plan, used by nobody)."""
    types = [resource["Type"] for resource in translated["Resources"].values()]
    assert "AWS::ApiGateway::ApiKey" not in types
    assert "AWS::ApiGateway::UsagePlanKey" not in types
    plans = {k: r for k, r in translated["Resources"].items() if r["Type"] == "AWS::ApiGateway::UsagePlan"}
    assert set(plans) == {"LeadsApiUsagePlan"}
    (stage_id,) = [k for k, r in translated["Resources"].items() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert plans["LeadsApiUsagePlan"]["Properties"]["ApiStages"] == [
        {"ApiId": {"Ref": "LeadsApi"}, "Stage": {"Ref": stage_id}}
    ]
    assert translated["Outputs"]["UsagePlanId"]["Value"] == {"Ref": "LeadsApiUsagePlan"}


def test_alarm_key_serves_this_stacks_alarms_only(translated: dict[str, Any]) -> None:
    policy = translated["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]
    services = [s for s in policy["Statement"] if "Service" in s.get("Principal", {})]
    assert [s["Principal"]["Service"] for s in services] == ["cloudwatch.amazonaws.com"]
    (statement,) = services
    assert set(statement["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*"
            }
        },
    }
    # The condition holds every alarm of the stack: each is named after it.
    alarms = [r for r in translated["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarms
    for alarm in alarms:
        name = alarm["Properties"]["AlarmName"]
        assert isinstance(name, dict) and name["Fn::Sub"].startswith("${AWS::StackName}-"), name
    # The account's root keeps the key administrable (else nobody could change this policy).
    (root,) = [s for s in policy["Statement"] if "AWS" in s.get("Principal", {})]
    assert root["Principal"]["AWS"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}


# --------------------------------------------------------------------------- tests: the customer keys

# What a call needs of the key behind the resource it touches (the table's, the archive's, ServiceKey),
# through the service that uses it: the table (or its stream) read needs the table key's Decrypt, a write its
# data keys too (as AWS's own table grants do); a secret read ServiceKey's Decrypt; a send to an encrypted queue
# a data key and its decryption, a receive the decryption; an archive object written, a data key; read, Decrypt.
TABLE_KEY, SERVICE_KEY, ARCHIVE_KEY = "<LeadsTableKey.Arn>", "<ServiceKey.Arn>", "<ArchiveKey.Arn>"
TABLE_KEY_READ = frozenset({"kms:Decrypt", "kms:DescribeKey"})
TABLE_KEY_WRITE = TABLE_KEY_READ | {"kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"}
# Each key's use through the services that encrypt with it, never directly (its key policy says so too).
KEY_SERVICES = {TABLE_KEY: {"dynamodb"}, SERVICE_KEY: {"sqs", "secretsmanager"}, ARCHIVE_KEY: {"s3"}}


def _via(statement: dict[str, Any]) -> set[str]:
    """The services a KMS statement is limited to (kms:ViaService), by their first label; empty: none."""
    via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", [])
    return {render(service).split(".", 1)[0] for service in as_list(via)}


def key_grants(template: dict[str, Any], role: str) -> dict[tuple[str, str], set[str]]:
    """(key, service through which it is used, or "" for any) -> the KMS actions the role is allowed."""
    found: dict[tuple[str, str], set[str]] = {}
    for grant in grants(template):
        if grant.role != role or grant.statement.get("Effect") != "Allow":
            continue
        kms_actions = {action for action in grant.actions() if action.startswith("kms:")}
        for resource in grant.resources() if kms_actions else []:
            for service in _via(grant.statement) or {""}:
                found.setdefault((resource, service), set()).update(kms_actions)
    return found


def key_needs(template: dict[str, Any], role: str) -> dict[tuple[str, str], set[str]]:
    """What the role's table, queue, secret and archive grants need of the keys behind them."""
    actions: set[tuple[str, str]] = set()
    for service in ("dynamodb", "sqs", "secretsmanager", "s3"):
        actions |= {(action.lower(), resource) for action, resource in data_grants(template, role, service)}
    needs: dict[tuple[str, str], set[str]] = {}
    if any(action.startswith("dynamodb:") and resource.startswith("<LeadsTable.") for action, resource in actions):
        writes = {("dynamodb:putitem", TABLE), ("dynamodb:updateitem", TABLE)} & actions
        needs[(TABLE_KEY, "dynamodb")] = set(TABLE_KEY_WRITE if writes else TABLE_KEY_READ)
    if any(action == "secretsmanager:getsecretvalue" for action, _ in actions):
        needs[(SERVICE_KEY, "secretsmanager")] = {"kms:Decrypt"}
    if any(action.startswith("sqs:sendmessage") for action, _ in actions):
        needs[(SERVICE_KEY, "sqs")] = {"kms:GenerateDataKey", "kms:Decrypt"}
    elif any(action == "sqs:receivemessage" for action, _ in actions):
        needs[(SERVICE_KEY, "sqs")] = {"kms:Decrypt"}
    archive = {action for action, resource in actions if resource.startswith("<ArchiveBucket.Arn>/")}
    archive_key = {
        kms for s3, kms in (("s3:putobject", "kms:GenerateDataKey"), ("s3:getobject", "kms:Decrypt")) if s3 in archive
    }
    if archive_key:
        needs[(ARCHIVE_KEY, "")] = archive_key
    return needs


@pytest.mark.parametrize("function", sorted(EXPECTED_DYNAMODB))
def test_each_role_holds_the_keys_its_calls_need_and_no_more(translated: dict[str, Any], function: str) -> None:
    """The table, the queues and the secrets are under customer keys whose policies leave their use to IAM:
    a role that reads the table without the table key's grant reads nothing in AWS (moto does not check
    it), and one that holds a key it does not need holds too much. Each key only through its services."""
    role = function_roles(translated)[function]
    needed = key_needs(translated, role)
    assert needed, f"{function} touches no encrypted resource?"
    held = {grant: actions for grant, actions in key_grants(translated, role).items() if grant[0] in KEY_SERVICES}
    assert held == needed
    for key, service in held:
        assert service in KEY_SERVICES[key] or (key == ARCHIVE_KEY and service == ""), (key, service)


def _grants_action(statement: dict[str, Any], action: str) -> bool:
    import fnmatch

    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in as_list(statement["Action"]))


def test_no_key_policy_hands_out_grants_or_names_everyone(translated: dict[str, Any]) -> None:
    """No key policy allows "*" as principal, nor kms:CreateGrant (kms:Create*, kms:*) to the account: a
    grant gives a key's use past its policy (ContactKey's, CallbackSecretKey's and AnchorKey's name the
    only roles that may open or MAC). The one grant is DynamoDB's own on the table's key, made through
    DynamoDB for an AWS resource when the table is created or its key changed."""
    keys = {name: r for name, r in translated["Resources"].items() if r["Type"] == "AWS::KMS::Key"}
    assert {"LeadsTableKey", "ServiceKey", "ArchiveKey", "CallbackSecretKey", "AnchorKey"} <= set(keys)
    dynamodb_grant = {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}},
        "Bool": {"kms:GrantIsForAWSResource": True},
    }
    granting = []
    for name, key in keys.items():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            assert statement["Effect"] == "Allow", name
            assert statement["Principal"] not in ("*", {"AWS": "*"}), f"{name} {statement.get('Sid')}: everyone"
            assert "kms:*" not in as_list(statement["Action"]), f"{name} {statement.get('Sid')}: kms:*"
            if "Service" in statement["Principal"]:  # a service for this stack's resources only
                assert statement.get("Condition"), f"{name} {statement.get('Sid')}: a service, unconditioned"
            if _grants_action(statement, "kms:CreateGrant"):
                granting.append((name, statement["Action"], statement.get("Condition")))
    assert granting == [("LeadsTableKey", "kms:CreateGrant", dynamodb_grant)]


@pytest.mark.parametrize("key", ["LeadsTableKey", "ServiceKey", "ArchiveKey"])
def test_the_data_keys_are_used_only_through_their_services(translated: dict[str, Any], key: str) -> None:
    """The account's use of each data key (through which IAM grants it) is limited to the services that encrypt
    with it: nobody decrypts a table key, a queue's or a secret's data key, or an archive's, directly."""
    policy = translated["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
    root = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    crypto = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:GenerateMac")
    using = [s for s in policy if s["Principal"] == root and any(_grants_action(s, a) for a in crypto)]
    assert using and all(_via(statement) == KEY_SERVICES[f"<{key}.Arn>"] for statement in using)


# --------------------------------------------------------------------------- tests: the check itself


def test_check_catches_sams_sqs_policy() -> None:
    """RetryFunction back on the role SAM generates (as before it had its own): the check fails."""
    template = load_template()
    retry = template["Resources"]["RetryFunction"]["Properties"]
    del retry["Role"], template["Resources"]["RetryFunctionRole"]
    retry["Policies"] = [
        {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["RetryQueue", "QueueName"]}}},
        {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "TrustedFormApiKeySecret"}}},
    ]
    problems = violations(translate(template))
    assert problems == [
        "RetryFunctionRole: managed policy AWSLambdaSQSQueueExecutionRole (SQS/DynamoDB on every queue/table)"
    ]


def test_check_catches_wide_statements_and_policy_templates() -> None:
    template = load_template()
    sweeper = template["Resources"]["SweeperFunction"]["Properties"]
    sweeper["Policies"] += [
        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "LeadsTable"}}},
        {"Statement": [{"Sid": "AllQueues", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]},
        {
            "Statement": [
                {
                    "Sid": "AllTables",
                    "Effect": "Allow",
                    "Action": "dynamodb:GetItem",
                    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"},
                }
            ]
        },
        "AmazonDynamoDBReadOnlyAccess",
    ]
    translated = translate(template)
    problems = "\n".join(violations(translated))
    for expected in (
        "dynamodb:deleteitem",
        "dynamodb:scan",
        "dynamodb:batchwriteitem",
        "AllQueues: ['sqs:*'] on Resource '*'",
        "wildcard SQS action 'sqs:*'",
        "AllTables: dynamodb:getitem on wildcard resource",
        "managed policy AmazonDynamoDBReadOnlyAccess",
    ):
        assert expected in problems, f"{expected!r} not reported:\n{problems}"
    assert function_roles(translated)["SweeperFunction"] == "SweeperFunctionRole"


def test_render_treats_both_spellings_of_a_queue_alike() -> None:
    by_name = {
        "Fn::Sub": [
            "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${queueName}",
            {"queueName": {"Fn::GetAtt": ["RetryQueue", "QueueName"]}},
        ]
    }
    assert normalise(render(by_name)) == normalise(render({"Fn::GetAtt": ["RetryQueue", "Arn"]})) == QUEUE
    assert render({"Fn::GetAtt": "LeadsTable.Arn"}) == TABLE
    assert render({"Fn::Sub": "${LeadsTable.Arn}/index/gsi2"}) == OPEN_INDEX
    assert render({"Fn::If": ["IsProd", "*", "x"]}).startswith("{")


def test_tracing_parameter_reaches_what_sam_generates(translated: dict[str, Any]) -> None:
    """SAM passes the Tracing condition through to every function and to the API stage."""
    from local.provision import _parameter_values, _Resolver

    for value, (mode, api) in {"Disabled": ("PassThrough", False), "Active": ("Active", True)}.items():
        resolver = _Resolver(translated, _parameter_values(translated, {"Tracing": value}), REGION, "tf-test")
        for name, resource in translated["Resources"].items():
            properties = resource.get("Properties", {})
            if resource["Type"] == "AWS::Lambda::Function":
                assert resolver.resolve(properties["TracingConfig"]) == {"Mode": mode}, (name, value)
                tracer_disabled = properties["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"]
                assert resolver.resolve(tracer_disabled) == ("false" if api else "true"), (name, value)
            elif resource["Type"] == "AWS::ApiGateway::Stage":
                assert resolver.resolve(properties["TracingEnabled"]) is api, (name, value)
