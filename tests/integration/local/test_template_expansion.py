"""template.yaml as CloudFormation gets it: ``load_template`` expands its Fn::ForEach loops as
AWS::LanguageExtensions does, and what that hands every reader is a recorded fact.

* The expansion (local/provision.py's ``expand_for_each``) is compared with the two other expanders at
  hand, on template.yaml and on the documentation's examples: cfn-lint's (what ``make validate`` lints)
  and SAM CLI's (``sam validate``/``sam build --language-extensions``, in .venv-sam). Each of those also
  rewrites other intrinsics (resolves FindInMap, Ref to parameters, Sub), so each is run on the template
  as written and on local/provision.py's expansion of it: the two results are equal when the loops
  expand alike.
* template_resources.json holds, for every resource, its type, its physical name (where the template
  sets one) and a digest of its whole definition (properties, policies, conditions), and a digest of
  each condition and output. Any change to what the template deploys changes the record: one made on
  purpose is recorded again with ``python -m tests.integration.local.test_template_expansion``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.template import Template
from cfnlint.template.transforms._language_extensions import language_extension

from local.provision import REPO_ROOT, CfnLoader, expand_for_each, load_template

RECORD = Path(__file__).with_name("template_resources.json")
# The properties that give a resource its physical name; without one, CloudFormation makes it up from the
# stack name and the logical id.
NAME_PROPERTIES = ("AlarmName", "DashboardName", "LayerName", "LogGroupName", "Name", "QueueName")


def digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def resource_record(resource: dict[str, Any]) -> dict[str, Any]:
    properties = resource.get("Properties", {})
    names = {key: properties[key] for key in NAME_PROPERTIES if key in properties}
    return {"Type": resource["Type"], **names, "digest": digest(resource)}


def record(template: dict[str, Any]) -> dict[str, Any]:
    return {
        "Resources": {logical_id: resource_record(body) for logical_id, body in template["Resources"].items()},
        "Conditions": {name: digest(body) for name, body in template.get("Conditions", {}).items()},
        "Outputs": {name: digest(body) for name, body in template.get("Outputs", {}).items()},
    }


def written(recorded: dict[str, Any]) -> str:
    return json.dumps(recorded, indent=2, sort_keys=True) + "\n"


def test_the_template_deploys_what_was_recorded() -> None:
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))
    found = record(load_template())
    for section in ("Resources", "Conditions", "Outputs"):
        changed = sorted(
            name
            for name in found[section].keys() | recorded[section].keys()
            if found[section].get(name) != recorded[section].get(name)
        )
        assert not changed, (
            f"{section} {changed} differ from {RECORD.name}; if that is the change you meant, record it again: "
            "python -m tests.integration.local.test_template_expansion"
        )


if __name__ == "__main__":
    RECORD.write_text(written(record(load_template())), encoding="utf-8")
    print(f"recorded {RECORD}")


# --------------------------------------------------------------------------- the expansion, by example

SAM_PYTHON = Path(os.environ.get("SAM_VENV", REPO_ROOT / ".venv-sam")) / "bin" / "python"
PSEUDO_PARAMETERS = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "tf-retainer-dev"}
HEADER = "Transform: AWS::LanguageExtensions\n"

# The documentation's cases (CloudFormation's Fn::ForEach page and RFC 0009), written as template.yaml
# writes them: a loop per family of resources, one inside another, in Outputs and Conditions, in a
# resource's properties, items that are not alphanumeric (&{}), a Mappings lookup per item.
EXAMPLES = {
    "resources": """
Resources:
  Fn::ForEach::Tables:
    - TableName
    - [Points, Score]
    - DynamoDB${TableName}:
        Type: AWS::DynamoDB::Table
        Properties:
          TableName: !Ref TableName
          Tags: [{Key: table, Value: !Sub "${AWS::StackName}-${TableName}"}]
""",
    "nested, with Ref and GetAtt of a Sub": """
Resources:
  VPC: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}
  Fn::ForEach::SubnetResources:
    - Prefix
    - [Transit, Public]
    - Nacl${Prefix}Subnet:
        Type: AWS::EC2::NetworkAcl
        Properties: {VpcId: !Ref VPC}
      Fn::ForEach::LoopInner:
        - Suffix
        - [A, B]
        - ${Prefix}Subnet${Suffix}:
            Type: AWS::EC2::Subnet
            Properties: {VpcId: !Ref VPC}
          Nacl${Prefix}Subnet${Suffix}Association:
            Type: AWS::EC2::SubnetNetworkAclAssociation
            Properties:
              SubnetId: !Ref {Fn::Sub: "${Prefix}Subnet${Suffix}"}
              NetworkAclId: !GetAtt [!Sub "Nacl${Prefix}Subnet", Id]
""",
    "outputs": """
Resources:
  Fn::ForEach::Buckets:
    - Identifier
    - [A, B]
    - S3Bucket${Identifier}: {Type: AWS::S3::Bucket}
Outputs:
  Fn::ForEach::BucketOutputs:
    - Identifier
    - [A, B]
    - Fn::ForEach::GetAttLoop:
        - Property
        - [Arn, DomainName]
        - S3Bucket${Identifier}${Property}:
            Value: !GetAtt [!Sub "S3Bucket${Identifier}", !Ref Property]
""",
    "not alphanumeric, conditions": """
Parameters:
  Stage: {Type: String, Default: dev}
Conditions:
  Fn::ForEach::Stages:
    - Name
    - [dev, prod-eu]
    - Is&{Name}: !Equals [!Ref Stage, !Ref Name]
Resources:
  Group: {Type: AWS::EC2::SecurityGroup, Properties: {GroupDescription: g}}
  Fn::ForEach::Ingress:
    - Cidr
    - [10.0.0.0/16, 192.168.0.0/24]
    - From&{Cidr}:
        Type: AWS::EC2::SecurityGroupIngress
        Properties: {GroupId: !Ref Group, IpProtocol: tcp, CidrIp: !Ref Cidr, Description: !Sub "from ${Cidr}"}
""",
    "properties, a mapping per item": """
Mappings:
  Sizes:
    Timeout: {Value: 30}
    MemorySize: {Value: 512}
Resources:
  Worker:
    Type: AWS::Lambda::Function
    Properties:
      Role: arn:aws:iam::123456789012:role/worker
      Code: {ZipFile: "def handler(event, context): pass"}
      Handler: index.handler
      Runtime: python3.11
      Fn::ForEach::Sizes:
        - Setting
        - [Timeout, MemorySize]
        - ${Setting}: !FindInMap [Sizes, !Ref Setting, Value]
""",
}


def parse(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(HEADER + text, Loader=CfnLoader)  # noqa: S506 - a SafeLoader
    return loaded


def test_examples_expand_as_documented() -> None:
    tables = expand_for_each(parse(EXAMPLES["resources"]))["Resources"]
    assert tables == {
        f"DynamoDB{name}": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": name,
                "Tags": [{"Key": "table", "Value": {"Fn::Sub": f"${{AWS::StackName}}-{name}"}}],
            },
        }
        for name in ("Points", "Score")
    }
    subnets = expand_for_each(parse(EXAMPLES["nested, with Ref and GetAtt of a Sub"]))["Resources"]
    assert list(subnets) == [
        "VPC",
        "NaclTransitSubnet",
        "TransitSubnetA",
        "NaclTransitSubnetAAssociation",
        "TransitSubnetB",
        "NaclTransitSubnetBAssociation",
        "NaclPublicSubnet",
        "PublicSubnetA",
        "NaclPublicSubnetAAssociation",
        "PublicSubnetB",
        "NaclPublicSubnetBAssociation",
    ]
    assert subnets["NaclPublicSubnetBAssociation"]["Properties"] == {
        "SubnetId": {"Ref": "PublicSubnetB"},
        "NetworkAclId": {"Fn::GetAtt": ["NaclPublicSubnet", "Id"]},
    }
    outputs = expand_for_each(parse(EXAMPLES["outputs"]))["Outputs"]
    assert outputs["S3BucketBDomainName"] == {"Value": {"Fn::GetAtt": ["S3BucketB", "DomainName"]}}
    assert len(outputs) == 4
    odd = expand_for_each(parse(EXAMPLES["not alphanumeric, conditions"]))
    assert odd["Conditions"] == {
        "Isdev": {"Fn::Equals": [{"Ref": "Stage"}, "dev"]},
        "Isprodeu": {"Fn::Equals": [{"Ref": "Stage"}, "prod-eu"]},
    }
    ingress = odd["Resources"]["From1921680024"]["Properties"]
    assert (ingress["CidrIp"], ingress["Description"]) == ("192.168.0.0/24", "from 192.168.0.0/24")
    worker = expand_for_each(parse(EXAMPLES["properties, a mapping per item"]))["Resources"]["Worker"]["Properties"]
    assert worker["MemorySize"] == {"Fn::FindInMap": ["Sizes", "MemorySize", "Value"]}


def test_only_keys_subs_and_refs_take_the_item() -> None:
    """As in CloudFormation (and cfn-lint): a plain string keeps its ${Identifier}; SAM CLI's expander
    replaces it in every string, so template.yaml says !Sub wherever an item goes into a value."""
    template = parse("""
Resources:
  Fn::ForEach::Topics:
    - Name
    - [A]
    - Topic${Name}: {Type: AWS::SNS::Topic, Properties: {DisplayName: "${Name} topic"}}
""")
    (topic,) = expand_for_each(template)["Resources"].values()
    assert topic["Properties"]["DisplayName"] == "${Name} topic"
    assert cfn_lint_expansion(template) == cfn_lint_expansion(expand_for_each(template))


@pytest.mark.parametrize(
    ("loop", "complaint"),
    [
        ("[Name, [A, A], {'Topic${Name}': {Type: AWS::SNS::Topic}}]", "TopicA is defined twice"),
        ("[Name, [A, B], {Topic: {Type: AWS::SNS::Topic}}]", "Topic is defined twice"),
        ("[Stage, [A], {'Topic${Stage}': {Type: AWS::SNS::Topic}}]", "no parameter or enclosing loop"),
        ("[Name, !Ref Names, {'Topic${Name}': {Type: AWS::SNS::Topic}}]", "a list of strings"),
        ("[Name, [A]]", "expected [Identifier"),
    ],
)
def test_a_malformed_loop_is_refused(loop: str, complaint: str) -> None:
    template = parse(f"Parameters: {{Stage: {{Type: String}}}}\nResources:\n  Fn::ForEach::Topics: {loop}\n")
    with pytest.raises(ValueError, match=complaint.replace("[", r"\[")):
        expand_for_each(template)


def test_load_template_expands_and_can_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(HEADER + EXAMPLES["resources"], encoding="utf-8")
    assert set(load_template(path)["Resources"]) == {"DynamoDBPoints", "DynamoDBScore"}
    assert set(load_template(path, expanded=False)["Resources"]) == {"Fn::ForEach::Tables"}


# --------------------------------------------------------------------------- the expansion, as others expand


def cfn_lint_expansion(template: dict[str, Any]) -> Any:
    """cfn-lint's AWS::LanguageExtensions transform (which `make validate` lints the template through)."""
    problems, transformed = language_extension(_cfn_lint_template(template))
    assert not problems, problems
    # Read again: cfn-lint puts a condition's Fn::Equals arguments in its own order when it reads conditions.
    return _cfn_lint_template(transformed).template


def _cfn_lint_template(template: dict[str, Any]) -> Template:
    return Template("template.yaml", json.loads(json.dumps(template)), ["us-east-1"])


def sam_cli_expansions(templates: list[dict[str, Any]]) -> list[Any]:
    """SAM CLI's expansion of each template (`sam validate`/`sam build` with --language-extensions), run in
    aws-sam-cli's venv."""
    if not SAM_PYTHON.exists():
        pytest.skip(f"SAM CLI is not installed in {SAM_PYTHON.parent.parent} (make sam-install)")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [str(SAM_PYTHON), "-c", _SAM_EXPAND],
        input=json.dumps({"templates": templates, "parameters": PSEUDO_PARAMETERS}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"SAM CLI could not expand the templates:\n{result.stderr}"
    expanded: list[Any] = json.loads(result.stdout)
    return expanded


_SAM_EXPAND = """
import json, sys
from samcli.lib.cfn_language_extensions.sam_integration import expand_language_extensions

request = json.load(sys.stdin)
json.dump(
    [
        expand_language_extensions(template, parameter_values=request["parameters"], enabled=True).expanded_template
        for template in request["templates"]
    ],
    sys.stdout,
)
"""


def as_written_and_expanded() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    cases = [("template.yaml", load_template(expanded=False), load_template())]
    for name, text in EXAMPLES.items():
        cases.append((name, parse(text), expand_for_each(parse(text))))
    return cases


def test_loops_expand_as_cfn_lint_expands_them() -> None:
    for name, written_, expanded in as_written_and_expanded():
        assert cfn_lint_expansion(written_) == cfn_lint_expansion(expanded), name


def test_loops_expand_as_sam_cli_expands_them() -> None:
    cases = as_written_and_expanded()
    results = sam_cli_expansions([template for _, written_, expanded in cases for template in (written_, expanded)])
    for index, (name, _, _) in enumerate(cases):
        assert results[2 * index] == results[2 * index + 1], name
