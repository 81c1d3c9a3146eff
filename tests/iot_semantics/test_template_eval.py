"""Provisioning template evaluation: AWS's canonical example, our synthesized bodies, and errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iot_semantics.template_eval import TemplateError, evaluate
from tests.conftest import Synth, resources_of

CERT = "c" * 64

#: The canonical fleet provisioning template of the AWS IoT developer guide (fact sheet 2.5).
AWS_EXAMPLE: dict[str, Any] = {
    "Parameters": {
        "ThingName": {"Type": "String"},
        "SerialNumber": {"Type": "String"},
        "DeviceLocation": {"Type": "String"},
        "AWS::IoT::Certificate::Id": {"Type": "String"},
    },
    "Mappings": {"LocationTable": {"Seattle": {"LocationUrl": "https://example.aws"}}},
    "Resources": {
        "thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {
                "ThingName": {"Ref": "ThingName"},
                "AttributePayload": {"version": "v1", "serialNumber": {"Ref": "SerialNumber"}},
                "ThingTypeName": "lightBulb-versionA",
                "ThingGroups": ["v1-lightbulbs", "WA"],
            },
            "OverrideSettings": {"AttributePayload": "MERGE", "ThingTypeName": "REPLACE", "ThingGroups": "DO_NOTHING"},
        },
        "certificate": {
            "Type": "AWS::IoT::Certificate",
            "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"},
        },
        "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "DevicePolicy"}},
    },
    "DeviceConfiguration": {
        "FallbackUrl": "https://www.example.com/test-site",
        "LocationUrl": {"Fn::FindInMap": ["LocationTable", {"Ref": "DeviceLocation"}, "LocationUrl"]},
    },
}


def test_aws_canonical_example() -> None:
    plan = evaluate(
        AWS_EXAMPLE,
        {"ThingName": "bulb-1", "SerialNumber": "123", "DeviceLocation": "Seattle", "AWS::IoT::Certificate::Id": CERT},
    )
    assert plan.thing is not None
    assert plan.thing.name == "bulb-1"
    assert plan.thing.attributes == {"version": "v1", "serialNumber": "123"}
    assert plan.thing.groups == ("v1-lightbulbs", "WA")
    assert plan.thing.overrides["ThingGroups"] == "DO_NOTHING"
    assert plan.certificates[0].certificate_id == CERT
    assert plan.policies[0].name == "DevicePolicy"
    assert plan.device_configuration == {
        "FallbackUrl": "https://www.example.com/test-site",
        "LocationUrl": "https://example.aws",
    }


def test_our_synthesized_templates_evaluate(synth: Synth) -> None:
    tpl = synth.templates["fleet_provisioning"]
    bodies = {
        r["Properties"]["TemplateName"]: r["Properties"]["TemplateBody"]
        for r in resources_of(tpl, "AWS::IoT::ProvisioningTemplate").values()
    }
    sensors = evaluate(
        bodies["acme-dev-sensors"],
        {"SerialNumber": "SN00000001", "MacAddress": "AA:BB:CC:DD:EE:FF", "AWS::IoT::Certificate::Id": CERT},
    )
    assert sensors.thing is not None
    assert sensors.thing.name == "sensor-SN00000001"
    assert sensors.thing.thing_type == "acme-dev-env-sensor"
    assert sensors.thing.attributes == {"serial": "SN00000001", "mac": "AA:BB:CC:DD:EE:FF", "model": "ES-A"}
    assert sensors.device_configuration["telemetryTopic"] == "dt/sensors/sensor-SN00000001/telemetry"
    gateways = evaluate(
        bodies["acme-dev-gateways"], {"SerialNumber": "GW0000000001", "AWS::IoT::Certificate::Id": CERT}
    )
    assert gateways.thing is not None
    assert gateways.thing.name == "gw-pla01-GW0000000001"  # SiteCode from its Default


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"Fn::Join": ["-", ["a", {"Ref": "P"}]]}, "a-x.y"),
        ({"Fn::Select": [1, {"Fn::Split": [".", {"Ref": "P"}]}]}, "y"),
        ({"Fn::Sub": "pre-${P}"}, "pre-x.y"),
        ({"Fn::Sub": ["${A}/${P}", {"A": "lit"}]}, "lit/x.y"),
        ({"Fn::Sub": "${!NotAVariable}"}, "${NotAVariable}"),
    ],
)
def test_intrinsics(node: Any, expected: str) -> None:
    body = {
        "Parameters": {"P": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": node}}},
    }
    plan = evaluate(json.dumps(body), {"P": "x.y", "AWS::IoT::Certificate::Id": CERT})
    assert plan.thing is not None
    assert plan.thing.name == expected


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b["Parameters"].pop("DeviceLocation") and None, "Ref to 'DeviceLocation'"),
        (
            lambda b: b["Resources"]["thing"]["Properties"].update(ThingName={"Fn::If": ["c", "a", "b"]}),
            "Fn::If is not supported",
        ),
        (lambda b: b["Resources"]["policy"]["Properties"].update(PolicyDocument={}), "exactly one of PolicyName"),
        (lambda b: b["Resources"]["thing"].update(OverrideSettings={"ThingTypeName": "MERGE"}), "MERGE applies only"),
        (lambda b: b["DeviceConfiguration"].update(Nested={"a": "b"}), "nested values are not supported"),
        (lambda b: b["Resources"].update(x={"Type": "AWS::S3::Bucket"}), "Type must be one of"),
        (lambda b: b.update(Conditions={}), "unsupported template sections"),
    ],
)
def test_errors(mutate: Any, message: str) -> None:
    body = json.loads(json.dumps(AWS_EXAMPLE))
    mutate(body)
    params = {"ThingName": "t", "SerialNumber": "1", "DeviceLocation": "Seattle", "AWS::IoT::Certificate::Id": CERT}
    with pytest.raises(TemplateError, match=message):
        evaluate(body, params)


def test_missing_parameter_without_default() -> None:
    with pytest.raises(TemplateError, match="ThingName has no value and no Default"):
        evaluate(AWS_EXAMPLE, {"SerialNumber": "1", "DeviceLocation": "Seattle", "AWS::IoT::Certificate::Id": CERT})


def test_select_out_of_range() -> None:
    body = {
        "Parameters": {"AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Fn::Select": [5, ["a"]]}}}},
    }
    with pytest.raises(TemplateError, match="out of range"):
        evaluate(body, {"AWS::IoT::Certificate::Id": CERT})
