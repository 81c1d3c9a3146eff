"""Each rule: compliant and non-compliant cases (AWS's audit examples among them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloud_assembly import Location
from policy_review import inventory
from policy_review.engine import review
from policy_review.model import Inventory, LambdaPermission, Policy, RoleAlias, Template
from policy_review.rules import RULES

A = "arn:aws:iot:eu-west-1:123456789012"
T = "${iot:Connection.Thing.ThingName}"


def at(logical_id: str, type_: str) -> Location:
    return Location("s", logical_id, f"s/{logical_id}", type_)


RULE = {r.id: r for r in RULES}


def iot(*statements: dict[str, Any], role: str = "device") -> Inventory:
    return Inventory(
        policies=[
            Policy(
                "iot",
                "p",
                "s",
                "P",
                "s/P",
                {"Version": "2012-10-17", "Statement": list(statements)},
                "AWS::IoT::Policy",
                role,
            )
        ]
    )


def iam(*statements: dict[str, Any], kind: str = "iam") -> Inventory:
    return Inventory(policies=[Policy(kind, "p", "s", "P", "s/P", {"Statement": list(statements)}, "AWS::IAM::Role")])  # type: ignore[arg-type]


def allow(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def alias_to(*statements: dict[str, Any], duration: int | None = None) -> Inventory:
    role = Policy(
        "iam", "inline", "s", "Role", "s/Role", {"Statement": list(statements)}, "AWS::IAM::Role", roles=("Role",)
    )
    return Inventory(
        policies=[role],
        role_aliases=[RoleAlias(at("Alias", "AWS::IoT::RoleAlias"), "fw", "Role", "arn:aws:iam::1:role/r", duration)],
    )


ATTACHED = {"Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}}

CASES: list[tuple[str, Inventory, bool]] = [
    # AWS audit examples (IOT_POLICY_OVERLY_PERMISSIVE_CHECK)
    ("IOT-OVERLY-PERMISSIVE", iot(allow("iot:Connect", f"{A}:client/*")), True),
    ("IOT-OVERLY-PERMISSIVE", iot(allow("iot:Publish", f"{A}:topic/$aws/things/*/shadow/update")), True),
    ("IOT-OVERLY-PERMISSIVE", iot(allow("iot:Subscribe", f"{A}:topicfilter/$aws/things/*")), True),
    ("IOT-OVERLY-PERMISSIVE", iot(allow("iot:*", "*")), True),
    ("IOT-OVERLY-PERMISSIVE", iot(allow("iot:Publish", f"{A}:topic/$aws/things/{T}/shadow/*")), False),
    ("IOT-OVERLY-PERMISSIVE", iot(allow("iot:Receive", f"{A}:topic/$aws/things/*")), False),  # compliant per AWS
    ("IOT-OVERLY-PERMISSIVE", iot(allow("iot:Connect", f"{A}:client/claim.fleet.*"), role="claim"), False),
    ("IOT-CONNECT-UNBOUND", iot(allow("iot:Connect", f"{A}:client/${{iot:ClientId}}")), True),
    ("IOT-CONNECT-UNBOUND", iot(allow("iot:Connect", f"{A}:client/{T}")), True),  # no IsAttached
    ("IOT-CONNECT-UNBOUND", iot(allow("iot:Connect", f"{A}:client/{T}", **ATTACHED)), False),
    ("IOT-CLIENTID-IN-FILTER", iot(allow("iot:Subscribe", f"{A}:topicfilter/my/${{iot:ClientId}}/topic")), True),
    ("IOT-CLIENTID-IN-FILTER", iot(allow("iot:Subscribe", f"{A}:topicfilter/my/{T}/topic")), False),
    ("IOT-UNKNOWN-VARIABLE", iot(allow("iot:Publish", f"{A}:topic/dt/${{iot:ThingName}}/x")), True),
    ("IOT-UNKNOWN-VARIABLE", iot(allow("iot:Publish", f"{A}:topic/dt/{T}/x")), False),
    ("IOT-RESOURCE-TYPE", iot(allow("iot:Subscribe", f"{A}:topic/dt/{T}/x")), True),
    ("IOT-RESOURCE-TYPE", iot(allow("iot:Publish", f"{A}:topicfilter/dt/{T}/x")), True),
    ("IOT-RESOURCE-TYPE", iot(allow("iot:Subscribe", f"{A}:topicfilter/dt/{T}/x")), False),
    ("IOT-POLICY-SIZE", iot(allow("iot:Publish", [f"{A}:topic/dt/{T}/{i:04d}" for i in range(40)])), True),
    ("IOT-POLICY-SIZE", iot(allow("iot:Publish", f"{A}:topic/dt/{T}/x")), False),
    # AWS audit examples (IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK)
    (
        "IOT-INEFFECTIVE-DENY",
        iot(
            allow("iot:Subscribe", f"{A}:topicfilter/building/*"),
            {"Effect": "Deny", "Action": "iot:Subscribe", "Resource": f"{A}:topicfilter/building/control_room/#"},
            allow("iot:Receive", f"{A}:topic/building/*"),
        ),
        True,
    ),
    (
        "IOT-INEFFECTIVE-DENY",
        iot(
            allow("iot:Subscribe", f"{A}:topicfilter/building/*"),
            {"Effect": "Deny", "Action": "iot:Subscribe", "Resource": f"{A}:topicfilter/building/control_room/*"},
            allow("iot:Receive", f"{A}:topic/building/*"),
        ),
        True,
    ),
    (
        "IOT-INEFFECTIVE-DENY",
        iot(
            {
                "Effect": "Deny",
                "Action": ["iot:Subscribe", "iot:Receive"],
                "Resource": [f"{A}:topicfilter/building/control_room/*", f"{A}:topic/building/control_room/*"],
            },
        ),
        False,
    ),
    # Subscribe without Receive: the subscription is silently empty
    ("IOT-SUBSCRIBE-RECEIVE-MISMATCH", iot(allow("iot:Subscribe", f"{A}:topicfilter/cmd/{T}/#")), True),
    (
        "IOT-SUBSCRIBE-RECEIVE-MISMATCH",
        iot(allow("iot:Subscribe", f"{A}:topicfilter/cmd/{T}/#"), allow("iot:Receive", f"{A}:topic/other/{T}/*")),
        True,
    ),
    (
        "IOT-SUBSCRIBE-RECEIVE-MISMATCH",
        iot(allow("iot:Subscribe", f"{A}:topicfilter/cmd/{T}/#"), allow("iot:Receive", f"{A}:topic/cmd/{T}/*")),
        False,
    ),
    # claim policy: only the certificate API and its own template's topics
    (
        "IOT-CLAIM-BROADER-THAN-TEMPLATE",
        Inventory(
            policies=iot(
                allow("iot:Publish", f"{A}:topic/$aws/provisioning-templates/*/provision/json"), role="claim"
            ).policies,
            templates=[Template("sensors", "s", "T", "s/T", {}, True, "Fn", ())],
        ),
        True,
    ),
    (
        "IOT-CLAIM-BROADER-THAN-TEMPLATE",
        Inventory(
            policies=iot(allow("iot:Publish", f"{A}:topic/$aws/*"), role="claim").policies,
            templates=[Template("sensors", "s", "T", "s/T", {}, True, "Fn", ())],
        ),
        True,
    ),
    (
        "IOT-CLAIM-BROADER-THAN-TEMPLATE",
        Inventory(
            policies=iot(
                allow(
                    ["iot:Publish", "iot:Receive"],
                    [
                        f"{A}:topic/$aws/certificates/create-from-csr/json*",
                        f"{A}:topic/$aws/provisioning-templates/sensors/provision/json*",
                    ],
                ),
                allow("iot:UpdateThingShadow", f"{A}:thing/x"),
                role="claim",
            ).policies,
            templates=[Template("sensors", "s", "T", "s/T", {}, True, "Fn", ())],
        ),
        True,  # the shadow action is beyond provisioning
    ),
    (
        "IOT-CLAIM-BROADER-THAN-TEMPLATE",
        Inventory(
            policies=iot(
                allow("iot:Connect", f"{A}:client/claim-*"),
                allow(
                    ["iot:Publish", "iot:Receive"],
                    [
                        f"{A}:topic/$aws/certificates/create-from-csr/json*",
                        f"{A}:topic/$aws/provisioning-templates/sensors/provision/json*",
                    ],
                ),
                allow("iot:Subscribe", f"{A}:topicfilter/$aws/provisioning-templates/sensors/provision/json/*"),
                role="claim",
            ).policies,
            templates=[Template("sensors", "s", "T", "s/T", {}, True, "Fn", ())],
        ),
        False,
    ),
    # role alias followed to its role
    ("IOT-ROLE-ALIAS-BROAD", alias_to(allow("s3:*", "arn:aws:s3:::fw/*")), True),
    ("IOT-ROLE-ALIAS-BROAD", alias_to(allow("s3:PutObject", "*")), True),
    ("IOT-ROLE-ALIAS-BROAD", alias_to(allow("iam:ListRoles", "*")), True),
    ("IOT-ROLE-ALIAS-BROAD", alias_to(allow("s3:GetObject", "arn:aws:s3:::fw/*"), duration=43200), True),
    ("IOT-ROLE-ALIAS-BROAD", alias_to(allow("s3:GetObject", "arn:aws:s3:::fw/${credentials-iot:ThingName}/*")), False),
    ("IOT-ROLE-ALIAS-BROAD", alias_to(allow("logs:DescribeLogStreams", "*")), False),
    ("IAM-PRIVILEGE-ESCALATION", iam(allow("iam:PutRolePolicy", "arn:aws:iam::123456789012:role/*")), True),
    ("IAM-PRIVILEGE-ESCALATION", iam(allow(["lambda:UpdateFunctionCode", "s3:GetObject"], "*")), True),
    ("IAM-PRIVILEGE-ESCALATION", iam(allow("iam:Create*", "*")), True),
    ("IAM-PRIVILEGE-ESCALATION", iam(allow("iam:PutRolePolicy", "arn:aws:iam::123456789012:role/device-x")), False),
    ("IAM-PRIVILEGE-ESCALATION", iam(allow("iam:GetRole", "*")), False),
    ("IOT-GREENGRASS-STAR", iam(allow("greengrass:*", "*")), True),
    ("IOT-GREENGRASS-STAR", iam(allow("greengrass:ResolveComponentCandidates", "*")), False),
    ("IAM-ADMIN", iam(allow("*", "*")), True),
    ("IAM-ADMIN", iam(allow("s3:GetObject", "*")), False),
    ("IAM-SERVICE-STAR", iam(allow("iot:*", "arn:aws:iot:::thing/x")), True),
    ("IAM-SERVICE-STAR", iam(allow("iot:DescribeThing", "arn:aws:iot:::thing/x")), False),
    ("IAM-PASSROLE-STAR", iam(allow("iam:PassRole", "*")), True),
    ("IAM-PASSROLE-STAR", iam(allow("iam:PassRole", "arn:aws:iam::123456789012:role/x")), False),
    ("IAM-NOTACTION-ALLOW", iam({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), True),
    ("IAM-NOTACTION-ALLOW", iam({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}), False),
    (
        "IAM-TRUST-STAR",
        iam({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}, kind="trust"),
        True,
    ),
    (
        "IAM-TRUST-STAR",
        iam(
            {"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole"}, kind="trust"
        ),
        False,
    ),
    (
        "IOT-PROVISIONING-MANAGED-POLICY",
        Inventory(
            policies=[
                Policy(
                    "iam",
                    "arn:aws:iam::aws:policy/service-role/AWSIoTThingsRegistration",
                    "s",
                    "R",
                    "s/R",
                    {"Statement": []},
                    "managed",
                )
            ]
        ),
        True,
    ),
    (
        "IOT-PROVISIONING-MANAGED-POLICY",
        iam(allow(["iot:CreateThing", "iot:AttachPolicy"], "arn:aws:iot:eu-west-1:123456789012:thing/sensor-*")),
        False,
    ),
    ("IOT-TEMPLATE-NO-HOOK", Inventory(templates=[Template("t", "s", "T", "s/T", {}, False, None, ())]), True),
    ("IOT-TEMPLATE-NO-HOOK", Inventory(templates=[Template("t", "s", "T", "s/T", {}, True, "Fn", ())]), False),
    (
        "IOT-HOOK-PERMISSION-UNSCOPED",
        Inventory(
            permissions=[LambdaPermission(at("L", "AWS::Lambda::Permission"), "fn", "iot.amazonaws.com", None, "123")]
        ),
        True,
    ),
    (
        "IOT-HOOK-PERMISSION-UNSCOPED",
        Inventory(
            permissions=[
                LambdaPermission(
                    at("L", "AWS::Lambda::Permission"), "fn", "iot.amazonaws.com", f"{A}:provisioningtemplate/t", "123"
                )
            ]
        ),
        False,
    ),
]


@pytest.mark.parametrize(
    ("rule", "inv", "flagged"), CASES, ids=[f"{c[0]}-{'non' if c[2] else ''}compliant-{i}" for i, c in enumerate(CASES)]
)
def test_rule(rule: str, inv: Inventory, flagged: bool) -> None:
    found = list(RULE[rule].check(inv))
    assert bool(found) is flagged, found


def test_every_rule_has_both_kinds_of_cases() -> None:
    covered = {(rule, flagged) for rule, _, flagged in CASES}
    for rule in RULE:
        assert (rule, True) in covered, rule
        assert (rule, False) in covered, rule


def test_broad_device_policy_inside_a_template_body_fails_with_a_cross_device_witness(tmp_path: Path) -> None:
    body = {
        "Parameters": {"SerialNumber": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "SerialNumber"}}},
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"},
            },
            "policy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {
                    "PolicyDocument": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
                                {
                                    "Effect": "Allow",
                                    "Action": ["iot:Publish", "iot:Receive"],
                                    "Resource": f"{A}:topic/vehicle/*",
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": "iot:Subscribe",
                                    "Resource": f"{A}:topicfilter/vehicle/*",
                                },
                            ],
                        }
                    )
                },
            },
        },
    }
    template = {
        "Resources": {
            "VehicleTemplate": {
                "Type": "AWS::IoT::ProvisioningTemplate",
                "Properties": {
                    "TemplateName": "vehicles",
                    "TemplateBody": json.dumps(body),
                    "ProvisioningRoleArn": "arn:aws:iam::1:role/r",
                },
            }
        }
    }
    path = tmp_path / "bad.template.json"
    path.write_text(json.dumps(template))
    findings = review(inventory.load(path))
    rules = {f.rule for f in findings}
    assert "IOT-OVERLY-PERMISSIVE" in rules
    assert "IOT-TEMPLATE-NO-HOOK" in rules
    assert all(f.resource == "VehicleTemplate" for f in findings)
    # the shared namespace vehicle/* is aimed at the other device's name: concrete topic witnesses
    witnesses = " | ".join(f.message for f in findings if f.rule == "IOT-CROSS-DEVICE")
    assert "device dev-1 may iot:Connect arn:aws:iot:eu-west-1:123456789012:client/dev-10" in witnesses
    assert "device dev-1 may iot:Publish arn:aws:iot:eu-west-1:123456789012:topic/vehicle/dev-10" in witnesses
    assert "device dev-10 may iot:Subscribe arn:aws:iot:eu-west-1:123456789012:topicfilter/vehicle/dev-1" in witnesses


def test_role_alias_is_followed_to_the_policies_attached_to_its_role(tmp_path: Path) -> None:
    template = {
        "Resources": {
            "FwRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "credentials.iot.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ]
                    }
                },
            },
            "FwRolePolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "fw",
                    "Roles": [{"Ref": "FwRole"}],
                    "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]},
                },
            },
            "FwAlias": {
                "Type": "AWS::IoT::RoleAlias",
                "Properties": {"RoleAlias": "firmware", "RoleArn": {"Fn::GetAtt": ["FwRole", "Arn"]}},
            },
        }
    }
    path = tmp_path / "alias.template.json"
    path.write_text(json.dumps(template))
    findings = [f for f in review(inventory.load(path)) if f.rule == "IOT-ROLE-ALIAS-BROAD"]
    assert [f.resource for f in findings] == ["FwAlias"]
    assert "FwRole" in findings[0].message
    assert "s3:*" in findings[0].message
