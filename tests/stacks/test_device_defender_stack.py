"""Intent assertions on the Device Defender stack (audit and logging switched on in the session synth)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from iot_semantics import defender as dd
from tests.conftest import Synth, render_arn, resources_of


@pytest.fixture
def defender(synth: Synth) -> Template:
    return synth.template("device_defender")


@pytest.fixture
def tpl(synth: Synth) -> dict[str, Any]:
    return synth.templates["device_defender"]


def _walk(node: Any, key: str) -> list[Any]:
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append(v)
            found += _walk(v, key)
    elif isinstance(node, list):
        for v in node:
            found += _walk(v, key)
    return found


class TestAuditNames:
    def test_account_audit_uses_cloudformation_names_and_enables_every_check(self, tpl: dict[str, Any]) -> None:
        (config,) = resources_of(tpl, "AWS::IoT::AccountAuditConfiguration").values()
        checks = config["Properties"]["AuditCheckConfigurations"]
        assert set(checks) == {c.cfn_property for c in dd.AUDIT_CHECKS.values()}
        assert all(entry["Enabled"] is True for entry in checks.values())
        assert checks["DeviceCertificateExpiringCheck"]["Configuration"] == {"CertExpirationThresholdInDays": "45"}
        assert checks["DeviceCertificateAgeCheck"]["Configuration"] == {"CertAgeThresholdInDays": "365"}
        assert config["Properties"]["AccountId"] == {"Ref": "AWS::AccountId"}

    def test_scheduled_audits_list_only_names_cloudformation_accepts(self, tpl: dict[str, Any]) -> None:
        audits = resources_of(tpl, "AWS::IoT::ScheduledAudit")
        assert {a["Properties"]["Frequency"] for a in audits.values()} == {"DAILY", "WEEKLY"}
        for audit in audits.values():
            names = audit["Properties"]["TargetCheckNames"]
            assert names
            assert set(names) <= set(dd.SCHEDULABLE_CHECKS)
            assert "DependsOn" in audit, "waits for the account audit configuration"
        weekly = [a for a in audits.values() if a["Properties"]["Frequency"] == "WEEKLY"]
        assert weekly[0]["Properties"]["DayOfWeek"] == "MON"

    def test_audit_notifies_the_topic_through_its_role(self, defender: Template) -> None:
        defender.has_resource_properties(
            "AWS::IoT::AccountAuditConfiguration",
            {
                "AuditNotificationTargetConfigurations": {
                    "Sns": {"Enabled": True, "RoleArn": Match.any_value(), "TargetArn": {"Ref": Match.any_value()}}
                }
            },
        )


class TestProfiles:
    def test_every_alert_target_key_is_sns(self, tpl: dict[str, Any]) -> None:
        profiles = resources_of(tpl, "AWS::IoT::SecurityProfile")
        assert len(profiles) == 4  # sensors rules, gateways rules, gateways ML, cores rules
        for profile in profiles.values():
            assert list(profile["Properties"]["AlertTargets"]) == ["SNS"]

    def test_every_duration_is_allowed_and_counts_are_strings(self, tpl: dict[str, Any]) -> None:
        durations = _walk(tpl, "DurationSeconds")
        assert durations
        assert all(d in dd.DURATIONS for d in durations)
        counts = _walk(tpl, "Count")
        assert counts
        assert all(isinstance(c, str) for c in counts)

    def test_profiles_target_the_fleets_thing_groups(self, tpl: dict[str, Any]) -> None:
        targets = {
            p["Properties"]["SecurityProfileName"]: [render_arn(t) for t in p["Properties"]["TargetArns"]]
            for p in resources_of(tpl, "AWS::IoT::SecurityProfile").values()
        }
        prefix = "arn:aws:iot:eu-west-1:123456789012:thinggroup/"
        assert targets["acme-dev-sensors-rules"] == [prefix + "acme-dev-plant-a-sensors"]
        assert targets["acme-dev-gateways-ml"] == [prefix + "acme-dev-plant-a-gateways"]

    def test_rules_behaviours_cover_cloud_and_device_side(self, tpl: dict[str, Any]) -> None:
        by_name = {
            p["Properties"]["SecurityProfileName"]: {b["Metric"]: b for b in p["Properties"]["Behaviors"]}
            for p in resources_of(tpl, "AWS::IoT::SecurityProfile").values()
        }
        sensors = by_name["acme-dev-sensors-rules"]
        for metric in (
            "aws:num-authorization-failures",
            "aws:message-byte-size",
            "aws:num-messages-sent",
            "aws:num-messages-received",
            "aws:num-connection-attempts",
            "aws:num-disconnects",
            "aws:num-listening-tcp-ports",
            "aws:num-established-tcp-connections",
            "aws:all-bytes-out",
            "aws:all-packets-out",
            "battery_level",
        ):
            assert metric in sensors, metric
        gateways = by_name["acme-dev-gateways-rules"]
        assert gateways["aws:source-ip-address"]["Criteria"]["Value"]["Cidrs"] == ["198.51.100.0/24", "203.0.113.0/24"]
        assert gateways["aws:listening-tcp-ports"]["Criteria"]["Value"]["Ports"] == [22, 8883]
        assert gateways["aws:listening-tcp-ports"]["Criteria"]["ComparisonOperator"] == "not-in-port-set"
        (sensors_profile,) = [
            p
            for p in resources_of(tpl, "AWS::IoT::SecurityProfile").values()
            if p["Properties"]["SecurityProfileName"] == "acme-dev-sensors-rules"
        ]
        flood = next(b for b in sensors_profile["Properties"]["Behaviors"] if b["Name"] == "CommandFlood")
        assert flood["MetricDimension"] == {"DimensionName": "command-topics", "Operator": "IN"}

    def test_statistical_threshold(self, tpl: dict[str, Any]) -> None:
        behaviors = [
            b for p in resources_of(tpl, "AWS::IoT::SecurityProfile").values() for b in p["Properties"]["Behaviors"]
        ]
        (p999,) = [b for b in behaviors if b["Name"] == "MessagesSentP999"]
        assert p999["Criteria"]["StatisticalThreshold"] == {"Statistic": "p99.9"}
        assert p999["Criteria"]["DurationSeconds"] == 900
        assert "Value" not in p999["Criteria"]

    def test_ml_profile_has_only_ml_criteria(self, tpl: dict[str, Any]) -> None:
        (ml,) = [
            p
            for p in resources_of(tpl, "AWS::IoT::SecurityProfile").values()
            if p["Properties"]["SecurityProfileName"].endswith("-ml")
        ]
        for behavior in ml["Properties"]["Behaviors"]:
            criteria = behavior["Criteria"]
            assert criteria["MlDetectionConfig"] == {"ConfidenceLevel": "HIGH"}
            assert "Value" not in criteria
            assert "ComparisonOperator" not in criteria
            assert dd.METRICS[behavior["Metric"]].ml

    def test_custom_metric_and_dimension(self, defender: Template) -> None:
        defender.has_resource_properties(
            "AWS::IoT::CustomMetric", {"MetricName": "battery_level", "MetricType": "number"}
        )
        defender.has_resource_properties(
            "AWS::IoT::Dimension", {"Name": "command-topics", "Type": "TOPIC_FILTER", "StringValues": ["cmd/#"]}
        )


class TestAlerting:
    def test_topic_encrypted_with_cmk_and_ssl_enforced(self, defender: Template) -> None:
        defender.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
        defender.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
        defender.has_resource_properties(
            "AWS::SNS::TopicPolicy",
            {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                    )
                }
            },
        )

    def test_key_policy_lets_alert_roles_and_cloudwatch_use_it(self, tpl: dict[str, Any]) -> None:
        (key,) = resources_of(tpl, "AWS::KMS::Key").values()
        statements = key["Properties"]["KeyPolicy"]["Statement"]
        sids = {s.get("Sid") for s in statements}
        assert {"AlertRolePublishes", "AuditNotificationRolePublishes", "CloudWatchAlarmsPublishEncrypted"} <= sids

    def test_publisher_roles_only_publish_to_the_topic(self, tpl: dict[str, Any]) -> None:
        policies = resources_of(tpl, "AWS::IAM::Policy")
        publishers = [
            p
            for p in policies.values()
            if any(s["Action"] == "sns:Publish" for s in p["Properties"]["PolicyDocument"]["Statement"])
        ]
        assert len(publishers) == 3  # alert, audit notification, PUBLISH_FINDING_TO_SNS mitigation
        for policy in publishers:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                assert statement["Resource"] != "*"

    def test_email_subscription(self, defender: Template) -> None:
        defender.has_resource_properties(
            "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "iot-security@example.com"}
        )


class TestAlarms:
    def _alarms(self, tpl: dict[str, Any]) -> list[dict[str, Any]]:
        return [a["Properties"] for a in resources_of(tpl, "AWS::CloudWatch::Alarm").values()]

    def test_violations_alarm_per_profile(self, tpl: dict[str, Any]) -> None:
        profiles = {a["Dimensions"][0]["Value"] for a in self._alarms(tpl) if a["MetricName"] == "Violations"}
        assert profiles == {
            "acme-dev-sensors-rules",
            "acme-dev-gateways-rules",
            "acme-dev-gateways-ml",
            "acme-dev-cores-rules",
        }

    def test_provisioning_alarms(self, tpl: dict[str, Any]) -> None:
        alarms = self._alarms(tpl)
        failed = {a["Dimensions"][0]["Value"] for a in alarms if a["MetricName"] == "RegisterThingFailed"}
        assert failed == {"acme-dev-sensors", "acme-dev-gateways", "acme-dev-cores"}
        assert any(a["MetricName"] == "CreateCertificateFromCsrFailed" for a in alarms)
        (rate,) = [a for a in alarms if a["MetricName"] == "ApproximateNumberOfThingsRegistered"]
        assert rate["Dimensions"][0]["Name"] == "ClaimCertificateId"
        # the stack's claim certificate, read from SSM at deploy time (an export would block rotation)
        assert rate["Dimensions"][0]["Value"] == {"Ref": Match.any_value()} or "Ref" in rate["Dimensions"][0]["Value"]
        assert rate["Period"] == 3600

    def test_no_cross_stack_export_locks(self, synth: Synth, tpl: dict[str, Any]) -> None:
        assert "Fn::ImportValue" not in json.dumps(tpl)
        ssm_params = [p["Default"] for p in tpl.get("Parameters", {}).values() if "SSM" in p["Type"]]
        assert "/acme/dev/fleets/sensors/claim-certificate-id" in ssm_params

    def test_critical_audit_findings_alarm(self, tpl: dict[str, Any]) -> None:
        checks = {
            next(d["Value"] for d in a["Dimensions"] if d["Name"] == "CheckName")
            for a in self._alarms(tpl)
            if a["MetricName"] == "NonCompliantResources"
        }
        assert checks == set(dd.CRITICAL_CHECKS) & set(dd.SCHEDULABLE_CHECKS)

    def test_every_alarm_notifies_the_topic_and_namespace_is_aws_iot(self, tpl: dict[str, Any]) -> None:
        from constructs_lib.certificate_lifecycle import METRIC_NAMESPACE

        for alarm in self._alarms(tpl):
            # AWS IoT's metrics, and the certificate lifecycle watch's own (stalled rotations)
            assert alarm["Namespace"] in ("AWS/IoT", METRIC_NAMESPACE)
            assert alarm["AlarmActions"] == alarm["OKActions"]
            assert len(alarm["AlarmActions"]) == 1


class TestMitigation:
    def test_quarantine_group_deny_policy_and_attachment(self, tpl: dict[str, Any], defender: Template) -> None:
        defender.has_resource_properties("AWS::IoT::ThingGroup", {"ThingGroupName": "acme-dev-quarantine"})
        (policy,) = resources_of(tpl, "AWS::IoT::Policy").values()
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Action"] == "iot:*"
        (attachment,) = resources_of(tpl, "Custom::IotThingGroupPolicyAttachment").values()
        props = attachment["Properties"]
        assert props["PolicyName"] == {"Ref": Match.any_value()} or "Ref" in props["PolicyName"]
        assert "Fn::GetAtt" in props["ThingGroupArn"]

    def test_five_mitigation_actions_each_with_its_own_role(self, tpl: dict[str, Any]) -> None:
        actions = resources_of(tpl, "AWS::IoT::MitigationAction")
        kinds = {next(iter(a["Properties"]["ActionParams"])) for a in actions.values()}
        assert kinds == {
            "AddThingsToThingGroupParams",
            "UpdateDeviceCertificateParams",
            "ReplaceDefaultPolicyVersionParams",
            "EnableIoTLoggingParams",
            "PublishFindingToSnsParams",
        }
        roles = [json.dumps(a["Properties"]["RoleArn"]) for a in actions.values()]
        assert len(set(roles)) == 5
        quarantine = [a for a in actions.values() if "AddThingsToThingGroupParams" in a["Properties"]["ActionParams"]]
        assert quarantine[0]["Properties"]["ActionParams"]["AddThingsToThingGroupParams"]["ThingGroupNames"] == [
            "acme-dev-quarantine"
        ]

    def test_roles_assumed_by_iot_carry_confused_deputy_conditions(self, tpl: dict[str, Any]) -> None:
        for role in resources_of(tpl, "AWS::IAM::Role").values():
            (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            if statement["Principal"].get("Service") == "iot.amazonaws.com":
                assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
                assert "aws:SourceArn" in statement["Condition"]["ArnLike"]


class TestLogging:
    def test_account_logging_with_scoped_role(self, defender: Template, tpl: dict[str, Any]) -> None:
        defender.has_resource_properties(
            "AWS::IoT::Logging", {"DefaultLogLevel": "ERROR", "AccountId": {"Ref": "AWS::AccountId"}}
        )
        text = json.dumps(resources_of(tpl, "AWS::IAM::Policy"))
        assert "log-group:AWSIotLogsV2" in text
