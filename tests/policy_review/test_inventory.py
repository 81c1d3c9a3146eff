"""The review's inventory: every subject of a template, as the rules see it (no synth)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloud_assembly import AssemblyError
from policy_review import inventory
from policy_review.model import Inventory

A = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}"
REF_ARN = {
    "Fn::Join": [
        "",
        ["arn:", {"Ref": "AWS::Partition"}, ":iot:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}],
    ]
}


def statement(effect: str, action: str, resource: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource}


TRUST = {"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole"}
READ = statement("Allow", "s3:GetObject", "*")
READ_ONLY = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/ReadOnlyAccess"]]}


def template() -> dict[str, Any]:
    body = {
        "Parameters": {"SerialNumber": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "SerialNumber"}}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "dev"}},
            "inline": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": json.dumps({"Statement": []})}},
        },
    }
    register = {"Fn::Join": ["", [REF_ARN, ":topic/$aws/provisioning-templates/t/provision/json"]]}
    return {
        "Resources": {
            "DevPolicy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {
                    "PolicyName": "dev",
                    "PolicyDocument": {"Statement": [statement("Allow", "iot:Connect", "*")]},
                },
            },
            "ClaimPolicy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {
                    "PolicyName": "claim",
                    "PolicyDocument": {"Statement": [statement("Allow", "iot:Publish", register)]},
                },
            },
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Statement": [TRUST]},
                    "Policies": [{"PolicyName": "inline", "PolicyDocument": {"Statement": [READ]}}],
                    "ManagedPolicyArns": [READ_ONLY],
                },
                "Metadata": {"aws:cdk:path": "/stk/Role/Resource"},
            },
            "RolePolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "RolePolicy1",
                    "Roles": [{"Ref": "Role"}, "external-role"],
                    "PolicyDocument": {"Statement": [statement("Allow", "iot:DescribeThing", "*")]},
                },
            },
            "Alias": {
                "Type": "AWS::IoT::RoleAlias",
                "Properties": {
                    "RoleAlias": "fw",
                    "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                    "CredentialDurationSeconds": "7200",
                },
            },
            "Hook": {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "h.main", "Code": {"ZipFile": "x"}}},
            "Scoped": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Fn::GetAtt": ["Hook", "Arn"]},
                    "Principal": "iot.amazonaws.com",
                    "SourceArn": {"Fn::Join": ["", [REF_ARN, ":provisioningtemplate/t"]]},
                    "SourceAccount": {"Ref": "AWS::AccountId"},
                },
            },
            "Open": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {"FunctionName": {"Ref": "Hook"}, "Principal": "iot.amazonaws.com"},
            },
            "Template": {
                "Type": "AWS::IoT::ProvisioningTemplate",
                "Properties": {
                    "TemplateName": "t",
                    "TemplateBody": json.dumps(body),
                    "PreProvisioningHook": {
                        "TargetArn": {"Fn::GetAtt": ["Hook", "Arn"]},
                        "PayloadVersion": "2020-04-01",
                    },
                },
            },
            "Broken": {
                "Type": "AWS::IoT::ProvisioningTemplate",
                "Properties": {"TemplateName": "broken", "TemplateBody": "{not json"},
            },
        }
    }


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    path = tmp_path / "stk.template.json"
    path.write_text(json.dumps(template()))
    return inventory.load(path)


def test_iot_policies_with_roles_and_readable_resources(inv: Inventory) -> None:
    iot = {p.name: p for p in inv.policies if p.kind == "iot"}
    assert set(iot) == {"dev", "claim", "t/inline"}
    assert iot["dev"].role == "device"  # the template attaches it by name
    assert iot["claim"].role == "claim"  # it may publish to a RegisterThing topic
    assert iot["t/inline"].role == "device"  # embedded in the template body
    assert iot["t/inline"].source == "template-body"
    assert iot["t/inline"].logical_id == "Template"
    resource = iot["claim"].document["Statement"][0]["Resource"]
    assert resource == f"{A}:topic/$aws/provisioning-templates/t/provision/json"


def test_roles_and_their_policies(inv: Inventory) -> None:
    trust = next(p for p in inv.policies if p.kind == "trust")
    assert (trust.name, trust.path) == ("Role trust", "stk/Role/Resource")
    held = inv.role_policies("stk", "Role")
    assert {p.name for p in held} == {"inline", "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess", "RolePolicy1"}
    managed = next(p for p in held if p.source == "managed")
    assert managed.document == {"Statement": [], "ManagedPolicyArn": managed.name}
    attached = next(p for p in held if p.source == "AWS::IAM::Policy")
    assert attached.roles == ("Role",), "a role named by a string is not one of this stack's roles"
    role = inv.identity("stk", "Role")
    assert role is not None
    assert (role.kind, role.trust["Statement"]) == ("role", [TRUST])


def test_role_alias_permissions_and_templates(inv: Inventory) -> None:
    (alias,) = inv.role_aliases
    assert (alias.name, alias.role_logical_id, alias.role_arn, alias.credential_duration) == (
        "fw",
        "Role",
        "${Role.Arn}",
        7200,
    )
    permissions = {p.logical_id: p for p in inv.permissions}
    assert permissions["Scoped"].source_arn == f"{A}:provisioningtemplate/t"
    assert permissions["Scoped"].function == "${Hook.Arn}"
    assert permissions["Open"].source_arn is None
    assert permissions["Open"].function == "${Hook}"
    assert all(inv.is_hook(p) for p in inv.permissions), "both let something invoke the template's hook"
    templates = {t.name: t for t in inv.templates}
    assert templates["t"].has_hook
    assert templates["t"].hook_function == "Hook"
    assert templates["t"].policy_names == ("dev", "t/inline")
    assert templates["broken"].body == {}, "a body that does not parse reads as empty (the rules still see it)"
    assert templates["broken"].body_error is not None
    assert "not JSON" in templates["broken"].body_error
    assert not templates["broken"].has_hook


def test_holders_template_and_standalone(inv: Inventory) -> None:
    holders = {(h.kind, h.name): h for h in inv.holders}
    assert {p.name for p in holders["template", "t"].policies} == {"dev", "t/inline"}
    assert holders["template", "broken"].policies == ()
    assert [p.name for p in holders["standalone", "claim"].policies] == ["claim"]
    assert ("standalone", "dev") not in holders, "a policy a template names is simulated with the template"


def test_a_directory_that_is_not_a_cloud_assembly_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match=r"manifest\.json: no such file; run a synth first"):
        inventory.load(tmp_path)
