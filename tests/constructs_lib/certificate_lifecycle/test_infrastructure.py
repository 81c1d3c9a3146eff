"""The certificate lifecycle watch as synthesized: read-only on AWS IoT, one alarm per fleet."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Synth, resources_of


def _statements(tpl: dict[str, Any], logical_prefix: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for logical, policy in resources_of(tpl, "AWS::IAM::Policy").items():
        if logical.startswith(logical_prefix):
            out += policy["Properties"]["PolicyDocument"]["Statement"]
    return out


def test_the_watch_changes_nothing_of_aws_iot(synth: Synth) -> None:
    statements = _statements(synth.templates["device_defender"], "CertificateLifecycle")
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    iot = {a for a in actions if a.startswith("iot:")}
    assert iot == {"iot:ListAuditFindings"}
    assert "dynamodb:Query" in actions
    assert not {a for a in actions if a.startswith("dynamodb:") and a != "dynamodb:Query"}
    for statement in statements:
        if statement["Resource"] == "*":
            # No resource-level permissions: a read, or metrics pinned to the namespace.
            assert statement["Action"] == "iot:ListAuditFindings" or statement["Condition"] == {
                "StringEquals": {"cloudwatch:namespace": "IotFleet/Identity"}
            }


def test_the_allowlist_reaches_the_defender_stack_without_an_export(synth: Synth) -> None:
    defender = synth.templates["device_defender"]
    assert "Fn::ImportValue" not in json.dumps(defender)
    defaults = {p.get("Default") for p in defender.get("Parameters", {}).values()}
    assert {"/acme/dev/allowlist/table-name", "/acme/dev/allowlist/key-arn"} <= defaults
    params = resources_of(synth.templates["fleet_provisioning"], "AWS::SSM::Parameter")
    names = {p["Properties"]["Name"] for p in params.values()}
    assert {"/acme/dev/allowlist/table-name", "/acme/dev/allowlist/key-arn"} <= names


def test_one_stalled_rotation_alarm_per_fleet_to_the_alert_topic(synth: Synth) -> None:
    alarms = [
        a["Properties"]
        for a in resources_of(synth.templates["device_defender"], "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "StalledRotations"
    ]
    fleets = {next(d["Value"] for d in a["Dimensions"] if d["Name"] == "Fleet") for a in alarms}
    assert fleets == {f.name for f in synth.config.fleets}
    for alarm in alarms:
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert len(alarm["AlarmActions"]) == 1


def test_the_watch_runs_on_a_schedule(synth: Synth) -> None:
    rules = resources_of(synth.templates["device_defender"], "AWS::Events::Rule")
    schedules = [r["Properties"].get("ScheduleExpression") for r in rules.values()]
    assert "rate(1 hour)" in schedules
