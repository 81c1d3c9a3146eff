"""The one cloud-assembly reader: manifest, metadata, assets, both resolver modes, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cloud_assembly as ca
from cloud_assembly.parsers import PARSERS

POLICY_DOC = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":iot:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":client/x",
                    ],
                ]
            },
        }
    ]
}


ARN_SUB = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}"


def template() -> dict[str, Any]:
    return {
        "Resources": {
            "Policy1": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "p1", "PolicyDocument": POLICY_DOC}},
            "Unnamed": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": json.dumps({"Statement": []})}},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Statement": []}},
                "Metadata": {"aws:cdk:path": "stk/Role/Resource"},
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "handler.main",
                    "Code": {"S3Key": "abc.zip"},
                    "Environment": {"Variables": {"TABLE": {"Ref": "Table"}, "ROLE": {"Fn::GetAtt": ["Role", "Arn"]}}},
                },
            },
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"KeySchema": [], "AttributeDefinitions": []}},
            "Sub": {
                "Type": "AWS::IoT::Policy",
                "Properties": {
                    "PolicyName": "sub",
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "iot:Connect",
                                "Resource": {"Fn::Sub": f"{ARN_SUB}:client/${{!Literal}}"},
                            }
                        ]
                    },
                },
            },
            "Cdk": {"Type": "AWS::CDK::Metadata", "Properties": {}},
        },
        "Outputs": {"TableName": {"Value": {"Ref": "Table"}}, "RoleArn": {"Value": {"Fn::GetAtt": "Role.Arn"}}},
    }


def write_assembly(root: Path, *, extra_metadata_file: bool = True, bom: bool = False) -> Path:
    out = root / "cdk.out"
    out.mkdir()
    (out / "stk.template.json").write_text(json.dumps(template()))
    metadata = {"/stk/Fn/Resource": [{"type": "aws:cdk:logicalId", "data": "Fn"}]}
    artifact: dict[str, Any] = {
        "type": "aws:cloudformation:stack",
        "properties": {"templateFile": "stk.template.json"},
        "dependencies": ["stk.assets"],
    }
    if extra_metadata_file:
        (out / "stk.metadata.json").write_text(json.dumps(metadata))
        artifact["additionalMetadataFile"] = "stk.metadata.json"
    else:
        artifact["metadata"] = metadata
    (out / "stk.assets.json").write_text(
        json.dumps({"files": {"abc": {"source": {"path": "asset.abc", "packaging": "zip"}}}})
    )
    manifest = {
        "version": "55.0.0",
        "artifacts": {
            "stk.assets": {"type": "cdk:asset-manifest", "properties": {"file": "stk.assets.json"}},
            "stk": artifact,
            "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
        },
    }
    text = json.dumps(manifest)
    (out / "manifest.json").write_bytes(("\ufeff" + text).encode() if bom else text.encode())
    return out


@pytest.mark.parametrize("extra_metadata_file", [True, False], ids=["additionalMetadataFile", "inline-metadata"])
def test_paths_come_from_the_template_or_either_metadata_home(tmp_path: Path, extra_metadata_file: bool) -> None:
    (stack,) = ca.load(write_assembly(tmp_path, extra_metadata_file=extra_metadata_file))
    by_id = {r.at.logical_id: r for r in stack.records}
    assert by_id["Role"].at.path == "stk/Role/Resource"  # from the template's own Metadata
    assert by_id["Fn"].at.path == "stk/Fn/Resource"  # from the stack's metadata
    assert by_id["Table"].at.path == "Table"  # neither: the logical ID
    assert "Cdk" not in by_id, "types without a parser are not read"


def test_readable_mode_gives_placeholders(tmp_path: Path) -> None:
    (stack,) = ca.load(write_assembly(tmp_path))
    (fn,) = stack.of(ca.LambdaFunction)
    assert fn.environment == {"TABLE": "${Table}", "ROLE": "${Role.Arn}"}
    assert fn.code_asset == "asset.abc"  # found through the asset manifest by S3Key
    policies = {p.name: p for p in stack.of(ca.IotPolicy)}
    assert set(policies) == {"p1", "Unnamed", "sub"}  # an unnamed policy reads as its logical ID
    resource = policies["p1"].document["Statement"][0]["Resource"]
    assert resource == "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:client/x"
    assert stack.outputs == {"TableName": "${Table}", "RoleArn": "${Role.Arn}"}


def test_concrete_mode_gives_the_deployments_values(tmp_path: Path) -> None:
    mode = ca.Concrete(account="111122223333", region="eu-west-1")
    (stack,) = ca.load(write_assembly(tmp_path), mode)
    (fn,) = stack.of(ca.LambdaFunction)
    assert fn.environment == {"TABLE": "stk-Table", "ROLE": "arn:aws:iam::111122223333:role/stk-Role"}
    policies = {p.name: p for p in stack.of(ca.IotPolicy)}
    assert set(policies) == {"p1", "stk-Unnamed", "sub"}  # CloudFormation would generate the name
    assert policies["p1"].document["Statement"][0]["Resource"] == "arn:aws:iot:eu-west-1:111122223333:client/x"
    assert policies["sub"].document["Statement"][0]["Resource"] == (
        "arn:aws:iot:eu-west-1:111122223333:client/${Literal}"
    )
    assert stack.outputs["RoleArn"] == "arn:aws:iam::111122223333:role/stk-Role"


def test_a_template_file_reads_as_a_one_stack_assembly(tmp_path: Path) -> None:
    path = tmp_path / "one.template.json"
    path.write_text(json.dumps(template()))
    (stack,) = ca.load(path)
    assert stack.name == "one"
    assert {p.name for p in stack.of(ca.IotPolicy)} == {"p1", "Unnamed", "sub"}


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    assert len(ca.load(write_assembly(tmp_path, bom=True)).stacks) == 1


BAD_DOCUMENT = {"PolicyDocument": "{"}


def write(directory: Path, template: Any) -> Path:
    path = directory / "t.template.json"
    path.write_text(json.dumps(template))
    return path


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda d: d / "missing", "no such file or directory; run a synth first"),
        (lambda d: d, "manifest.json: no such file; run a synth first"),
        (lambda d: (d / "manifest.json").write_text("{not json") and d, "manifest.json:1: is not JSON"),
        (lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe") and d, "is not UTF-8 text"),
        (lambda d: (d / "manifest.json").write_text("[]") and d, "has no artifacts object"),
        (lambda d: write(d, {"Resources": {"X": {"Properties": {}}}}), "resource X has no Type"),
        (
            lambda d: write(d, {"Resources": {"P": {"Type": "AWS::IoT::Policy", "Properties": BAD_DOCUMENT}}}),
            "P (AWS::IoT::Policy) PolicyDocument: is not JSON",
        ),
        (lambda d: write(d, "text"), "is not a CloudFormation template"),
    ],
    ids=[
        "missing",
        "no-manifest",
        "manifest-not-json",
        "manifest-not-utf8",
        "manifest-not-object",
        "no-type",
        "policy-not-json",
        "template-not-object",
    ],
)
def test_bad_input_is_one_clear_error_naming_the_file(tmp_path: Path, setup: Any, expected: str) -> None:
    target = setup(tmp_path)
    with pytest.raises(ca.AssemblyError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        ca.load(target, ca.Concrete(account="111122223333", region="eu-west-1"))  # the double's strict reading


def test_every_parsed_type_has_one_parser() -> None:
    assert "AWS::IoT::Policy" in PARSERS
    assert len(set(PARSERS)) == len(PARSERS)
    assert all(t.startswith("AWS::") for t in PARSERS)
