"""template.yaml as CloudFormation gets it: translated by SAM (samtranslator, offline), and its IAM read back
as (role, statement) grants with resources rendered one way (tests/integration/local/test_iam.py,
test_iam_writes.py and tests/integration/service/test_grants_cover_calls.py check them).

samtranslator comes from aws-sam-cli's venv (``make sam-install``, .venv-sam) when the test's own
interpreter does not have it: it runs there in a subprocess, on the JSON of the template.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from local.provision import REPO_ROOT
from tests.support.template import granted

REGION = "us-east-1"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
SAM_PYTHON = Path(os.environ.get("SAM_VENV", REPO_ROOT / ".venv-sam")) / "bin" / "python"

PSEUDO_PARAMETERS = {"AWS::Region": REGION, "AWS::AccountId": "123456789012", "AWS::StackName": "tf-retainer-dev"}

# The translation in aws-sam-cli's venv: the template's JSON on stdin, CloudFormation's on stdout.
# The managed-policy loader is a stub (no IAM call): SAM knows the ARNs of the policies it attaches.
_TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform

class NoManagedPolicyLookups:
    def load(self):
        return {}

request = json.load(sys.stdin)
json.dump(transform(request["template"], request["parameters"], NoManagedPolicyLookups()), sys.stdout)
"""


class _NoManagedPolicyLookups:
    def load(self) -> dict[str, str]:
        return {}


# --------------------------------------------------------------------------- translation


def sam_input(template: dict[str, Any]) -> dict[str, Any]:
    """The template as SAM's transform receives it once AWS::LanguageExtensions has run (load_template
    expanded its Fn::ForEach loops; Fn::ToJsonString is left opaque here) and `sam package` has uploaded
    the code."""
    assert template["Transform"] == [LANGUAGE_EXTENSIONS, SAM_TRANSFORM], "teach test_iam.py the new transform"
    prepared = _without_language_extensions(copy.deepcopy(template))
    prepared["Transform"] = SAM_TRANSFORM
    for resource in prepared["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://artifacts/{properties[key].strip('/')}.zip"
    return prepared


def _without_language_extensions(value: Any) -> Any:
    if isinstance(value, dict):
        for key in value:
            if key.startswith("Fn::ForEach") or key == "Fn::Length":
                raise AssertionError(f"{key}: test_iam.py does not expand it before translating; teach it")
        if set(value) == {"Fn::ToJsonString"}:
            return "{}"  # a JSON string at deploy time; nothing IAM
        return {key: _without_language_extensions(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_language_extensions(item) for item in value]
    return value


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation of a SAM template, by samtranslator: in this process if it has it, else in
    aws-sam-cli's venv; skips the test when neither has it."""
    prepared = sam_input(template)
    if importlib.util.find_spec("samtranslator") is not None:
        from samtranslator.translator.transform import transform  # optional: else .venv-sam

        # SAM asks boto3 for the region even when AWS::Region is given.
        with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION}):
            here: dict[str, Any] = transform(prepared, dict(PSEUDO_PARAMETERS), _NoManagedPolicyLookups())
        return json.loads(json.dumps(here))
    if not SAM_PYTHON.exists():
        pytest.skip(f"samtranslator is not installed here nor in {SAM_PYTHON.parent.parent} (make sam-install)")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [str(SAM_PYTHON), "-c", _TRANSLATE],
        input=json.dumps({"template": prepared, "parameters": PSEUDO_PARAMETERS}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": REGION},
    )
    assert result.returncode == 0, f"SAM could not translate the template:\n{result.stderr}"
    translated: dict[str, Any] = json.loads(result.stdout)
    return translated


# --------------------------------------------------------------------------- reading IAM


@dataclass(frozen=True)
class Grant:
    role: str  # logical id of the role (or of the policy, for one attached to no role of the template)
    statement: dict[str, Any]

    def actions(self) -> list[str]:
        return as_list(self.statement.get("Action", []))

    def resources(self) -> list[str]:
        return [normalise(render(resource)) for resource in as_list(self.statement.get("Resource", []))]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def render(value: Any) -> str:
    """An IAM resource as text: references become <LogicalId> / <LogicalId.Attribute>, so the same
    resource written two ways (!GetAtt, or Fn::Sub as SAM's policy templates do) compares equal."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else argument
            return f"<{parts[0]}.{parts[1]}>"
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return re.sub(
                r"\$\{([^}!]+)\}",
                lambda match: render(variables[match[1]]) if match[1] in variables else f"<{match[1]}>",
                text,
            )
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(render(part) for part in parts)
    return json.dumps(value, sort_keys=True)  # anything else (Fn::If, ...): equal to no expected resource


_QUEUE_BY_NAME = re.compile(r"^arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:<(\w+)\.QueueName>$")


def normalise(resource: str) -> str:
    """SAM's SQS policy templates name the queue by QueueName: the same queue as its Arn."""
    match = _QUEUE_BY_NAME.match(resource)
    return f"<{match[1]}.Arn>" if match else resource


def grants(template: dict[str, Any]) -> list[Grant]:
    """Every identity-policy statement of the translated template: roles' inline policies and
    AWS::IAM::Policy / ManagedPolicy resources (under each role they attach to)."""
    found: list[Grant] = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in granted(properties.get("Policies", [])):
                found += [Grant(logical_id, s) for s in granted(as_list(policy["PolicyDocument"]["Statement"]))]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            roles = [render(role).strip("<>") for role in properties.get("Roles", [])] or [logical_id]
            for role in roles:
                found += [Grant(role, s) for s in granted(as_list(properties["PolicyDocument"]["Statement"]))]
    return found


def managed_policies(template: dict[str, Any]) -> dict[str, set[str]]:
    """Role -> names of its managed policies (the ARN's last segment)."""
    found: dict[str, set[str]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            arns = resource.get("Properties", {}).get("ManagedPolicyArns", [])
            found[logical_id] = {render(arn).rsplit("/", 1)[-1] for arn in arns}
    return found


def function_roles(template: dict[str, Any]) -> dict[str, str]:
    """Lambda function -> logical id of its role (every function's role is one of the template)."""
    roles = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            role = resource["Properties"]["Role"]
            assert isinstance(role, dict) and "Fn::GetAtt" in role, f"{logical_id}: role from outside the stack"
            roles[logical_id] = role["Fn::GetAtt"][0]
    return roles


def statements_of(translated: dict[str, Any], function: str) -> list[tuple[dict[str, Any], list[str]]]:
    """The statements of the function's role, each with its resources rendered (tests/support/iam.py's input)."""
    role = function_roles(translated)[function]
    return [(grant.statement, grant.resources()) for grant in grants(translated) if grant.role == role]
