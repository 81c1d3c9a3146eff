"""Parsers of the resource types that carry policies, read leniently for review and strictly for the double."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cloud_assembly as ca

DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
TRUST = {
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
}


def load(tmp: Path, resources: dict[str, Any], mode: ca.resolve.Mode = ca.READABLE, **extra: Any) -> ca.Stack:
    path = tmp / "stk.template.json"
    path.write_text(json.dumps({"Resources": resources, **extra}))
    (stack,) = ca.load(path, mode)
    return stack


def test_identities_and_every_policy_resource(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "named",
                    "AssumeRolePolicyDocument": json.dumps(TRUST),
                    "ManagedPolicyArns": [{"Ref": "Managed"}, "arn:aws:iam::aws:policy/ReadOnlyAccess"],
                },
            },
            "User": {
                "Type": "AWS::IAM::User",
                "Properties": {"Policies": [{"PolicyName": "u", "PolicyDocument": DOC}]},
            },
            "Managed": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": DOC}},
            "RolePolicy": {
                "Type": "AWS::IAM::RolePolicy",
                "Properties": {"RoleName": {"Ref": "Role"}, "PolicyName": "rp", "PolicyDocument": json.dumps(DOC)},
            },
            "ByName": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"PolicyName": "bn", "Roles": ["named"], "PolicyDocument": DOC},
            },
        },
    )
    roles = {r.logical_id: r for r in stack.of(ca.IamRole)}
    assert roles["Role"].trust == TRUST, "a JSON-string trust policy is parsed"
    assert roles["Role"].managed_policy_refs == ("Managed",)
    assert roles["User"].kind == "user"
    assert roles["User"].inline[0].document == DOC
    policies = {p.logical_id: p for p in stack.of(ca.IamPolicy)}
    assert policies["RolePolicy"].roles == ("Role",)
    assert policies["RolePolicy"].document == DOC
    assert policies["ByName"].role_names == ("named",)
    assert policies["Managed"].managed


def test_resource_policies(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": DOC}},
            "Topic": {"Type": "AWS::SNS::TopicPolicy", "Properties": {"Topics": [{"Ref": "T"}], "PolicyDocument": DOC}},
            "Queue": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {"Queues": ["q"], "PolicyDocument": json.dumps(DOC)},
            },
        },
    )
    by = {p.logical_id: p for p in stack.of(ca.ResourcePolicy)}
    assert (by["Key"].service, by["Topic"].targets, by["Queue"].document) == ("kms", ("${T}",), DOC)


def test_a_template_body_built_by_an_intrinsic_is_parsed(tmp_path: Path) -> None:
    body = json.dumps(
        {
            "Resources": {
                "p": {
                    "Type": "AWS::IoT::Policy",
                    "Properties": {
                        "PolicyDocument": {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "iot:Connect",
                                    "Resource": "arn:aws:iot:REGION:1:client/x",
                                }
                            ]
                        }
                    },
                }
            }
        }
    )
    head, tail = body.split("REGION")
    stack = load(
        tmp_path,
        {
            "T": {
                "Type": "AWS::IoT::ProvisioningTemplate",
                "Properties": {
                    "TemplateName": "t",
                    "TemplateBody": {"Fn::Join": ["", [head, {"Ref": "AWS::Region"}, tail]]},
                },
            }
        },
    )
    (template,) = stack.of(ca.ProvisioningTemplate)
    assert template.body_error is None
    (embedded,) = template.policies
    assert embedded.document is not None
    assert embedded.document["Statement"][0]["Resource"] == "arn:aws:iot:${AWS::Region}:1:client/x"


def test_every_variant_is_read_and_conditioned_resources_come_and_go(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        {
            "P": {
                "Type": "AWS::IoT::Policy",
                "Properties": {"PolicyName": {"Fn::If": ["Dev", "dev", "prod"]}, "PolicyDocument": DOC},
            },
            "Extra": {"Type": "AWS::IoT::Policy", "Condition": "Dev", "Properties": {"PolicyDocument": DOC}},
        },
        Parameters={"Stage": {"Type": "String", "Default": "prod", "AllowedValues": ["prod", "dev"]}},
        Conditions={"Dev": {"Fn::Equals": [{"Ref": "Stage"}, "dev"]}},
    )
    names = {v.label: sorted(p.name for p in v.of(ca.IotPolicy)) for v in stack.variants}
    assert names == {"Dev=false": ["prod"], "Dev=true": ["Extra", "dev"]}
    assert [p.name for p in stack.of(ca.IotPolicy)] == ["prod"], "records are the first variant's"


def test_lenient_reading_records_a_bad_document_strict_reading_refuses_it(tmp_path: Path) -> None:
    resources = {
        "P": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "p", "PolicyDocument": "{"}},
        "R": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": ["not", "an object"]}},
    }
    stack = load(tmp_path, resources)
    (policy,) = stack.of(ca.IotPolicy)
    assert policy.document == {}
    assert "is not JSON" in policy.problems[0]
    (role,) = stack.of(ca.IamRole)
    assert "must be a policy document" in role.trust_problems[0]
    with pytest.raises(ca.AssemblyError, match="PolicyDocument: is not JSON"):
        load(tmp_path, resources, ca.Concrete(account="1", region="r"))


@pytest.mark.parametrize(
    "properties",
    [
        {"Timeout": "soon", "Code": "inline", "Environment": ["x"]},
        {"Timeout": {"Ref": "Free"}, "Handler": 3},
    ],
)
def test_odd_property_shapes_do_not_break_the_reader(tmp_path: Path, properties: dict[str, Any]) -> None:
    stack = load(
        tmp_path,
        {
            "F": {"Type": "AWS::Lambda::Function", "Properties": properties},
            "T": {"Type": "AWS::DynamoDB::Table", "Properties": {"KeySchema": "hash"}},
            "A": {"Type": "AWS::IoT::RoleAlias", "Properties": {"CredentialDurationSeconds": True}},
        },
    )
    (function,) = stack.of(ca.LambdaFunction)
    assert function.timeout_seconds == 3
    (table,) = stack.of(ca.Table)
    assert table.key_schema == []
