"""template.yaml and local/provision.py agree: the local copies are what the template declares."""

from __future__ import annotations

import importlib.util
import json
import pickle
import re
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from tf_retainer.store import keys
from tf_retainer.store.archive_marks import ARCHIVER_ATTRIBUTES

from local import provision as provision_module
from local.provision import (
    REPO_ROOT,
    TEMPLATE_PATH,
    CfnLoader,
    Provisioned,
    PureCfnLoader,
    function_logical_ids,
    function_settings,
    load_template,
    provision,
)
from tests.support.template import TABLE_ACTIONS, actions, function_policies, props, resources

REGION = "us-east-1"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a template property provision() does not handle is a failure
            provisioned = provision(stage="dev", region=REGION, prefix="tf-test", api_key="test-key")
        # Not around the test itself: a socket another test of this worker left unclosed, collected by
        # chance during it, would fail it with a ResourceWarning (seen in CI in test_secret_holds_the_key).
        yield provisioned


# --------------------------------------------------------------------------- loader


def test_loader_understands_short_tags(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["TABLE_NAME"] == {"Ref": "LeadsTable"}
    assert props(template, "RetryQueue")["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["RetryDeadLetterQueue", "Arn"]
    }
    assert props(template, "LeadsTable")["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}


def test_loader_understands_language_extensions(template: dict[str, Any]) -> None:
    assert template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_LOGGER_SAMPLE_RATE"] == {"Fn::FindInMap": ["StageConfig", {"Ref": "Stage"}, "LogSampleRate"]}
    body = props(template, "Dashboard")["DashboardBody"]
    assert set(body) == {"Fn::ToJsonString"} and isinstance(body["Fn::ToJsonString"], dict)


def test_load_template_defaults_to_repo_template() -> None:
    assert TEMPLATE_PATH == REPO_ROOT / "template.yaml"
    assert load_template() == load_template(TEMPLATE_PATH)


def test_load_template_parses_once_and_hands_out_copies() -> None:
    load_template()
    before = provision_module._parsed.cache_info()
    first, second = load_template(), load_template(str(TEMPLATE_PATH))
    after = provision_module._parsed.cache_info()
    assert after.misses == before.misses  # no new parse of an unchanged file
    assert after.hits == before.hits + 2
    assert first == second and first is not second
    first["Resources"]["LeadsTable"]["Properties"]["BillingMode"] = "PROVISIONED"
    first["Globals"]["Function"]["Environment"]["Variables"].clear()
    assert props(load_template(), "LeadsTable")["BillingMode"] == "PAY_PER_REQUEST"
    assert load_template()["Globals"]["Function"]["Environment"]["Variables"]


def test_load_template_reparses_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text("Resources: {A: {Type: AWS::SNS::Topic}}\n", encoding="utf-8")
    assert set(load_template(path)["Resources"]) == {"A"}
    path.write_text("Resources: {A: {Type: AWS::SNS::Topic}, B: {Type: AWS::SNS::Topic}}\n", encoding="utf-8")
    assert set(load_template(path)["Resources"]) == {"A", "B"}
    path.write_text("just: text\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a CloudFormation template"):
        load_template(path)


COMMENT = re.compile(r"(?:^|\s)#\s(.*)$")
REPO_PATH = re.compile(r"\b(?:bench|docs|events|functions|layers|local|tests|tools)/[\w./-]*\w")


def test_the_files_its_comments_name_exist() -> None:
    """The template's comments send readers to docs, tests and the local stack: to files still there."""
    lines = TEMPLATE_PATH.read_text(encoding="utf-8").splitlines()
    named = {
        (number, path)
        for number, line in enumerate(lines, 1)
        if (comment := COMMENT.search(line))
        for path in REPO_PATH.findall(comment.group(1))
    }
    assert len(named) > 10
    assert not [f"line {number}: {path}" for number, path in sorted(named) if not (REPO_ROOT / path).exists()]


def test_c_and_pure_python_loaders_agree() -> None:
    if yaml.__with_libyaml__:
        assert issubclass(CfnLoader, yaml.CSafeLoader)
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert yaml.load(text, Loader=CfnLoader) == yaml.load(text, Loader=PureCfnLoader)  # noqa: S506


# --------------------------------------------------------------------------- stages


def stage_values(template: dict[str, Any]) -> list[str]:
    return [str(stage) for stage in template["Parameters"]["Stage"]["AllowedValues"]]


def test_stage_config_covers_every_stage(template: dict[str, Any]) -> None:
    config = template["Mappings"]["StageConfig"]
    assert sorted(config) == sorted(stage_values(template))
    keys = {frozenset(values) for values in config.values()}
    assert len(keys) == 1, "every stage sets the same StageConfig keys"
    retention_days = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192}
    for stage, values in config.items():
        assert values["LogRetentionDays"] in retention_days, stage
        assert 0 <= float(values["LogSampleRate"]) <= 1, stage
        assert isinstance(values["LogSampleRate"], str), f"{stage}: environment values are strings"
    assert config["prod"]["LogRetentionDays"] >= max(values["LogRetentionDays"] for values in config.values())


def test_samconfig_deploys_the_template_stages(template: dict[str, Any]) -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert config["default"]["validate"]["parameters"]["lint"] is True
    deployed: dict[str, str] = {}
    for environment, commands in config.items():
        if not isinstance(commands, dict) or "deploy" not in commands:
            continue
        overrides = commands["deploy"]["parameters"]["parameter_overrides"]
        stage = dict(item.split("=", 1) for item in overrides.split())["Stage"]
        deployed[environment] = stage
        stack_name = (
            commands["deploy"]["parameters"].get("stack_name") or commands["global"]["parameters"]["stack_name"]
        )
        assert stack_name.endswith(f"-{stage}"), environment
    assert set(deployed.values()) == set(stage_values(template))
    assert {name for name in deployed if name != "default"} >= set(stage_values(template)) - {"dev"}


def test_every_sam_command_expands_the_loops() -> None:
    """SAM CLI expands Fn::ForEach only when asked: without it, sam build and sam package cannot read the
    resources the template's loops make."""
    written = load_template(expanded=False)
    assert any(key.startswith("Fn::ForEach::") for key in written["Resources"])
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    environments = {name: commands for name, commands in config.items() if isinstance(commands, dict)}
    assert environments
    for name, commands in environments.items():
        assert commands["global"]["parameters"]["language_extensions"] is True, name


def test_stage_settings_reach_environment(monkeypatch: pytest.MonkeyPatch, template: dict[str, Any]) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    config = template["Mappings"]["StageConfig"]
    with mock_aws():
        for stage in stage_values(template):
            env = provision(stage=stage, region=REGION, prefix="tf-test").environment()
            assert env["POWERTOOLS_LOG_LEVEL"] == ("INFO" if stage == "prod" else "DEBUG"), stage
            assert env["POWERTOOLS_LOGGER_SAMPLE_RATE"] == config[stage]["LogSampleRate"], stage


# --------------------------------------------------------------------------- DynamoDB


def test_table_matches_template(local: Provisioned, template: dict[str, Any]) -> None:
    declared = props(template, "LeadsTable")
    client = boto3.client("dynamodb", region_name=REGION)
    table = client.describe_table(TableName=local.table_name)["Table"]

    assert table["KeySchema"] == declared["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        declared["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    assert table["BillingModeSummary"]["BillingMode"] == declared["BillingMode"] == "PAY_PER_REQUEST"

    made = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    wanted = {index["IndexName"]: index for index in declared["GlobalSecondaryIndexes"]}
    assert set(made) == set(wanted) == {"gsi1", "gsi2", *keys.CONTACT_INDEXES.values()}
    for name, index in wanted.items():
        assert made[name]["KeySchema"] == index["KeySchema"]
        assert made[name]["Projection"]["ProjectionType"] == index["Projection"]["ProjectionType"]
    # The consumer indexes hold keys only, keyed as keys.py spells them (one write per fingerprint, once).
    for kind, name in keys.CONTACT_INDEXES.items():
        assert wanted[name]["Projection"]["ProjectionType"] == "KEYS_ONLY"
        assert [k["AttributeName"] for k in wanted[name]["KeySchema"]] == [keys.CONTACT_INDEX_KEYS[kind], "gsi1sk"]

    ttl = client.describe_time_to_live(TableName=local.table_name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert ttl["AttributeName"] == declared["TimeToLiveSpecification"]["AttributeName"] == "ttl"

    backups = client.describe_continuous_backups(TableName=local.table_name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert table.get("DeletionProtectionEnabled") is False  # dev stage


def test_table_deletion_protection_follows_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        prod = provision(stage="prod", region=REGION, prefix="tf-test")
        table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=prod.table_name)
        assert table["Table"]["DeletionProtectionEnabled"] is True
        assert prod.parameters["Stage"] == "prod"


# --------------------------------------------------------------------------- SQS


def test_archive_bucket_is_locked_versioned_encrypted_and_private(local: Provisioned, template: dict[str, Any]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    bucket = local.archive_bucket
    assert bucket and local.environment()["ARCHIVE_BUCKET"] == bucket
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert (lock["Rule"]["DefaultRetention"]["Mode"], lock["Rule"]["DefaultRetention"]["Days"]) == ("COMPLIANCE", 1825)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    archive = props(template, "ArchiveBucket")
    (lifecycle, anchors, _) = archive["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Transitions"] == [{"StorageClass": "GLACIER_IR", "TransitionInDays": 30}]
    assert lifecycle["ExpirationInDays"] == {"Ref": "EvidenceRetentionDays"}
    # The evidence anchors are kept as long as the evidence they anchor.
    assert (anchors["Prefix"], anchors["ExpirationInDays"]) == ("anchors/", {"Ref": "EvidenceRetentionDays"})
    (tls, only_anchor_function) = props(template, "ArchiveBucketPolicy")["PolicyDocument"]["Statement"]
    assert (tls["Effect"], tls["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": False}})
    # Nobody but AnchorFunction's role puts an object under anchors/, whatever IAM grants them.
    assert (only_anchor_function["Effect"], only_anchor_function["Principal"]) == ("Deny", "*")
    assert only_anchor_function["Action"] == "s3:PutObject"
    assert only_anchor_function["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/anchors/*"}
    assert only_anchor_function["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["AnchorFunctionRole", "Arn"]}}
    }
    assert template["Resources"]["ArchiveBucket"]["DeletionPolicy"] == "Retain"


def test_retry_queue_redrives_to_dlq(local: Provisioned, template: dict[str, Any]) -> None:
    declared = props(template, "RetryQueue")
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(QueueUrl=local.retry_queue_url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=local.retry_dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]

    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn == local.retry_dlq_arn
    assert int(redrive["maxReceiveCount"]) == int(declared["RedrivePolicy"]["maxReceiveCount"]) == 5
    assert int(attributes["VisibilityTimeout"]) == int(declared["VisibilityTimeout"])

    retry_timeout = function_settings("RetryFunction", template).timeout
    assert int(attributes["VisibilityTimeout"]) >= 6 * retry_timeout
    # A delivery an attempt's lease turned away comes back after the lease ends (the template leaves
    # RETRY_TIMEOUT_SECONDS and ATTEMPT_LEASE_SECONDS at their defaults; a lease lasts at least as long as its
    # invocation), not spending receives while it holds.
    from tf_retainer.leads.retry import lease_seconds
    from tf_retainer.runtime.settings import Settings, default_attempt_lease

    configured = default_attempt_lease(Settings.model_fields["retry_timeout_seconds"].default)
    assert int(attributes["VisibilityTimeout"]) > lease_seconds(configured, retry_timeout)

    dlq = sqs.get_queue_attributes(QueueUrl=local.retry_dlq_url, AttributeNames=["All"])["Attributes"]
    assert int(dlq["MessageRetentionPeriod"]) == int(props(template, "RetryDeadLetterQueue")["MessageRetentionPeriod"])


def test_the_sweeper_waits_out_an_intake_that_may_still_run(local: Provisioned, template: dict[str, Any]) -> None:
    """A lead still as reserved is the sweeper's to requeue only RECEIVED_GRACE_SECONDS after it arrived. The
    intake that reserved it holds its lease for its budget alone, so by then that intake must have ended (its
    Timeout): else the requeued retry would ask TrustedForm beside a call the intake may still make."""
    from tf_retainer.leads.retry import INVOCATION_MARGIN_SECONDS
    from tf_retainer.runtime.settings import Settings

    default = Settings.model_fields["received_grace_seconds"].default
    grace = float(local.environment("SweeperFunction").get("RECEIVED_GRACE_SECONDS", default))
    intake_timeout = function_settings("IntakeFunction", template).timeout
    assert grace > intake_timeout + INVOCATION_MARGIN_SECONDS


def test_message_lands_in_dlq_after_max_receives(local: Provisioned, template: dict[str, Any]) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    max_receives = int(props(template, "RetryQueue")["RedrivePolicy"]["maxReceiveCount"])
    sqs.send_message(QueueUrl=local.retry_queue_url, MessageBody='{"lead_id": "L1"}')
    for _ in range(max_receives):
        got = sqs.receive_message(QueueUrl=local.retry_queue_url, VisibilityTimeout=0)
        assert len(got.get("Messages", [])) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=local.retry_queue_url, VisibilityTimeout=0)
    dead = sqs.receive_message(QueueUrl=local.retry_dlq_url)["Messages"]
    assert json.loads(dead[0]["Body"]) == {"lead_id": "L1"}


# --------------------------------------------------------------------------- secret and environment


def test_secret_holds_the_key(local: Provisioned) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    value = json.loads(secrets.get_secret_value(SecretId=local.secret_id)["SecretString"])
    assert value == {"api_key": "test-key"}


def test_environment_has_every_global_variable(local: Provisioned, template: dict[str, Any]) -> None:
    declared = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    assert declared.pop("AWS_ENDPOINT_URL") == ""  # declared for sam local --env-vars, empty on AWS
    env = local.environment()
    missing = set(declared) - set(env)
    assert not missing, f"environment() lacks {sorted(missing)}"
    assert all(isinstance(value, str) for value in env.values())
    assert env["TABLE_NAME"] == local.table_name
    assert env["RETRY_QUEUE_URL"] == local.retry_queue_url
    assert env["TRUSTEDFORM_SECRET_ID"] == local.secret_id
    assert env["AWS_DEFAULT_REGION"] == REGION
    assert "AWS_ENDPOINT_URL" not in env  # in-process moto: no endpoint
    # Literal values come straight from the template; parameter refs resolve to the defaults.
    for name, value in declared.items():
        if isinstance(value, str):
            assert env[name] == value
    parameters = template["Parameters"]
    assert env["TRUSTEDFORM_API_URL"] == parameters["TrustedFormApiUrl"]["Default"]
    assert env["MASKED_CERTIFICATE_POLICY"] == parameters["MaskedCertificatePolicy"]["Default"]


def test_parameter_overrides_reach_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        local = provision(region=REGION, prefix="tf-test", parameters={"MaskedCertificatePolicy": "refuse"})
        assert local.environment()["MASKED_CERTIFICATE_POLICY"] == "refuse"
        with pytest.raises(ValueError, match="not in"):
            provision(region=REGION, prefix="tf-test", parameters={"LeadMatchPolicy": "maybe"})


# --------------------------------------------------------------------------- tracing


def resolved_with(template: dict[str, Any], value: Any, **parameters: str) -> Any:
    """``value`` as CloudFormation would resolve it with these parameter values (the rest defaulted)."""
    values = provision_module._parameter_values(template, parameters)
    return provision_module._Resolver(template, values, REGION, "tf-test").resolve(value)


def test_tracing_is_one_parameter_off_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["Tracing"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("Disabled", ["Disabled", "Active"])
    function_mode = template["Globals"]["Function"]["Tracing"]
    api_tracing = props(template, "LeadsApi")["TracingEnabled"]
    tracer_disabled = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"]
    expected = {"Disabled": ("PassThrough", False, "true"), "Active": ("Active", True, "false")}
    for value, (mode, api, disabled) in expected.items():
        assert resolved_with(template, function_mode, Tracing=value) == mode, value
        assert resolved_with(template, api_tracing, Tracing=value) is api, value
        assert resolved_with(template, tracer_disabled, Tracing=value) == disabled, value
    # No function overrides the global setting (one parameter governs them all).
    for name, body in resources(template, "AWS::Serverless::Function").items():
        assert "Tracing" not in body["Properties"], name
        assert "POWERTOOLS_TRACE_DISABLED" not in body["Properties"].get("Environment", {}).get("Variables", {}), name


def test_tracer_follows_the_tracing_parameter_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        assert provision(region=REGION, prefix="tf-test").environment()["POWERTOOLS_TRACE_DISABLED"] == "true"
        traced = provision(region=REGION, prefix="tf-test", parameters={"Tracing": "Active"})
        assert traced.environment()["POWERTOOLS_TRACE_DISABLED"] == "false"
        with pytest.raises(ValueError, match="not in"):
            provision(region=REGION, prefix="tf-test", parameters={"Tracing": "PassThrough"})


def test_provision_is_idempotent(local: Provisioned) -> None:
    again = provision(stage="dev", region=REGION, prefix="tf-test", api_key="rotated")
    assert again == local
    secrets = boto3.client("secretsmanager", region_name=REGION)
    assert json.loads(secrets.get_secret_value(SecretId=again.secret_id)["SecretString"]) == {"api_key": "rotated"}


def test_dashboard_body_is_valid_and_names_the_metrics(local: Provisioned) -> None:
    # moto's put_dashboard (called by provision) rejects a body that is not JSON.
    assert local.dashboard_name == "tf-test-dev"
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    body = json.loads(cloudwatch.get_dashboard(DashboardName=local.dashboard_name)["DashboardBody"])
    text = json.dumps(body)
    names = ("LeadsReceived", "LeadsRetained", "LeadsRejected", "AccountErrors", "TrustedFormLatency", "ScreenCalls")
    for metric in (*names, "ScreenCost"):
        assert metric in text
    assert "tf-test-dev-retry-dlq" in text and "tf-test-dev-IntakeFunction" in text
    assert "${" not in text and "Fn::" not in text and '"Ref"' not in text
    # The alarm widget lists every alarm of the template, by the ARN its AlarmName gives it.
    (alarm_widget,) = [widget for widget in body["widgets"] if widget["type"] == "alarm"]
    names = {
        alarm["Properties"]["AlarmName"]["Fn::Sub"]
        for alarm in resources(load_template(), "AWS::CloudWatch::Alarm").values()
    }
    prefix = f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:"
    assert {arn.removeprefix(prefix) for arn in alarm_widget["properties"]["alarms"]} == {
        name.replace("${AWS::StackName}", "tf-test-dev") for name in names
    }


def test_dashboard_body_is_compact_json_as_to_json_string_renders_it(local: Provisioned) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    text = cloudwatch.get_dashboard(DashboardName=local.dashboard_name)["DashboardBody"]
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert text.startswith('{"start":"-PT12H","periodOverride":"inherit","widgets":[')


def test_alarms_notify_the_topic(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    wanted = {"RetryDeadLetterQueueAlarm", "AccountErrorsAlarm", "EnqueueFailuresAlarm", "SweepFailuresAlarm"}
    assert wanted <= set(alarms)
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        if alarm["Properties"].get("Namespace") == "TfRetainer":
            assert alarm["Properties"]["Dimensions"] == [{"Name": "service", "Value": "tf-retainer"}], name


# --------------------------------------------------------------------------- functions


def test_every_function_has_log_group_and_code(template: dict[str, Any]) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    assert set(functions) == {
        "IntakeFunction",
        "RetryFunction",
        "AuthorizerFunction",
        "SweeperFunction",
        "PublisherFunction",
        "CallbackFunction",
        "AutoSuspendFunction",
        "HoldFunction",
        "ArchiverFunction",
        "ConsentFunction",
        "AnchorFunction",
    }
    assert function_logical_ids(template) == list(functions)
    log_groups = resources(template, "AWS::Logs::LogGroup")
    for name, function in functions.items():
        log_group_ref = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert isinstance(log_group_ref, dict) and "Ref" in log_group_ref, name
        group = log_groups[log_group_ref["Ref"]]["Properties"]
        assert group["RetentionInDays"] == {"Fn::FindInMap": ["StageConfig", {"Ref": "Stage"}, "LogRetentionDays"]}
        assert "/aws/lambda/" in str(group["LogGroupName"]), name

        settings = function_settings(name, template)
        assert settings.code_uri.is_dir(), f"{name}: {settings.code_uri} missing"
        assert (settings.code_uri / f"{settings.module}.py").is_file(), name
        assert settings.function_name == "lambda_handler"


def test_retry_function_settings(template: dict[str, Any]) -> None:
    settings = function_settings("RetryFunction", template)
    assert settings.timeout == props(template, "RetryFunction")["Timeout"]
    assert settings.batch_size == 10
    assert settings.queue == "RetryQueue"
    assert settings.report_batch_item_failures
    intake = function_settings("IntakeFunction", template)
    assert intake.batch_size is None
    # Its own (the local stack runs it with it too): room for every remote call's bound, under API Gateway's 29 s.
    assert intake.timeout == props(template, "IntakeFunction")["Timeout"] == 25


def test_template_declares_durability_and_partial_batches(template: dict[str, Any]) -> None:
    table = template["Resources"]["LeadsTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
    events = props(template, "RetryFunction")["Events"]
    sqs_events = [event["Properties"] for event in events.values() if event["Type"] == "SQS"]
    assert sqs_events and sqs_events[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


CONSUMER_INDEX_ARNS = [{"Fn::Sub": f"${{LeadsTable.Arn}}/index/{index}"} for index in ("gsi3", "gsi4")]
HOLD_INDEX_ARNS = [{"Fn::Sub": f"${{LeadsTable.Arn}}/index/{index}"} for index in ("gsi1", "gsi2", "gsi3", "gsi4")]
STREAM_ACTIONS = TABLE_ACTIONS["PublisherFunction"] - {"dynamodb:ListStreams"}
# Where each function's table statements point: the table, (the sweeper's Query) the open-lead index,
# or (the publisher's mapping) the table's streams.
OPEN_INDEX_ARN = {"Fn::Sub": "${LeadsTable.Arn}/index/gsi2"}
VENDOR_INDEX_ARN = {"Fn::Sub": "${LeadsTable.Arn}/index/gsi1"}
VENDOR_INDEXES_ARNS = [VENDOR_INDEX_ARN, OPEN_INDEX_ARN]  # the archiver's Query
STREAM_ARN = {"Fn::GetAtt": ["LeadsTable", "StreamArn"]}
POLICY_TEMPLATES = {
    "IntakeFunction": {"SQSSendMessagePolicy", "AWSSecretsManagerGetSecretValuePolicy"},
    "RetryFunction": set(),  # a role of its own (RetryFunctionRole): no SAM policies at all
    "AuthorizerFunction": set(),
    "SweeperFunction": {"SQSSendMessagePolicy"},  # never calls TrustedForm: no key
    "PublisherFunction": set(),  # a role of its own (PublisherFunctionRole)
    "CallbackFunction": set(),  # a role of its own (CallbackFunctionRole)
    "AutoSuspendFunction": set(),  # reads and writes the table only
    "HoldFunction": set(),
    "ArchiverFunction": set(),
    "ConsentFunction": set(),
    "AnchorFunction": set(),  # a role of its own (AnchorFunctionRole)
}
# The queue each function's own SQS statements name (the others' SQS access is a policy template).
SQS_STATEMENT_QUEUE = {
    "RetryFunction": {"Fn::GetAtt": ["RetryQueue", "Arn"]},
    "PublisherFunction": {"Fn::GetAtt": ["PublishFailureQueue", "Arn"]},  # its OnFailure destination
    "AnchorFunction": {"Fn::GetAtt": ["AnchorFailureQueue", "Arn"]},  # its OnFailure destination
    "CallbackFunction": [
        {"Fn::GetAtt": ["CallbackQueue", "Arn"]},
        [{"Fn::GetAtt": ["CallbackQueue", "Arn"]}, {"Fn::GetAtt": ["CallbackDeadLetterQueue", "Arn"]}],
    ],
}


# The functions whose UpdateItem on the table is otherwise unrestricted (the others' is limited to some
# attributes or to vendor key items).
EVIDENCE_WRITERS = {"IntakeFunction", "RetryFunction", "SweeperFunction"}
# The functions that screen a number (store/screen_results.py): they update SCREEN# items, and only them
# beyond their leads' families.
SCREEN_WRITERS = {"IntakeFunction", "RetryFunction"}


def test_functions_get_least_privilege(template: dict[str, Any]) -> None:
    table_arn = {"Fn::GetAtt": ["LeadsTable", "Arn"]}
    for name in resources(template, "AWS::Serverless::Function"):
        templates, found = function_policies(template, name)
        denied = [statement for statement in found if statement["Effect"] == "Deny"]
        found = [statement for statement in found if statement["Effect"] != "Deny"]
        # Chain entries are written once: a function free to update the table is denied their attributes and
        # their expiry, and every delete (test_iam_writes.py evaluates what is left).
        sids = [statement["Sid"] for statement in denied]
        assert sids == (["NoEvidenceEdits", "NoDeletes"] if name in EVIDENCE_WRITERS else []), name
        for statement in denied:
            assert statement["Resource"] == table_arn, name
            if statement["Sid"] == "NoEvidenceEdits":
                assert statement["Action"] == "dynamodb:UpdateItem", name
                attributes = ["b", "h", "o", "ttl"]
                condition = {"ForAnyValue:StringEquals": {"dynamodb:Attributes": attributes}}
                if name in SCREEN_WRITERS:  # a per-number screen result is no evidence: its expiry moves
                    condition["ForAllValues:StringNotLike"] = {"dynamodb:LeadingKeys": ["SCREEN#*"]}
                assert statement["Condition"] == condition, name
            else:
                assert "dynamodb:DeleteItem" in actions(statement) and "Condition" not in statement, name
        # SAM's DynamoDB templates are wider than the code: Read has Scan, Write has BatchWriteItem, Crud Delete.
        assert not {t for t in templates if t.startswith("DynamoDB")}, name
        granted = set().union(*(actions(statement) for statement in found))
        assert {a for a in granted if a.startswith("dynamodb:")} == TABLE_ACTIONS[name], name
        assert not granted & {"dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:*"}, name
        for statement in found:
            assert statement["Effect"] == "Allow", name
            if any(action.startswith("dynamodb:") for action in actions(statement)):
                allowed = (
                    table_arn,
                    OPEN_INDEX_ARN,
                    VENDOR_INDEX_ARN,
                    STREAM_ARN,
                    HOLD_INDEX_ARNS,
                    VENDOR_INDEXES_ARNS,
                    CONSUMER_INDEX_ARNS,
                    "*",
                )
                assert statement["Resource"] in allowed, name
                if statement["Resource"] in (HOLD_INDEX_ARNS, VENDOR_INDEXES_ARNS, CONSUMER_INDEX_ARNS):
                    assert actions(statement) == {"dynamodb:Query"}, name
                if statement["Resource"] in (OPEN_INDEX_ARN, VENDOR_INDEX_ARN):
                    assert actions(statement) == {"dynamodb:Query"}, name
                if statement["Resource"] == STREAM_ARN:
                    assert actions(statement) == STREAM_ACTIONS, name
                if statement["Resource"] == "*":  # no resource-level permission: stream names only
                    assert actions(statement) == {"dynamodb:ListStreams"}, name
            if any(action.startswith("sqs:") for action in actions(statement)):
                allowed = SQS_STATEMENT_QUEUE[name]
                allowed = allowed if isinstance(allowed, list) else [allowed]
                assert statement["Resource"] in allowed, f"{name}: SQS on its own queues only"
        if name not in SQS_STATEMENT_QUEUE:
            assert not any(a.startswith("sqs:") for a in granted), f"{name}: SQS access comes from policy templates"
        assert templates == POLICY_TEMPLATES[name], name
        if name == "AuthorizerFunction":
            (statement,) = found
            assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["VENDORKEY#*"]}}
        if name == "AutoSuspendFunction":  # it writes vendor key items (and their events) only, reads lead states
            on_table = {frozenset(actions(s)): s for s in found if s["Resource"] == table_arn}
            writes = on_table[frozenset({"dynamodb:UpdateItem", "dynamodb:PutItem"})]
            assert writes["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["VENDORKEY#*"]}}
            reads = on_table[frozenset({"dynamodb:BatchGetItem"})]
            assert reads["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LEAD#*"]}}

        if name == "ConsentFunction":  # never a lead's state: chain entries (Put) and revocations only
            by_action = {frozenset(actions(s)): s for s in found if s["Resource"] == table_arn}
            leading = {
                "dynamodb:PutItem": ["LEAD#*", "REVOCATION#*", "REVOKED#*"],
                "dynamodb:UpdateItem": ["REVOCATION#*"],
            }
            for action, keys in leading.items():
                condition = by_action[frozenset({action})]["Condition"]
                assert condition == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}}, action

        if name == "ArchiverFunction":
            (update,) = [statement for statement in found if "dynamodb:UpdateItem" in actions(statement)]
            attributes = update["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
            assert set(attributes) == set(ARCHIVER_ATTRIBUTES), "the archiver updates only its own attributes"
            s3 = set().union(*(actions(st) for st in found if any(a.startswith("s3:") for a in actions(st))))
            # Written once, never deleted; a lead held while it was archived gets its object held too.
            assert s3 == {"s3:PutObject", "s3:GetObject", "s3:PutObjectLegalHold"}, "the archive: never deleted"
            (reads,) = [statement for statement in found if "dynamodb:BatchGetItem" in actions(statement)]
            assert reads["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LEAD#*"]}}

        if name == "AnchorFunction":  # puts under anchors/ only, never reads or deletes one; no KMS from IAM
            s3 = [st for st in found if any(a.startswith("s3:") for a in actions(st))]
            assert [(actions(st), st["Resource"]) for st in s3] == [
                ({"s3:PutObject"}, {"Fn::Sub": "${ArchiveBucket.Arn}/anchors/*"})
            ]
            kms = [st for st in found if any(a.startswith("kms:") for a in actions(st))]
            assert [(actions(st), st["Resource"]) for st in kms] == [
                ({"kms:GenerateDataKey"}, {"Fn::GetAtt": ["ArchiveKey", "Arn"]})  # the bucket's encryption
            ]


def test_only_the_anchor_function_makes_the_anchors_mac(template: dict[str, Any]) -> None:
    """AnchorKey's policy gives kms:GenerateMac to AnchorFunction's role and to nobody else: the account's
    statement (through which IAM grants) holds VerifyMac for the verifier, never GenerateMac nor a wildcard
    that covers it; the function's role asks for nothing more."""
    key = props(template, "AnchorKey")
    assert (key["KeySpec"], key["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    account, function = key["KeyPolicy"]["Statement"]
    assert function["Principal"] == {"AWS": {"Fn::GetAtt": ["AnchorFunctionRole", "Arn"]}}
    assert function["Action"] == "kms:GenerateMac"
    assert "kms:VerifyMac" in account["Action"]
    for action in account["Action"]:
        pattern = action.removeprefix("kms:").replace("*", ".*")
        assert not re.fullmatch(pattern, "GenerateMac"), f"the account's {action} would let IAM grant GenerateMac"
    (event,) = props(template, "AnchorFunction")["Events"].values()
    assert event["Type"] == "DynamoDB"
    assert event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["AnchorFailureQueue", "Arn"]
    }
    assert props(template, "AnchorFunction")["Environment"]["Variables"]["ANCHOR_KEY_ID"] == {"Ref": "AnchorKey"}


def test_automatic_suspension_is_off_by_default(template: dict[str, Any]) -> None:
    """Both thresholds default to 0: the schedule is disabled and the function would read nothing."""
    parameters = template["Parameters"]
    assert parameters["AutoSuspendBelowRetainedPercent"]["Default"] == 0
    assert parameters["AutoSuspendAboveMatchFailurePercent"]["Default"] == 0
    (event,) = props(template, "AutoSuspendFunction")["Events"].values()
    assert event["Type"] == "ScheduleV2" and event["Properties"]["ScheduleExpression"] == "rate(1 day)"
    state = event["Properties"]["State"]
    assert resolved_with(template, state) == "DISABLED"
    assert resolved_with(template, state, AutoSuspendBelowRetainedPercent="40") == "ENABLED"
    assert resolved_with(template, state, AutoSuspendAboveMatchFailurePercent="25") == "ENABLED"
    # The parameters reach the function's settings.
    from tf_retainer.runtime.settings import Settings

    env = props(template, "AutoSuspendFunction")["Environment"]["Variables"]
    required = {"TABLE_NAME": "leads", "RETRY_QUEUE_URL": "q", "TRUSTEDFORM_SECRET_ID": "s"}
    default = Settings.from_environ({**required, **resolved_with(template, env)})
    assert not default.auto_suspend_enabled and (default.auto_suspend_min_leads, default.auto_suspend_window_days) == (
        50,
        7,
    )
    chosen = resolved_with(template, env, AutoSuspendAboveMatchFailurePercent="25", AutoSuspendMinLeads="200")
    on = Settings.from_environ({**required, **chosen})
    assert on.auto_suspend_enabled and (on.auto_suspend_above_match_failure_percent, on.auto_suspend_min_leads) == (
        25,
        200,
    )


def test_retry_function_has_its_own_role(template: dict[str, Any]) -> None:
    """SAM's role for an SQS event source carries AWSLambdaSQSQueueExecutionRole (every queue)."""
    retry = props(template, "RetryFunction")
    assert retry["Role"] == {"Fn::GetAtt": ["RetryFunctionRole", "Arn"]}
    role = template["Resources"]["RetryFunctionRole"]
    assert role["Type"] == "AWS::IAM::Role"
    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["Tags"] == [
        {"Key": "service", "Value": "tf-retainer"},
        {"Key": "stage", "Value": {"Ref": "Stage"}},
    ]
    _, found = function_policies(template, "RetryFunction")
    by_sid = {statement["Sid"]: statement for statement in found}
    assert actions(by_sid["ConsumeRetryQueue"]) == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    assert actions(by_sid["RequeueRetry"]) == {"sqs:SendMessage"}
    assert by_sid["TrustedFormApiKey"]["Resource"] == {"Ref": "TrustedFormApiKeySecret"}
    assert by_sid["Logs"]["Resource"] == {"Fn::GetAtt": ["RetryFunctionLogGroup", "Arn"]}
    # X-Ray has no resource-level permissions; nothing else is granted on "*".
    assert [sid for sid, statement in by_sid.items() if statement["Resource"] == "*"] == ["XRay"]
    assert actions(by_sid["XRay"]) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_concurrency_is_capped_per_stage(template: dict[str, Any]) -> None:
    def from_stage(key: str) -> dict[str, Any]:
        return {"Fn::FindInMap": ["StageConfig", {"Ref": "Stage"}, key]}

    assert props(template, "IntakeFunction")["ReservedConcurrentExecutions"] == from_stage("IntakeReservedConcurrency")
    assert props(template, "RetryFunction")["ReservedConcurrentExecutions"] == from_stage("RetryReservedConcurrency")
    (event,) = [e["Properties"] for e in props(template, "RetryFunction")["Events"].values() if e["Type"] == "SQS"]
    assert event["ScalingConfig"] == {"MaximumConcurrency": from_stage("RetryMaxConcurrency")}
    for stage, config in template["Mappings"]["StageConfig"].items():
        intake, retry = config["IntakeReservedConcurrency"], config["RetryReservedConcurrency"]
        poller = config["RetryMaxConcurrency"]
        assert all(isinstance(value, int) and value > 0 for value in (intake, retry, poller)), stage
        assert 2 <= poller <= 1000, f"{stage}: Lambda accepts MaximumConcurrency 2..1000"
        # Below the poller's cap, the poller's invokes would be throttled and burn receives toward the DLQ.
        assert retry >= poller, stage
    prod = template["Mappings"]["StageConfig"]["prod"]
    throttle = props(template, "LeadsApi")["MethodSettings"][0]
    assert prod["IntakeReservedConcurrency"] >= throttle["ThrottlingBurstLimit"] >= throttle["ThrottlingRateLimit"]
    # Callbacks: as many batches in flight as reserved, no more (a burst of outcomes never floods the vendors).
    callback = props(template, "CallbackFunction")
    assert callback["ReservedConcurrentExecutions"] == from_stage("CallbackConcurrency")
    (event,) = [e["Properties"] for e in callback["Events"].values() if e["Type"] == "SQS"]
    assert event["ScalingConfig"] == {"MaximumConcurrency": from_stage("CallbackConcurrency")}
    assert all(2 <= config["CallbackConcurrency"] <= 1000 for config in template["Mappings"]["StageConfig"].values())
    # The scheduled functions: one run at a time.
    scheduled = {
        name
        for name, body in resources(template, "AWS::Serverless::Function").items()
        if {event["Type"] for event in body["Properties"].get("Events", {}).values()} == {"ScheduleV2"}
    }
    assert scheduled == {"SweeperFunction", "AutoSuspendFunction", "HoldFunction", "ArchiverFunction"}
    assert all(props(template, name)["ReservedConcurrentExecutions"] == 1 for name in scheduled)


def test_a_scheduled_run_that_fails_is_retried_by_the_next_run_not_by_lambda(template: dict[str, Any]) -> None:
    """EventBridge Scheduler invokes asynchronously, and Lambda runs a failed asynchronous invocation twice
    more unless told not to (the Scheduler's own RetryPolicy covers only its delivery). Where the schedule
    says "the next run is the retry", Lambda is told so."""
    for name, body in resources(template, "AWS::Serverless::Function").items():
        policies = [
            event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"]
            for event in body["Properties"].get("Events", {}).values()
            if event["Type"] == "ScheduleV2"
        ]
        if policies == [0]:
            assert body["Properties"].get("EventInvokeConfig") == {"MaximumRetryAttempts": 0}, name


def test_queues_secrets_and_log_groups_are_under_the_service_key(template: dict[str, Any]) -> None:
    """What the service passes on, keeps and logs is encrypted under a customer key of the stack (ServiceKey,
    rotated), never a key of the service's own (SQS-managed, aws/secretsmanager, CloudWatch Logs')."""
    key = {"Ref": "ServiceKey"}
    queues = resources(template, "AWS::SQS::Queue")
    assert len(queues) == 7
    for name, queue in queues.items():
        assert queue["Properties"]["KmsMasterKeyId"] == key, name
        assert "SqsManagedSseEnabled" not in queue["Properties"], name
    secrets = resources(template, "AWS::SecretsManager::Secret")
    assert len(secrets) == 6
    assert all(secret["Properties"]["KmsKeyId"] == key for secret in secrets.values())
    groups = resources(template, "AWS::Logs::LogGroup")
    assert len(groups) == len(resources(template, "AWS::Serverless::Function")) + 1  # + the API's access log
    assert all(group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["ServiceKey", "Arn"]} for group in groups.values())
    assert props(template, "ServiceKey")["EnableKeyRotation"] is True


def test_usage_plan_is_the_templates_own(template: dict[str, Any]) -> None:
    """SAM's Auth.UsagePlan would also create an enabled API key nobody uses; vendors' keys come from the CLI."""
    assert "UsagePlan" not in props(template, "LeadsApi")["Auth"]
    plan = template["Resources"]["LeadsApiUsagePlan"]
    assert plan["Type"] == "AWS::ApiGateway::UsagePlan"
    assert plan["Properties"]["ApiStages"] == [{"ApiId": {"Ref": "LeadsApi"}, "Stage": {"Ref": "LeadsApi.Stage"}}]
    assert {"Throttle", "Quota"} <= set(plan["Properties"])
    assert not resources(template, "AWS::ApiGateway::ApiKey")
    assert template["Outputs"]["UsagePlanId"]["Value"] == {"Ref": "LeadsApiUsagePlan"}


def test_functions_and_api_are_tagged(template: dict[str, Any]) -> None:
    tags = {"service": "tf-retainer", "stage": {"Ref": "Stage"}}
    assert template["Globals"]["Function"]["Tags"] == tags
    assert template["Globals"]["Function"]["PropagateTags"] is True
    assert template["Globals"]["Api"]["PropagateTags"] is True
    assert props(template, "LeadsApi")["Tags"] == tags


def test_api_gateway_responses_are_json(template: dict[str, Any]) -> None:
    api = props(template, "LeadsApi")
    responses = api["GatewayResponses"]
    assert json.loads(responses["UNAUTHORIZED"]["ResponseTemplates"]["application/json"]) == {
        "status": "rejected",
        "reason": "unknown_vendor_key",
    }
    # The reason comes from the authorizer's Deny (vendor_key_revoked or vendor_suspended).
    assert json.loads(responses["ACCESS_DENIED"]["ResponseTemplates"]["application/json"]) == {
        "status": "rejected",
        "reason": "$context.authorizer.reason",
    }
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    assert api["Auth"]["DefaultAuthorizer"] == "VendorKeyAuthorizer"
    assert api["ApiKeySourceType"] == "AUTHORIZER"


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    expected = {
        "ApiUrl",
        "LeadsTableName",
        "RetryQueueUrl",
        "RetryDeadLetterQueueUrl",
        "TrustedFormApiKeySecretArn",
        "AlarmTopicArn",
        "UsagePlanId",
        "DashboardUrl",
        "ArchiveBucketName",
    }
    assert expected <= set(outputs)
    assert all(output.get("Description") for output in outputs.values())


# --------------------------------------------------------------------------- cfn-lint


@pytest.mark.skipif(importlib.util.find_spec("cfnlint") is None, reason="cfn-lint is not installed")
def test_cfn_lint_passes() -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        # cfnlint has no __main__ module: call the console script's entry point with this interpreter.
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(REPO_ROOT),
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- the local stack reads it once


def test_workers_get_their_settings_and_never_parse_the_template() -> None:
    """The stack parses template.yaml once (in its own process); each worker process gets the functions'
    settings from the pool, so it neither reads nor parses the template."""
    from local import functions

    captured: list[tuple[Any, ...]] = []

    class FakeProcess:
        def __init__(self, target: Any, args: tuple[Any, ...], **_: Any) -> None:
            captured.append(args)

        def start(self) -> None:
            pass

    class FakeContext:
        Process = FakeProcess

        @staticmethod
        def Pipe() -> tuple[Any, Any]:
            class End:
                def close(self) -> None:
                    pass

            return End(), End()

    pool = functions.WorkerPool(1, {}, function_logical_ids())
    pool._context = FakeContext()
    pool._spawn()
    (_, _, settings) = captured[0]
    assert settings == {name: function_settings(name) for name in function_logical_ids()}

    # In a fresh process with template parsing made to fail: the worker starts on the settings alone.
    script = (
        "import pickle, sys\n"
        "import local.functions as functions, local.provision as provision\n"
        "def no_template(*args, **kwargs):\n"
        "    raise AssertionError('the worker parsed template.yaml')\n"
        "provision.load_template = functions.function_settings = no_template\n"
        "class Pipe:\n"
        "    def send(self, message): print(message[0])\n"
        "    def recv(self): return None\n"
        "functions._worker_main(Pipe(), {}, pickle.loads(sys.stdin.buffer.read()))\n"
    )
    env = {"AWS_DEFAULT_REGION": REGION, "POWERTOOLS_TRACE_DISABLED": "true", "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = f"{REPO_ROOT}:{REPO_ROOT / 'layers' / 'common'}"
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", script], input=pickle.dumps(settings), capture_output=True, env=env, timeout=60
    )
    assert done.stdout.decode().split() == ["ready"], done.stderr.decode()


def test_screens_are_off_by_default_and_a_chosen_provider_brings_only_its_key(template: dict[str, Any]) -> None:
    """The template's SCREENS names no provider until a screen parameter does; a provider chosen brings its
    key's secret and the contact key, the function reads only that secret, and the others stay out."""
    from tf_retainer.runtime.settings import Settings

    env = template["Globals"]["Function"]["Environment"]["Variables"]
    secrets = (
        "BlacklistAllianceApiKeySecret",
        "DncScrubApiKeySecret",
        "TwilioLookupApiKeySecret",
        "JornayaApiKeySecret",
    )

    def deployed(**parameters: str) -> tuple[Settings, set[str], set[str]]:
        values = provision_module._parameter_values(template, parameters)
        resolver = provision_module._Resolver(template, values, REGION, "tf-test")
        made = {
            name
            for name, resource in template["Resources"].items()
            if "Condition" not in resource or resolver.condition(resource["Condition"])
        }
        # The intake's screen grants: its conditional policies (the LeadiD audit's, the number's screens'), as
        # CloudFormation would resolve them.
        screens = [p for p in props(template, "IntakeFunction")["Policies"] if "Fn::If" in p]
        for name in made:  # what CloudFormation would name them
            resolver.refs[name], resolver.attributes[(name, "Arn")] = f"<{name}>", f"<{name}.Arn>"
        read = {
            str(s["Resource"])
            for policy in resolver.resolve(screens)
            for s in policy["Statement"]
            if s["Sid"] != "ScreenResults"  # the table's SCREEN# items (test_iam_writes.py)
        }
        return Settings.from_environ({"TABLE_NAME": "leads", **resolver.resolve(env)}), made, read

    off, made, read = deployed()
    assert off.screens == {} and not off.contact_key_id and not off.dncscrub_secret_id
    assert not made & {*secrets, "ContactKey"} and read == set()

    on, made, read = deployed(LitigatorScreen="blacklist_alliance", ScreenFaultPolicies="blacklist_alliance=fail_open")
    assert on.screens == {"litigator": "blacklist_alliance"}
    assert on.screen_fault_policies == {"blacklist_alliance": "fail_open"}
    assert on.blacklist_alliance_secret_id and on.contact_key_id
    assert not on.dncscrub_secret_id and not on.twilio_lookup_secret_id
    assert made & {*secrets, "ContactKey"} == {"BlacklistAllianceApiKeySecret", "ContactKey"}
    assert read == {"<BlacklistAllianceApiKeySecret>"}  # nothing else (the contact key's policy names the role)

    # The LeadiD audit alone: Jornaya's keys, and no KMS key (no phone number is sealed for it).
    leadid, made, read = deployed(LeadidScreen="jornaya")
    assert leadid.screens == {"leadid": "jornaya"} and leadid.jornaya_secret_id and not leadid.contact_key_id
    assert made & {*secrets, "ContactKey"} == {"JornayaApiKeySecret"} and read == {"<JornayaApiKeySecret>"}

    both, made, _ = deployed(DncScreen="dncscrub", ReassignedNumberScreen="twilio_lookup", PhoneScreen="twilio_lookup")
    assert both.screens == {"dnc": "dncscrub", "reassigned_number": "twilio_lookup", "phone": "twilio_lookup"}
    assert made & set(secrets) == {"DncScrubApiKeySecret", "TwilioLookupApiKeySecret"}
