"""--can: the evaluator's answer for every spelling of a resource, which statement decided, usage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy_review import inventory, query, reports
from policy_review.cli import main
from policy_review.model import Inventory
from tests.conftest import Synth

A = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}"
T = "${iot:Connection.Thing.ThingName}"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Own",
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": f"{A}:client/{T}",
            "Condition": {
                "Bool": {"iot:Connection.Thing.IsAttached": "true"},
                "StringEquals": {"iot:Connection.Thing.ThingTypeName": "sensor"},
            },
        },
        {"Sid": "Pub", "Effect": "Allow", "Action": "iot:Publish", "Resource": f"{A}:topic/dt/{T}/*"},
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "iot:Publish", "Resource": f"{A}:topic/dt/{T}/secret"},
    ],
}


@pytest.fixture
def target(tmp_path: Path) -> Path:
    body = {
        "Parameters": {"Serial": {"Type": "String"}},
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {"ThingName": {"Ref": "Serial"}, "ThingTypeName": "sensor"},
            },
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "dev"}},
        },
    }
    template = {
        "Resources": {
            "Dev": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "dev", "PolicyDocument": POLICY}},
            "T": {
                "Type": "AWS::IoT::ProvisioningTemplate",
                "Properties": {"TemplateName": "t", "TemplateBody": json.dumps(body)},
            },
        }
    }
    path = tmp_path / "stk.template.json"
    path.write_text(json.dumps(template))
    return path


@pytest.fixture
def inv(target: Path) -> Inventory:
    return inventory.load(target)


@pytest.mark.parametrize(
    "resource",
    [
        "client/s-1",
        "arn:aws:iot:us-east-1:123456789012:client/s-1",
        "arn:aws-cn:iot:cn-north-1:123456789012:client/s-1",
    ],
)
def test_connect_is_allowed_for_the_devices_type_in_every_spelling(inv: Inventory, resource: str) -> None:
    (answer,) = query.can(inv, "s-1", "iot:Connect", resource)
    assert answer.decision.allowed
    assert answer.deciding == ("statement Own (#0) of policy dev",)
    assert answer.line().startswith("dev (template t): Allow")


def test_a_deny_decides_and_is_named(inv: Inventory) -> None:
    (answer,) = query.can(inv, "s-1", "iot:Publish", "topic/dt/s-1/secret")
    assert answer.decision.effect.value == "Deny"
    assert "NoSecrets" in answer.line()
    (other,) = query.can(inv, "s-1", "IOT:publish", "topic/dt/s-2/x")
    assert other.line().endswith("ImplicitDeny (no statement allows it)")


@pytest.mark.parametrize(
    ("thing", "action", "resource", "problem"),
    [
        ("s-1", "iot:Publsh", "topic/x", "not an AWS IoT data-plane action"),
        ("s-1", "iot:Publish", "topicfilter/x", "evaluated against topic/ resources"),
        ("s-1", "iot:Publish", "topic/a/+", "MQTT wildcard"),
        ("s-1", "iot:Subscribe", "topicfilter/a/#/b", "not a valid MQTT topic filter"),
        ("s-1", "iot:Publish", "nope/x", "not a resource of AWS IoT"),
        ("s-1", "iot:Publish", "arn:aws:s3:::bucket/x", "not an AWS IoT ARN"),
        ("s-1", "iot:ListRetainedMessages", "topic/x", r"takes the resource \* only"),
        ("bad thing", "iot:Connect", "client/x", "not a thing name"),
        ("s-1", "iot:Publish", "topic/", "not a resource of AWS IoT"),
    ],
)
def test_questions_that_cannot_be_asked_are_usage_errors(
    inv: Inventory, thing: str, action: str, resource: str, problem: str
) -> None:
    with pytest.raises(query.QueryError, match=problem):
        query.can(inv, thing, action, resource)


def test_exit_statuses(target: Path, capsys: Any) -> None:
    assert main([str(target), "--can", "s-1", "iot:Publish", "topic/dt/s-1/x"]) == 0
    assert "Allow" in capsys.readouterr().out
    assert main([str(target), "--can", "s-1", "iot:Publish", "topic/dt/s-2/x"]) == 1
    assert main([str(target), "--can", "s-1", "iot:Publsh", "topic/x"]) == 2
    assert "not an AWS IoT data-plane action" in capsys.readouterr().err
    assert main([str(target), "--can", "s-1", "iot:Connect", "client/s-1", "--policy", "nothing"]) == 2


def test_the_html_sample_device_agrees_with_can(synth: Synth) -> None:
    inv = inventory.load(synth.outdir)
    checked = 0
    for holder in query.holders_for(inv):
        for probe in reports.sample_probes(holder):
            answers = query.can(inv, probe.device, probe.action, probe.resource, policy=holder.policies[0].name)
            assert [a.decision.effect for a in answers] == [probe.answer.decision.effect], probe
            checked += 1
    assert checked > 10
