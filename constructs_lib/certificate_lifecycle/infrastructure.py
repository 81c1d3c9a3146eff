"""The device certificates' lifecycle watch: stalled rotations alarmed, retired certificates awaiting
deletion and Device Defender's expiring/age audit findings counted. It reads and changes nothing of
AWS IoT: deleting and rotating stay with the operator's commands (docs/runbook-identity.md).

An hourly EventBridge rule runs the watch Lambda (``runtime/handler.py``, in the Device Defender
stack); it publishes the metrics ``StalledRotations`` (per fleet) and
``CertificatesDueForRotation`` in its namespace, and ``StalledRotationAlarms`` alarms per fleet on
``StalledRotations >= 1`` to the alert topic. The allowlist's table name and key ARN reach it as
SSM parameters the fleet provisioning stack writes (``AllowlistParameters``): no stack export.
Rotations themselves are driven by the operator's signer (``iot-provision rotate``, docs/runbook-identity.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from constructs_lib.allowlist import SerialAllowlist
from constructs_lib.nag import acknowledge

RUNTIME_DIR = Path(__file__).with_name("runtime")
METRIC_NAMESPACE = "IotFleet/Identity"


class CertificateLifecycle(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        allowlist_table_name: str,
        allowlist_key_arn: str,
        fleets: Sequence[str],
        stall_after_minutes: int = 60,
        schedule_minutes: int = 60,
        audit_lookback_hours: int = 24,
    ) -> None:
        super().__init__(scope, id_)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Certificate lifecycle watch: reads the allowlist partitions and audit findings",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTheFleetsEntries",
                actions=["dynamodb:Query"],
                resources=[
                    Stack.of(self).format_arn(service="dynamodb", resource="table", resource_name=allowlist_table_name)
                ],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": list(fleets)}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="UseTheAllowlistKeyThroughDynamoDB",
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=[allowlist_key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Aws.REGION}.amazonaws.com"}},
            )
        )
        # ListAuditFindings and PutMetricData have no resource-level permissions (Service
        # Authorization Reference): '*', the metric namespace pinned by its condition key.
        self.role.add_to_policy(
            iam.PolicyStatement(sid="ReadAuditFindings", actions=["iot:ListAuditFindings"], resources=["*"])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PublishTheLifecycleMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            )
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(RUNTIME_DIR), exclude=["__pycache__", "*.pyc", "__init__.py"]),
            timeout=Duration.minutes(5),
            memory_size=256,
            role=self.role,
            log_group=self.log_group,
            description="Device certificate lifecycle watch: stalled rotations, retired certificates, audit findings",
            environment={
                "ALLOWLIST_TABLE": allowlist_table_name,
                "FLEETS": json.dumps(list(fleets)),
                "STALL_MINUTES": str(stall_after_minutes),
                "METRIC_NAMESPACE": METRIC_NAMESPACE,
                "AUDIT_LOOKBACK_HOURS": str(audit_lookback_hours),
            },
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.rate(Duration.minutes(schedule_minutes)),
            description="Sweep of the device certificates' lifecycle",
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
        acknowledge(
            self.role,
            "IAM5",
            "Resource::*",
            "ListAuditFindings and PutMetricData have no resource-level permissions; the namespace is pinned",
        )


class StalledRotationAlarms(Construct):
    """One alarm per fleet: a rotation started and did not finish within the sweep's stall limit."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        fleets: Sequence[str],
        topic: sns.ITopic,
        period_minutes: int = 60,
    ) -> None:
        super().__init__(scope, id_)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for fleet in fleets:
            metric = cloudwatch.Metric(
                namespace=METRIC_NAMESPACE,
                metric_name="StalledRotations",
                dimensions_map={"Fleet": fleet},
                statistic="Maximum",
                period=Duration.minutes(period_minutes),
            )
            alarm = metric.create_alarm(
                self,
                "".join(p.capitalize() for p in fleet.replace("_", "-").split("-")),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"A certificate rotation of fleet {fleet} started and did not finish in time",
            )
            alarm.add_alarm_action(cw_actions.SnsAction(topic))
            alarm.add_ok_action(cw_actions.SnsAction(topic))
            self.alarms[fleet] = alarm


class AllowlistParameters(Construct):
    """SSM parameters with the allowlist's table name and key ARN, read by other stacks at deploy time."""

    def __init__(
        self, scope: Construct, id_: str, *, allowlist: SerialAllowlist, table_parameter: str, key_parameter: str
    ) -> None:
        super().__init__(scope, id_)
        ssm.StringParameter(
            self,
            "TableName",
            parameter_name=table_parameter,
            string_value=allowlist.table.table_name,
            description="DynamoDB table of the device serial allowlist",
        )
        ssm.StringParameter(
            self,
            "KeyArn",
            parameter_name=key_parameter,
            string_value=allowlist.key.key_arn,
            description="KMS key of the device serial allowlist",
        )
