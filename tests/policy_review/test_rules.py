"""Each rule: compliant and non-compliant cases (AWS's audit examples among them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy_review import inventory
from policy_review.engine import review
from policy_review.model import Inventory, LambdaPermission, Policy, Template
from policy_review.rules import RULES

A = "arn:aws:iot:eu-west-1:123456789012"
T = "${iot:Connection.Thing.ThingName}"
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
    ("IOT-TEMPLATE-NO-HOOK", Inventory(templates=[Template("t", "s", "T", "s/T", {}, False, None, ())]), True),
    ("IOT-TEMPLATE-NO-HOOK", Inventory(templates=[Template("t", "s", "T", "s/T", {}, True, "Fn", ())]), False),
    (
        "IOT-HOOK-PERMISSION-UNSCOPED",
        Inventory(permissions=[LambdaPermission("s", "L", "s/L", "fn", "iot.amazonaws.com", None, "123")]),
        True,
    ),
    (
        "IOT-HOOK-PERMISSION-UNSCOPED",
        Inventory(
            permissions=[
                LambdaPermission("s", "L", "s/L", "fn", "iot.amazonaws.com", f"{A}:provisioningtemplate/t", "123")
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
        assert (rule, False) in covered or rule == "IOT-PROVISIONING-MANAGED-POLICY", rule


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
    # the embedded policy has no thing variable to re-aim, so the witness is a connection as another device
    witnesses = [f for f in findings if f.rule == "IOT-CROSS-DEVICE"]
    assert witnesses, "a cross-device witness is reported"
    assert "client/dev-10" in witnesses[0].message or "client/dev-1" in witnesses[0].message
