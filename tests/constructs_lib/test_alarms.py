"""The constructs that own alarms: a fleet's detection, critical audit findings, provisioning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from constructs_lib.alarms import ProvisioningThresholds, SecurityAlarms, add_provisioning_alarms
from constructs_lib.audit import AuditScheduleDef, ScheduledAudits
from constructs_lib.fleet_detection import FleetDetection
from constructs_lib.security_profile import BehaviorDef


def stack() -> tuple[cdk.Stack, SecurityAlarms]:
    s = cdk.Stack(cdk.App(), "S")
    return s, SecurityAlarms(s, "Alarms", topic=sns.Topic(s, "Topic"))


def alarms_of(template: Template) -> Mapping[str, Any]:
    return template.find_resources("AWS::CloudWatch::Alarm")


def test_a_fleet_detection_owns_its_profile_and_its_violations_alarm() -> None:
    s, alarms = stack()
    detection = FleetDetection(
        s, "Profile", profile_name="p", description="d", thing_group_names=["g1", "g2"],
        behaviors=[BehaviorDef(name="B", metric="aws:num-disconnects", operator="greater-than", value=1, duration=300)],
        alert_topic_arn="arn:aws:sns:eu-west-1:1:t", alert_role_arn="arn:aws:iam::1:role/r",
        alarms=alarms, alarm_id="ViolationsP",
    )  # fmt: skip
    template = Template.from_stack(s)
    template.has_resource_properties(
        "AWS::IoT::SecurityProfile",
        {"SecurityProfileName": "p", "TargetArns": [Match.any_value(), Match.any_value()]},
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "Violations", "Dimensions": [{"Name": "SecurityProfileName", "Value": "p"}], "Threshold": 1},
    )
    assert detection.alarm is alarms.alarms["ViolationsP"]


def test_scheduled_audits_alarm_on_critical_checks_only_when_asked() -> None:
    schedule = AuditScheduleDef(
        "acme-dev-deep_scan", "DAILY", None, None, ("CA_CERTIFICATE_KEY_QUALITY_CHECK", "LOGGING_DISABLED_CHECK")
    )
    s, alarms = stack()
    audits = ScheduledAudits(s, "Audits", schedules=[schedule], after=None, alarms=alarms)
    (alarm,) = audits.alarms
    assert list(alarms.alarms) == ["AuditAcmeDevDeep_scanCaCertificateKeyQualityCheck"]  # only the critical check
    assert alarm is alarms.alarms["AuditAcmeDevDeep_scanCaCertificateKeyQualityCheck"]
    s2, alarms2 = stack()
    assert ScheduledAudits(s2, "Audits", schedules=[schedule], after=None).alarms == []
    assert alarms2.alarms == {}


def test_provisioning_alarms_per_template_and_per_claim_certificate() -> None:
    s, alarms = stack()
    made = add_provisioning_alarms(
        alarms,
        templates={"Sensors": "acme-dev-sensors"},
        claim_certificates=[("Claim0", "a" * 64)],
        thresholds=ProvisioningThresholds(5, 6, 500),
    )
    assert list(alarms.alarms) == [
        "RegisterThingFailedSensors",
        "CreateCertificateFromCsrFailed",
        "ClaimRegistrationRateClaim0",
    ]
    assert len(made) == 3
    template = Template.from_stack(s)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfThingsRegistered",
            "Dimensions": [{"Name": "ClaimCertificateId", "Value": "a" * 64}],
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 500,
            "Period": 3600,
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "CreateCertificateFromCsrFailed", "Threshold": 6}
    )
    assert len(alarms_of(template)) == 3
