"""Build local (moto) copies of the template's data resources from template.yaml itself.

The one place where tests and the local stack turn ``template.yaml`` into AWS resources: the
DynamoDB table, the retry queue and its dead-letter queue, the TrustedForm API key secret and the
CloudWatch dashboard.
Their properties (key schema, GSIs, TTL, visibility timeout, redrive policy...) are read from the
template, never retyped here, so the local copies cannot drift from what gets deployed.

Works inside moto's in-process ``mock_aws()`` (``endpoint_url=None``) and against a moto server
(``endpoint_url="http://127.0.0.1:5000"``). Re-running against the same server reuses what exists.

The template is parsed once per process and file version (``load_template`` caches by path, mtime and
size, with PyYAML's C parser when it is there) and every caller gets its own copy, its Fn::ForEach loops
expanded (``expand_for_each``) as AWS::LanguageExtensions expands them before SAM's transform: every
reader (this module, the API emulation, the tests, the benchmarks) sees the resources CloudFormation
deploys.

Public API::

    load_template(path=None, *, expanded=True) -> dict
    expand_for_each(template) -> dict
    provision(stage="dev", endpoint_url=None, region="us-east-1", prefix="tf-retainer-local",
              api_key="sim-key", *, parameters=None, template=None) -> Provisioned
    Provisioned.environment(function=None) -> dict[str, str]
    Provisioned.function_settings(logical_id) -> FunctionSettings
    function_settings(logical_id, template=None) -> FunctionSettings
    function_logical_ids(template=None) -> list[str]
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import re
import secrets
import string
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

# Logical ids of the resources built locally (docs/architecture.md).
TABLE_LOGICAL_ID = "LeadsTable"
RETRY_QUEUE_LOGICAL_ID = "RetryQueue"
RETRY_DLQ_LOGICAL_ID = "RetryDeadLetterQueue"
SECRET_LOGICAL_ID = "TrustedFormApiKeySecret"  # noqa: S105 - a logical id, not a secret
CONSUMER_KEY_LOGICAL_ID = "ConsumerKeySecret"
DASHBOARD_LOGICAL_ID = "Dashboard"
EVIDENCE_KEY_LOGICAL_ID = "EvidenceSigningKey"
CALLBACK_KEY_LOGICAL_ID = "CallbackSecretKey"
ANCHOR_KEY_LOGICAL_ID = "AnchorKey"
ANCHOR_FAILURE_QUEUE_LOGICAL_ID = "AnchorFailureQueue"
EVENT_BUS_LOGICAL_ID = "LeadEventBus"
EVENTS_RULE_LOGICAL_ID = "LeadEventsRule"
EVENTS_QUEUE_LOGICAL_ID = "LeadEventsQueue"
PUBLISH_FAILURE_QUEUE_LOGICAL_ID = "PublishFailureQueue"
CALLBACK_RULE_LOGICAL_ID = "CallbackRule"
CALLBACK_QUEUE_LOGICAL_ID = "CallbackQueue"
CALLBACK_DLQ_LOGICAL_ID = "CallbackDeadLetterQueue"
ARCHIVE_BUCKET_LOGICAL_ID = "ArchiveBucket"
# The event bus's queues, dead-letter queues before the queues that redrive to them; then its rules.
EVENT_QUEUES = (
    (EVENTS_QUEUE_LOGICAL_ID, "events"),
    (PUBLISH_FAILURE_QUEUE_LOGICAL_ID, "publish-failures"),
    (ANCHOR_FAILURE_QUEUE_LOGICAL_ID, "anchor-failures"),
    (CALLBACK_DLQ_LOGICAL_ID, "callback-dlq"),
    (CALLBACK_QUEUE_LOGICAL_ID, "callbacks"),
)
EVENT_RULES = (EVENTS_RULE_LOGICAL_ID, CALLBACK_RULE_LOGICAL_ID)

# moto's account id; ARNs built here must match the ones moto hands out.
LOCAL_ACCOUNT_ID = "123456789012"


# --------------------------------------------------------------------------- YAML with CFN short tags


# libyaml's parser when PyYAML was built with it (several times faster); same constructors either way.
_BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


class CfnLoader(_BaseLoader):
    """SafeLoader (C-accelerated when available) that turns CloudFormation short tags into their long
    (JSON) form."""


class PureCfnLoader(yaml.SafeLoader):
    """The same, on PyYAML's pure-Python parser (what CfnLoader falls back to without libyaml)."""


def _construct_cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # !GetAtt Resource.Attribute (the attribute may itself contain dots: Endpoint.Address)
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_cfn_tag)
PureCfnLoader.add_multi_constructor("!", _construct_cfn_tag)


@functools.lru_cache(maxsize=8)
def _parsed(path: str, mtime_ns: int, size: int, expanded: bool) -> bytes:
    """The template at ``path`` (as of ``mtime_ns``/``size``), parsed (its loops expanded or not) and
    pickled: parsed once."""
    with open(path, encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(loaded, dict) or "Resources" not in loaded:
        raise ValueError(f"{path} is not a CloudFormation template")
    return pickle.dumps(expand_for_each(loaded) if expanded else loaded, protocol=pickle.HIGHEST_PROTOCOL)


def load_template(path: str | Path | None = None, *, expanded: bool = True) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (short tags included) into a plain dict, its Fn::ForEach loops
    expanded as AWS::LanguageExtensions expands them before SAM's transform (``expanded=False``: as written).

    Parsed once per file version (path, mtime, size) and process; each call returns a fresh copy, so a
    caller may change what it gets without changing what the next caller sees."""
    resolved = os.path.realpath(path or TEMPLATE_PATH)
    stat = os.stat(resolved)
    return pickle.loads(_parsed(resolved, stat.st_mtime_ns, stat.st_size, expanded))  # noqa: S301 - our own bytes


# --------------------------------------------------------------------------- Fn::ForEach

FOR_EACH = "Fn::ForEach::"
# The sections a loop may stand in (at any depth: a resource's properties too).
LOOP_SECTIONS = ("Conditions", "Resources", "Outputs")
_NOT_ALPHANUMERIC = re.compile(r"[^0-9A-Za-z]")


def expand_for_each(template: Mapping[str, Any]) -> dict[str, Any]:
    """``template`` with every ``Fn::ForEach::Name: [Identifier, [items...], {OutputKey: OutputValue}]``
    replaced by one copy of its fragment per item, as AWS::LanguageExtensions does. In a copy, the item
    stands for ``${Identifier}`` in keys and Fn::Sub strings (``&{Identifier}``: the item without its
    non-alphanumeric characters) and for ``{"Ref": Identifier}``; other strings are left alone, as
    CloudFormation leaves them. A Fn::Sub left with no variable becomes its string (so that
    ``!GetAtt [!Sub "${Identifier}Queue", Arn]`` names a resource). Items are a list of strings."""
    expanded = dict(template)
    parameters = frozenset(template.get("Parameters", {}))
    for section in LOOP_SECTIONS:
        if section in expanded:
            expanded[section] = _expand(expanded[section], {}, parameters)
    return expanded


def _expand(value: Any, items: Mapping[str, str], parameters: frozenset[str]) -> Any:
    """``value`` with its loops expanded and, inside a loop, the loops' ``items`` (identifier -> item) put in."""
    if isinstance(value, list):
        return [_expand(element, items, parameters) for element in value]
    if not isinstance(value, dict):
        return value
    if items and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and isinstance(argument, str) and argument in items:
            return items[argument]
        if function == "Fn::Sub":
            return _sub(argument, items, parameters)
    expanded: dict[str, Any] = {}
    for key, element in value.items():
        if key.startswith(FOR_EACH):
            copies = _copies(key, element, items, parameters)
        else:
            copies = {_put_items(key, items): _expand(element, items, parameters)}
        _merge(expanded, copies, key)
    return expanded


def _copies(loop: str, declaration: Any, items: Mapping[str, str], parameters: frozenset[str]) -> dict[str, Any]:
    """One copy of the loop's fragment per item of its collection, merged."""
    if not (isinstance(declaration, list) and len(declaration) == 3 and isinstance(declaration[2], dict)):
        raise ValueError(f"{loop}: expected [Identifier, [item, ...], {{OutputKey: OutputValue}}]")
    identifier, collection, fragment = declaration
    if not isinstance(identifier, str) or identifier in parameters or identifier in items:
        raise ValueError(f"{loop}: the identifier must be a name no parameter or enclosing loop uses")
    if not isinstance(collection, list) or not all(isinstance(item, str) for item in collection):
        raise ValueError(f"{loop}: the collection must be a list of strings")
    copies: dict[str, Any] = {}
    for item in collection:
        _merge(copies, _expand(fragment, {**items, identifier: item}, parameters), loop)
    return copies


def _merge(into: dict[str, Any], copies: Mapping[str, Any], source: str) -> None:
    for key, value in copies.items():
        if key in into:
            raise ValueError(f"{source}: {key} is defined twice")
        into[key] = value


def _put_items(text: str, items: Mapping[str, str]) -> str:
    for identifier, item in items.items():
        text = text.replace(f"${{{identifier}}}", item).replace(f"&{{{identifier}}}", _NOT_ALPHANUMERIC.sub("", item))
    return text


def _sub(argument: Any, items: Mapping[str, str], parameters: frozenset[str]) -> Any:
    if isinstance(argument, str):
        text = _put_items(argument, items)
        return text if text != argument and "${" not in text else {"Fn::Sub": text}
    text, variables = argument
    return {"Fn::Sub": [_put_items(text, items), _expand(variables, items, parameters)]}


# --------------------------------------------------------------------------- intrinsic functions

_NO_VALUE = object()  # AWS::NoValue: the property is dropped
_SUB_VARIABLE = re.compile(r"\$\{([^!][^}]*)\}")


class UnresolvedReference(LookupError):
    """The template refers to something the local copy does not build (e.g. the API or a function)."""


class _Resolver:
    """Evaluates the intrinsic functions the local resources need: Ref, GetAtt, Sub, If, FindInMap,
    Join, Select, Split, Equals/Not/And/Or and Condition, and AWS::LanguageExtensions' ToJsonString and
    Length. Anything else is left alone or reported."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        region: str,
        stack_name: str,
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{LOCAL_ACCOUNT_ID}:stack/{stack_name}/local",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.refs: dict[str, str] = {}  # logical id -> what Ref returns
        self.attributes: dict[tuple[str, str], str] = {}  # (logical id, attribute) -> value

    # -- conditions
    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    # -- values
    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise UnresolvedReference(f"Ref {name} is not built locally")

    def get_att(self, resource: str, attribute: str) -> str:
        try:
            return self.attributes[(resource, attribute)]
        except KeyError:
            raise UnresolvedReference(f"GetAtt {resource}.{attribute} is not built locally") from None

    def find_in_map(self, arg: list[Any]) -> Any:
        map_name, top_key, second_key, *default = (self.resolve(item) for item in arg)
        try:
            return self.template["Mappings"][map_name][str(top_key)][str(second_key)]
        except KeyError:
            # AWS::LanguageExtensions' fourth argument: {"DefaultValue": ...}
            if default and isinstance(default[0], dict) and "DefaultValue" in default[0]:
                return default[0]["DefaultValue"]
            raise UnresolvedReference(f"FindInMap {map_name}/{top_key}/{second_key}: no such entry") from None

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and name.split(".", 1)[0] not in self.pseudo:
                resource, attribute = name.split(".", 1)
                return str(self.get_att(resource, attribute))
            return str(self.ref(name))

        # ${!Literal} is CloudFormation's escape for a literal ${Literal}
        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(resource, attribute)
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self.resolve(if_true if self.condition(name) else if_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(item) for item in arg)
            if key == "Fn::Or":
                return any(self.resolve(item) for item in arg)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return self.sub(text, variables)
            if key == "Fn::Join":
                delimiter, items = arg
                return delimiter.join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                delimiter, text = arg
                return str(self.resolve(text)).split(delimiter)
            if key == "Fn::FindInMap":
                return self.find_in_map(arg)
            if key == "Fn::ToJsonString":
                # As AWS::LanguageExtensions renders it: compact JSON, keys in template order.
                return json.dumps(self.resolve(arg), separators=(",", ":"), ensure_ascii=False)
            if key == "Fn::Length":
                return len(self.resolve(arg))
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}


def _parameter_values(template: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, str]:
    declared = template.get("Parameters", {})
    unknown = set(overrides) - set(declared)
    if unknown:
        raise ValueError(f"unknown template parameters: {sorted(unknown)}")
    values = {name: spec["Default"] for name, spec in declared.items() if "Default" in spec}
    values.update(overrides)
    for name, spec in declared.items():
        if name not in values:
            raise ValueError(f"template parameter {name} has no default and no value was given")
        allowed = spec.get("AllowedValues")
        if allowed is not None and str(values[name]) not in {str(item) for item in allowed}:
            raise ValueError(f"parameter {name}={values[name]!r} not in {allowed}")
    return {name: str(value) for name, value in values.items()}


def _resource(template: Mapping[str, Any], logical_id: str, expected_type: str) -> Mapping[str, Any]:
    resource = template["Resources"].get(logical_id)
    if resource is None or resource.get("Type") != expected_type:
        raise ValueError(f"template has no {expected_type} named {logical_id}")
    return resource


def _skip(kind: str, logical_id: str, names: set[str]) -> None:
    if names:
        warnings.warn(
            f"{logical_id} ({kind}): properties not applied locally: {sorted(names)}",
            stacklevel=3,
        )


# --------------------------------------------------------------------------- clients


@functools.cache
def _session(region: str) -> boto3.session.Session:
    """One botocore session per region for the process: each session loads botocore's endpoint and
    retry data again (provision's five clients took 0.34 s of CPU with a session each, 0.10 s sharing one)."""
    return boto3.session.Session(region_name=region)


_CLIENTS_LOCK = threading.Lock()  # a boto3 session is not thread-safe


@functools.cache
def aws_client(service: str, region: str, endpoint_url: str | None) -> Any:
    """One client per service, region and endpoint for the process (moto intercepts a client whenever
    it was made)."""
    with _CLIENTS_LOCK:
        session = _session(region)
        credentials: dict[str, str] = {}
        if endpoint_url and session.get_credentials() is None:
            # A moto server accepts any credentials; don't fail on a machine that has none.
            credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        return session.client(service, endpoint_url=endpoint_url, **credentials)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# --------------------------------------------------------------------------- DynamoDB

# Table properties create_table takes as they are in the template.
_TABLE_PASSTHROUGH = {
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "LocalSecondaryIndexes",
    "ProvisionedThroughput",
    "TableClass",
    "DeletionProtectionEnabled",
    "Tags",
}
# Applied with their own calls after create_table.
_TABLE_AFTER_CREATE = {"TimeToLiveSpecification", "PointInTimeRecoverySpecification"}
# Deliberately ignored locally: moto has no use for them (or rejects them) and they change no behaviour
# the code under test can observe.
_TABLE_IGNORED = {
    "ContributorInsightsSpecification",
    "KinesisStreamSpecification",
    "ImportSourceSpecification",
    "ResourcePolicy",
    "WarmThroughput",
    "OnDemandThroughput",
}
_GSI_KEYS = {"IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput"}


def _table_request(name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": name}
    request.update({key: value for key, value in properties.items() if key in _TABLE_PASSTHROUGH})
    if "GlobalSecondaryIndexes" in properties:
        # ContributorInsightsSpecification on an index is a CloudFormation-only key.
        request["GlobalSecondaryIndexes"] = [
            {key: value for key, value in index.items() if key in _GSI_KEYS}
            for index in properties["GlobalSecondaryIndexes"]
        ]
    if "SSESpecification" in properties:
        sse = properties["SSESpecification"]  # CloudFormation: SSEEnabled; the API: Enabled
        request["SSESpecification"] = {
            key: value
            for key, value in {
                "Enabled": bool(sse.get("SSEEnabled", False)),
                "SSEType": sse.get("SSEType"),
                "KMSMasterKeyId": sse.get("KMSMasterKeyId"),
            }.items()
            if value is not None
        }
    if "StreamSpecification" in properties:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": properties["StreamSpecification"]["StreamViewType"],
        }
    return request


def _create_table(client: Any, logical_id: str, name: str, properties: Mapping[str, Any]) -> None:
    handled = (
        _TABLE_PASSTHROUGH
        | _TABLE_AFTER_CREATE
        | {
            "GlobalSecondaryIndexes",
            "SSESpecification",
            "StreamSpecification",
            "TableName",
        }
    )
    _skip("DynamoDB", logical_id, set(properties) - handled - _TABLE_IGNORED)
    try:
        client.create_table(**_table_request(name, properties))
    except ClientError as error:
        if _error_code(error) != "ResourceInUseException":
            raise  # anything but "already exists" (a restarted local stack) is a real problem
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})

    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        current = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    pitr = properties.get("PointInTimeRecoverySpecification")
    if pitr and pitr.get("PointInTimeRecoveryEnabled"):
        client.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


# --------------------------------------------------------------------------- SQS

# CloudFormation property -> SQS queue attribute (values become strings; JSON policies are dumped).
_QUEUE_ATTRIBUTES = {
    "VisibilityTimeout": "VisibilityTimeout",
    "MessageRetentionPeriod": "MessageRetentionPeriod",
    "DelaySeconds": "DelaySeconds",
    "MaximumMessageSize": "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy": "RedrivePolicy",
    "RedriveAllowPolicy": "RedriveAllowPolicy",
    "SqsManagedSseEnabled": "SqsManagedSseEnabled",
    "KmsMasterKeyId": "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "FifoQueue": "FifoQueue",
    "ContentBasedDeduplication": "ContentBasedDeduplication",
    "DeduplicationScope": "DeduplicationScope",
    "FifoThroughputLimit": "FifoThroughputLimit",
}


def _attribute_value(name: str, value: Any) -> str:
    if name == "RedrivePolicy":
        # SQS wants a JSON string; maxReceiveCount as a number (the template may hold "5" or 5).
        policy = dict(value)
        policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
        return json.dumps(policy)
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _queue_attributes(properties: Mapping[str, Any]) -> dict[str, str]:
    return {
        _QUEUE_ATTRIBUTES[key]: _attribute_value(key, value)
        for key, value in properties.items()
        if key in _QUEUE_ATTRIBUTES
    }


def _create_queue(client: Any, logical_id: str, name: str, properties: Mapping[str, Any]) -> tuple[str, str]:
    """Create (or reuse and update) a queue; returns (url, arn)."""
    _skip("SQS", logical_id, set(properties) - set(_QUEUE_ATTRIBUTES) - {"QueueName", "Tags"})
    name = properties.get("QueueName", name)
    if properties.get("FifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = _queue_attributes(properties)
    tags = {tag["Key"]: str(tag["Value"]) for tag in properties.get("Tags", [])}
    try:
        url = client.create_queue(QueueName=name, Attributes=attributes, tags=tags)["QueueUrl"]
    except ClientError as error:
        if _error_code(error) not in {"QueueAlreadyExists", "QueueNameExists"}:
            raise
        # Exists with other attributes (template changed since the local stack last ran): update it.
        url = client.get_queue_url(QueueName=name)["QueueUrl"]
        mutable = {key: value for key, value in attributes.items() if key != "FifoQueue"}
        if mutable:
            client.set_queue_attributes(QueueUrl=url, Attributes=mutable)
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


# --------------------------------------------------------------------------- Secrets Manager


def _secret_document(properties: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, str]:
    """What a secret holds locally: the template's SecretString with ``values`` over it (its placeholder is
    for the operator), or, generated, GenerateSecretString's template with its key set to a random string
    of the asked length (letters and digits: ExcludePunctuation)."""
    generate = properties.get("GenerateSecretString")
    if generate:
        document = json.loads(generate.get("SecretStringTemplate") or "{}")
        length = int(generate.get("PasswordLength", 32))
        alphabet = string.ascii_letters + string.digits
        document[generate["GenerateStringKey"]] = "".join(secrets.choice(alphabet) for _ in range(length))
    else:
        document = json.loads(properties.get("SecretString") or "{}")
    return {**document, **values}


def _create_secret(
    client: Any, logical_id: str, name: str, properties: Mapping[str, Any], values: Mapping[str, str]
) -> str:
    """Create (or reuse, keeping a generated value) a secret as the template declares it; returns its ARN."""
    # KmsKeyId and ReplicaRegions have no local meaning.
    _skip(
        "Secrets Manager",
        logical_id,
        set(properties)
        - {
            "Name",
            "Description",
            "SecretString",
            "Tags",
            "GenerateSecretString",
            "KmsKeyId",
            "ReplicaRegions",
        },
    )
    secret_string = json.dumps(_secret_document(properties, values))
    extra: dict[str, Any] = {}
    if "Description" in properties:
        extra["Description"] = properties["Description"]
    if properties.get("Tags"):
        extra["Tags"] = [{"Key": tag["Key"], "Value": str(tag["Value"])} for tag in properties["Tags"]]
    try:
        return str(client.create_secret(Name=name, SecretString=secret_string, **extra)["ARN"])
    except ClientError as error:
        if _error_code(error) != "ResourceExistsException":
            raise
    if not properties.get("GenerateSecretString"):  # a generated key stays what it was
        client.put_secret_value(SecretId=name, SecretString=secret_string)
    return str(client.describe_secret(SecretId=name)["ARN"])


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class FunctionSettings:
    """What a local runner needs to call one of the template's functions."""

    logical_id: str
    handler: str  # "app.lambda_handler"
    code_uri: Path  # absolute directory of the function's code
    timeout: int  # seconds
    memory_size: int
    architecture: str  # "arm64" or "x86_64"
    batch_size: int | None  # of the function's SQS event source, if it has one
    maximum_batching_window: int | None
    queue: str | None  # logical id of the queue of that SQS event source
    report_batch_item_failures: bool

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def function_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def function_logical_ids(template: Mapping[str, Any] | None = None) -> list[str]:
    """Logical ids of every AWS::Serverless::Function in the template."""
    template = template if template is not None else load_template()
    return [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    ]


def function_settings(logical_id: str, template: Mapping[str, Any] | None = None) -> FunctionSettings:
    """A function's handler, code directory, timeout and SQS batching, Globals applied."""
    template = template if template is not None else load_template()
    properties = _resource(template, logical_id, "AWS::Serverless::Function")["Properties"]
    defaults = template.get("Globals", {}).get("Function", {})

    def setting(name: str, default: Any = None) -> Any:
        return properties.get(name, defaults.get(name, default))

    sqs_events = [event["Properties"] for event in properties.get("Events", {}).values() if event.get("Type") == "SQS"]
    sqs = sqs_events[0] if sqs_events else None
    queue = None
    if sqs is not None:
        source = sqs["Queue"]  # !GetAtt Queue.Arn
        queue = source["Fn::GetAtt"][0] if isinstance(source, dict) and "Fn::GetAtt" in source else None
    return FunctionSettings(
        logical_id=logical_id,
        handler=str(setting("Handler")),
        code_uri=(REPO_ROOT / str(setting("CodeUri"))).resolve(),
        timeout=int(setting("Timeout", 3)),
        memory_size=int(setting("MemorySize", 128)),
        architecture=str(setting("Architectures", ["x86_64"])[0]),
        batch_size=int(sqs.get("BatchSize", 10)) if sqs is not None else None,
        maximum_batching_window=(int(sqs.get("MaximumBatchingWindowInSeconds", 0)) if sqs is not None else None),
        queue=queue,
        report_batch_item_failures=bool(
            sqs is not None and "ReportBatchItemFailures" in sqs.get("FunctionResponseTypes", [])
        ),
    )


# --------------------------------------------------------------------------- provisioning


@dataclass
class Provisioned:
    """The local resources built from the template, and the environment the functions read.

    Plain data: a process that only knows these fields (e.g. read back from a state file) can rebuild
    ``environment()`` without touching AWS."""

    table_name: str
    retry_queue_url: str
    retry_dlq_url: str
    secret_id: str  # the secret's ARN (what Ref returns in CloudFormation)
    region: str
    endpoint_url: str | None
    retry_queue_arn: str = ""
    retry_dlq_arn: str = ""
    consumer_key_secret_id: str = ""  # the generated consumer key's secret (ConsumerKeySecret)
    stack_name: str = "tf-retainer-local-dev"
    dashboard_name: str = ""  # empty when the template has no Dashboard
    evidence_key_id: str = ""  # the KMS HMAC key that signs evidence bundles
    callback_key_id: str = ""  # the KMS key vendors' callback secrets are sealed with
    event_bus_name: str = ""  # the outcome events' bus
    events_queue_url: str = ""  # the example rule's queue: every outcome event
    publish_failure_queue_url: str = ""  # stream records the publisher gave up on
    anchor_failure_queue_url: str = ""  # stream records the anchoring function gave up on
    anchor_key_id: str = ""  # the KMS HMAC key the evidence anchors are MACed with
    callback_queue_url: str = ""  # vendor callback jobs
    callback_dlq_url: str = ""  # vendor callbacks given up on
    archive_bucket: str = ""  # the evidence archive (Object Lock)
    parameters: dict[str, str] = field(default_factory=dict)  # resolved template parameters
    # What else a Ref may name: the KMS keys, and the conditional secrets created (the providers' keys).
    extra_refs: dict[str, str] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _template(self) -> dict[str, Any]:
        if not self.template:
            self.template = load_template()
        return self.template

    def _resolver(self) -> _Resolver:
        template = self._template()
        resolver = _Resolver(template, _parameter_values(template, self.parameters), self.region, self.stack_name)
        resolver.refs.update(self.extra_refs)
        resolver.refs.update(
            {
                TABLE_LOGICAL_ID: self.table_name,
                RETRY_QUEUE_LOGICAL_ID: self.retry_queue_url,
                RETRY_DLQ_LOGICAL_ID: self.retry_dlq_url,
                SECRET_LOGICAL_ID: self.secret_id,
                CONSUMER_KEY_LOGICAL_ID: self.consumer_key_secret_id,
                EVENT_BUS_LOGICAL_ID: self.event_bus_name,
                CALLBACK_QUEUE_LOGICAL_ID: self.callback_queue_url,
                CALLBACK_DLQ_LOGICAL_ID: self.callback_dlq_url,
                ARCHIVE_BUCKET_LOGICAL_ID: self.archive_bucket,
                CALLBACK_KEY_LOGICAL_ID: self.callback_key_id,
                ANCHOR_KEY_LOGICAL_ID: self.anchor_key_id,
            }
        )
        for logical_id, url, arn in (
            (RETRY_QUEUE_LOGICAL_ID, self.retry_queue_url, self.retry_queue_arn),
            (RETRY_DLQ_LOGICAL_ID, self.retry_dlq_url, self.retry_dlq_arn),
        ):
            resolver.attributes[(logical_id, "QueueUrl")] = url
            resolver.attributes[(logical_id, "QueueName")] = url.rsplit("/", 1)[-1]
            if arn:
                resolver.attributes[(logical_id, "Arn")] = arn
        resolver.attributes[(TABLE_LOGICAL_ID, "Arn")] = (
            f"arn:aws:dynamodb:{self.region}:{LOCAL_ACCOUNT_ID}:table/{self.table_name}"
        )
        return resolver

    def lead_store(self, dynamodb: Any = None, secretsmanager: Any = None, *, retention_days: int = 1825) -> Any:
        """The service's lead store on these resources (tests and benches read and write leads through it),
        with the generated consumer key read from its secret. Clients: the default ones unless given."""
        from tf_retainer.aws.secrets import read_consumer_key, secrets_provider
        from tf_retainer.domain.keyring import Keyring
        from tf_retainer.runtime.settings import Settings
        from tf_retainer.store.lead_table import lead_table

        in_flight = Settings.model_fields["received_grace_seconds"].default  # the functions' own, unless set
        dynamodb = dynamodb or aws_client("dynamodb", self.region, self.endpoint_url)
        secretsmanager = secretsmanager or aws_client("secretsmanager", self.region, self.endpoint_url)
        keyring = Keyring(lambda: read_consumer_key(secrets_provider(secretsmanager), self.consumer_key_secret_id))
        return lead_table(
            self.table_name,
            retention_days=retention_days,
            client=dynamodb,
            keyring=keyring,
            in_flight_seconds=in_flight,
        )

    def environment(self, function: str | None = None) -> dict[str, str]:
        """Environment variables the functions read: the template's Globals (and, with ``function``,
        that function's own Environment) resolved against the local resources, plus the region and,
        against a moto server, AWS_ENDPOINT_URL."""
        template = self._template()
        resolver = self._resolver()
        variables = _template_env(template.get("Globals", {}).get("Function", {}), resolver)
        if function is not None:
            properties = _resource(template, function, "AWS::Serverless::Function")["Properties"]
            variables.update(_template_env(properties, resolver))
        variables.update(
            {
                "TABLE_NAME": self.table_name,
                "RETRY_QUEUE_URL": self.retry_queue_url,
                "TRUSTEDFORM_SECRET_ID": self.secret_id,
                "CONSUMER_KEY_SECRET_ID": self.consumer_key_secret_id,
                # CallbackFunction's own (the local worker pool gives every function one environment).
                "CALLBACK_QUEUE_URL": self.callback_queue_url,
                "CALLBACK_DLQ_URL": self.callback_dlq_url,
                "CALLBACK_SECRET_KEY_ID": self.callback_key_id,
                # ArchiverFunction's and AnchorFunction's own.
                "ARCHIVE_BUCKET": self.archive_bucket,
                "ANCHOR_KEY_ID": self.anchor_key_id,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
            }
        )
        # The template declares it empty (for sam local --env-vars); here it is the moto server or unset.
        variables.pop("AWS_ENDPOINT_URL", None)
        if self.endpoint_url:
            variables["AWS_ENDPOINT_URL"] = self.endpoint_url
        return variables

    def function_settings(self, logical_id: str) -> FunctionSettings:
        return function_settings(logical_id, self._template())


def _template_env(function_properties: Mapping[str, Any], resolver: _Resolver) -> dict[str, str]:
    variables = function_properties.get("Environment", {}).get("Variables", {})
    resolved = resolver.resolve(variables)
    return {
        name: ("true" if value is True else "false" if value is False else str(value))
        for name, value in resolved.items()
    }


def _kms_key(kms: Any, alias: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The key behind ``alias``, created (with the template's KeySpec/KeyUsage) on first use."""
    try:
        return dict(kms.describe_key(KeyId=alias)["KeyMetadata"])
    except ClientError as exc:
        if _error_code(exc) != "NotFoundException":
            raise
    key = kms.create_key(
        KeySpec=properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
        KeyUsage=properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
        Description=alias.removeprefix("alias/"),
    )["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return dict(key)


def _create_bucket(client: Any, name: str, properties: Mapping[str, Any]) -> None:
    """The bucket with the template's Object Lock (compliance retention), versioning, encryption, public
    access block and lifecycle; on a second run, the existing bucket as it is."""
    lock = properties.get("ObjectLockConfiguration")
    try:
        client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=bool(properties.get("ObjectLockEnabled")))
    except ClientError as exc:
        if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        return
    if "VersioningConfiguration" in properties:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"])
    if lock:
        retention = lock["Rule"]["DefaultRetention"]
        client.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": lock["ObjectLockEnabled"],
                "Rule": {"DefaultRetention": {"Mode": retention["Mode"], "Days": int(retention["Days"])}},
            },
        )
    encryption = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
    if encryption:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
                    "KMSMasterKeyID": rule["ServerSideEncryptionByDefault"].get("KMSMasterKeyID", ""),
                },
                "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled")),
            }
            for rule in encryption
        ]
        client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in properties:
        client.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
        )


def _provision_events(
    template: Mapping[str, Any], resolver: _Resolver, stack_name: str, region: str, endpoint_url: str | None
) -> dict[str, str]:
    """The outcome events' bus and queues, and the template's rule between them (moto's EventBridge
    delivers to SQS targets): logical id -> bus name or queue URL. Empty if the template has no bus."""
    if EVENT_BUS_LOGICAL_ID not in template["Resources"]:
        return {}
    created: dict[str, str] = {}
    sqs = aws_client("sqs", region, endpoint_url)
    for logical_id, suffix in EVENT_QUEUES:
        properties = resolver.resolve(_resource(template, logical_id, "AWS::SQS::Queue").get("Properties", {}))
        url, arn = _create_queue(sqs, logical_id, f"{stack_name}-{suffix}", properties)
        created[logical_id] = url
        resolver.refs[logical_id] = url
        resolver.attributes[(logical_id, "Arn")] = arn
        resolver.attributes[(logical_id, "QueueUrl")] = url
        resolver.attributes[(logical_id, "QueueName")] = url.rsplit("/", 1)[-1]

    events = aws_client("events", region, endpoint_url)
    bus = resolver.resolve(_resource(template, EVENT_BUS_LOGICAL_ID, "AWS::Events::EventBus")["Properties"])
    try:
        bus_arn = events.create_event_bus(Name=bus["Name"])["EventBusArn"]
    except ClientError as exc:
        if _error_code(exc) != "ResourceAlreadyExistsException":
            raise
        bus_arn = events.describe_event_bus(Name=bus["Name"])["Arn"]
    created[EVENT_BUS_LOGICAL_ID] = bus["Name"]
    resolver.refs[EVENT_BUS_LOGICAL_ID] = bus["Name"]
    resolver.attributes[(EVENT_BUS_LOGICAL_ID, "Arn")] = bus_arn

    for logical_id in EVENT_RULES:
        rule = resolver.resolve(_resource(template, logical_id, "AWS::Events::Rule")["Properties"])
        rule_name = f"{stack_name}-{logical_id}"
        events.put_rule(
            Name=rule_name,
            EventBusName=rule["EventBusName"],
            EventPattern=json.dumps(rule["EventPattern"]),
            State=rule.get("State", "ENABLED"),
            Description=rule.get("Description", ""),
        )
        events.put_targets(
            Rule=rule_name,
            EventBusName=rule["EventBusName"],
            Targets=[{"Id": target["Id"], "Arn": target["Arn"]} for target in rule["Targets"]],
        )
    return created


def provision(
    stage: str = "dev",
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    prefix: str = "tf-retainer-local",
    api_key: str = "sim-key",
    *,
    parameters: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    secret_values: Mapping[str, Mapping[str, str]] | None = None,
) -> Provisioned:
    """Create the table, the retry queues and the API key secret as template.yaml declares them.

    Names: ``{prefix}-{stage}-leads``, ``{prefix}-{stage}-retry``, ``{prefix}-{stage}-retry-dlq``; the
    secret's name is the template's with AWS::StackName = ``{prefix}-{stage}``. ``parameters`` overrides
    other template parameters (e.g. ``{"MaskedCertificatePolicy": "refuse"}``); a conditional secret whose
    condition they make true (a screening provider's key) is created too, ``secret_values[logical_id]`` over
    its placeholder.
    """
    loaded = dict(template) if template is not None else load_template()
    stack_name = f"{prefix}-{stage}"
    values = _parameter_values(loaded, {**(parameters or {}), "Stage": stage})
    resolver = _Resolver(loaded, values, region, stack_name)

    # KMS keys first: the table is encrypted with one of them.
    kms = aws_client("kms", region, endpoint_url)
    for logical_id, resource in loaded["Resources"].items():
        if resource.get("Type") == "AWS::KMS::Key":
            key = _kms_key(kms, f"alias/{stack_name}-{logical_id}", resource.get("Properties", {}))
            resolver.refs[logical_id] = key["KeyId"]
            resolver.attributes[(logical_id, "Arn")] = key["Arn"]

    # The evidence archive (optional in the template), encrypted with one of the keys.
    archive_bucket = ""
    if ARCHIVE_BUCKET_LOGICAL_ID in loaded["Resources"]:
        archive_bucket = f"{stack_name}-archive".lower()
        bucket = _resource(loaded, ARCHIVE_BUCKET_LOGICAL_ID, "AWS::S3::Bucket")
        _create_bucket(aws_client("s3", region, endpoint_url), archive_bucket, resolver.resolve(bucket["Properties"]))
        resolver.refs[ARCHIVE_BUCKET_LOGICAL_ID] = archive_bucket
        resolver.attributes[(ARCHIVE_BUCKET_LOGICAL_ID, "Arn")] = f"arn:aws:s3:::{archive_bucket}"

    # DynamoDB
    table_name = f"{stack_name}-leads"
    table = _resource(loaded, TABLE_LOGICAL_ID, "AWS::DynamoDB::Table")
    _create_table(
        aws_client("dynamodb", region, endpoint_url),
        TABLE_LOGICAL_ID,
        table_name,
        resolver.resolve(table.get("Properties", {})),
    )
    resolver.refs[TABLE_LOGICAL_ID] = table_name
    resolver.attributes[(TABLE_LOGICAL_ID, "Arn")] = f"arn:aws:dynamodb:{region}:{LOCAL_ACCOUNT_ID}:table/{table_name}"

    # SQS: the dead-letter queue first, its ARN goes into the retry queue's RedrivePolicy.
    sqs = aws_client("sqs", region, endpoint_url)
    queues: dict[str, tuple[str, str]] = {}
    for logical_id, name in (
        (RETRY_DLQ_LOGICAL_ID, f"{stack_name}-retry-dlq"),
        (RETRY_QUEUE_LOGICAL_ID, f"{stack_name}-retry"),
    ):
        properties = resolver.resolve(_resource(loaded, logical_id, "AWS::SQS::Queue").get("Properties", {}))
        url, arn = _create_queue(sqs, logical_id, name, properties)
        queues[logical_id] = (url, arn)
        resolver.refs[logical_id] = url
        resolver.attributes[(logical_id, "Arn")] = arn
        resolver.attributes[(logical_id, "QueueUrl")] = url
        resolver.attributes[(logical_id, "QueueName")] = url.rsplit("/", 1)[-1]

    # Outcome events: the bus, the example rule and its queue, the publisher's failure queue.
    events = _provision_events(loaded, resolver, stack_name, region, endpoint_url)

    # KMS keys and the conditional secrets: what the functions' environment may name (screening providers).
    extra_refs = {
        logical_id: str(resolver.refs[logical_id])
        for logical_id, resource in loaded["Resources"].items()
        if resource.get("Type") == "AWS::KMS::Key"
    }

    # Secrets Manager
    secret = _resource(loaded, SECRET_LOGICAL_ID, "AWS::SecretsManager::Secret")
    secret_properties = resolver.resolve(secret.get("Properties", {}))
    secret_name = str(secret_properties.get("Name") or f"{stack_name}/trustedform-api-key")
    secretsmanager = aws_client("secretsmanager", region, endpoint_url)
    secret_arn = _create_secret(secretsmanager, SECRET_LOGICAL_ID, secret_name, secret_properties, {"api_key": api_key})
    resolver.refs[SECRET_LOGICAL_ID] = secret_arn
    resolver.attributes[(SECRET_LOGICAL_ID, "Id")] = secret_arn
    consumer = resolver.resolve(_resource(loaded, CONSUMER_KEY_LOGICAL_ID, "AWS::SecretsManager::Secret")["Properties"])
    consumer_key_arn = _create_secret(secretsmanager, CONSUMER_KEY_LOGICAL_ID, str(consumer["Name"]), consumer, {})
    resolver.refs[CONSUMER_KEY_LOGICAL_ID] = consumer_key_arn
    for logical_id, resource in loaded["Resources"].items():
        condition = resource.get("Condition")
        if resource.get("Type") != "AWS::SecretsManager::Secret" or not condition or not resolver.condition(condition):
            continue
        properties = resolver.resolve(resource["Properties"])
        given = (secret_values or {}).get(logical_id, {})
        arn = _create_secret(secretsmanager, logical_id, str(properties["Name"]), properties, given)
        resolver.refs[logical_id] = extra_refs[logical_id] = arn

    # CloudWatch dashboard (optional in the template). Locally no Lambda functions exist: their Refs
    # resolve to "{stack}-{LogicalId}", which is also what the local runner reports metrics under.
    # Nor do alarms: their ARNs are what CloudWatch would give them, from their AlarmName.
    dashboard_name = ""
    dashboard = loaded["Resources"].get(DASHBOARD_LOGICAL_ID)
    if dashboard is not None and dashboard.get("Type") == "AWS::CloudWatch::Dashboard":
        for logical_id in function_logical_ids(loaded):
            resolver.refs.setdefault(logical_id, f"{stack_name}-{logical_id}")
        for logical_id, resource in loaded["Resources"].items():
            if resource.get("Type") == "AWS::CloudWatch::Alarm":
                alarm_name = resolver.resolve(resource["Properties"].get("AlarmName", logical_id))
                arn = f"arn:aws:cloudwatch:{region}:{LOCAL_ACCOUNT_ID}:alarm:{alarm_name}"
                resolver.refs.setdefault(logical_id, str(alarm_name))
                resolver.attributes[(logical_id, "Arn")] = arn
        dashboard_properties = resolver.resolve(dashboard.get("Properties", {}))
        dashboard_name = str(dashboard_properties.get("DashboardName") or stack_name)
        aws_client("cloudwatch", region, endpoint_url).put_dashboard(
            DashboardName=dashboard_name, DashboardBody=dashboard_properties["DashboardBody"]
        )

    return Provisioned(
        table_name=table_name,
        retry_queue_url=queues[RETRY_QUEUE_LOGICAL_ID][0],
        retry_dlq_url=queues[RETRY_DLQ_LOGICAL_ID][0],
        secret_id=secret_arn,
        consumer_key_secret_id=consumer_key_arn,
        region=region,
        endpoint_url=endpoint_url,
        retry_queue_arn=queues[RETRY_QUEUE_LOGICAL_ID][1],
        retry_dlq_arn=queues[RETRY_DLQ_LOGICAL_ID][1],
        stack_name=stack_name,
        dashboard_name=dashboard_name,
        evidence_key_id=str(resolver.refs.get(EVIDENCE_KEY_LOGICAL_ID, "")),
        callback_key_id=str(resolver.refs.get(CALLBACK_KEY_LOGICAL_ID, "")),
        anchor_key_id=str(resolver.refs.get(ANCHOR_KEY_LOGICAL_ID, "")),
        anchor_failure_queue_url=events.get(ANCHOR_FAILURE_QUEUE_LOGICAL_ID, ""),
        event_bus_name=events.get(EVENT_BUS_LOGICAL_ID, ""),
        events_queue_url=events.get(EVENTS_QUEUE_LOGICAL_ID, ""),
        publish_failure_queue_url=events.get(PUBLISH_FAILURE_QUEUE_LOGICAL_ID, ""),
        callback_queue_url=events.get(CALLBACK_QUEUE_LOGICAL_ID, ""),
        callback_dlq_url=events.get(CALLBACK_DLQ_LOGICAL_ID, ""),
        archive_bucket=archive_bucket,
        parameters=values,
        extra_refs=extra_refs,
        template=loaded,
    )
