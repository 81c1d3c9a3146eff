"""Device Defender audit: the account audit configuration (one per account) and scheduled audits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from constructs import Construct

from constructs_lib import nag
from constructs_lib.alarms import SecurityAlarms
from constructs_lib.iot_service import iot_service_role
from contracts.outputs import pascal
from iot_semantics import defender as dd

AUDIT_MANAGED_POLICY = "service-role/AWSIoTDeviceDefenderAudit"


def audit_check_configurations(*, expiry_days: int, age_days: int) -> dict[str, Any]:
    """Every audit check enabled, keyed by its CloudFormation property name (not the API name)."""
    out: dict[str, Any] = {}
    for check in dd.AUDIT_CHECKS.values():
        entry: dict[str, Any] = {"Enabled": True}
        if check.api_name == "DEVICE_CERTIFICATE_EXPIRING_CHECK":
            entry["Configuration"] = {"CertExpirationThresholdInDays": str(expiry_days)}
        elif check.api_name == "DEVICE_CERTIFICATE_AGE_CHECK":
            entry["Configuration"] = {"CertAgeThresholdInDays": str(age_days)}
        out[check.cfn_property] = entry
    return out


class AccountAudit(Construct):
    """``AWS::IoT::AccountAuditConfiguration`` with every check on and notifications to SNS."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        notification_topic_arn: str,
        notification_role_arn: str,
        expiry_days: int,
        age_days: int,
    ) -> None:
        super().__init__(scope, id_)
        self.role = iot_service_role(self, "Role", description="Device Defender audit: reads configuration")
        self.role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(AUDIT_MANAGED_POLICY))
        nag.acknowledge(
            self.role,
            "IAM4",
            f"Policy::arn:<AWS::Partition>:iam::aws:policy/{AUDIT_MANAGED_POLICY}",
            "The audit reads certificates, policies, role aliases, Cognito pools and logging settings; AWS "
            "maintains this read-only policy as checks are added, which a copy here would miss.",
        )
        self.configuration = iot.CfnAccountAuditConfiguration(
            self,
            "Configuration",
            account_id=Aws.ACCOUNT_ID,
            role_arn=self.role.role_arn,
            audit_check_configurations=iot.CfnAccountAuditConfiguration.AuditCheckConfigurationsProperty(),
            audit_notification_target_configurations=(
                iot.CfnAccountAuditConfiguration.AuditNotificationTargetConfigurationsProperty(
                    sns=iot.CfnAccountAuditConfiguration.AuditNotificationTargetProperty(
                        enabled=True, role_arn=notification_role_arn, target_arn=notification_topic_arn
                    )
                )
            ),
        )
        # CDK types DeviceCertificateExpiringCheck without its Configuration (the threshold), so the
        # whole map is written with CloudFormation's own property names.
        self.configuration.add_property_override(
            "AuditCheckConfigurations", audit_check_configurations(expiry_days=expiry_days, age_days=age_days)
        )


@dataclass(frozen=True)
class AuditScheduleDef:
    name: str
    frequency: str
    day_of_week: str | None
    day_of_month: str | None
    checks: tuple[str, ...]


class ScheduledAudits(Construct):
    """Scheduled audits; with ``alarms``, an alarm per critical check of each schedule on its findings."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        schedules: Sequence[AuditScheduleDef],
        after: Construct | None,
        alarms: SecurityAlarms | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.audits: dict[str, iot.CfnScheduledAudit] = {}
        self.alarms: list[cloudwatch.Alarm] = []
        for i, s in enumerate(schedules):
            unknown = [c for c in s.checks if c not in dd.SCHEDULABLE_CHECKS]
            if unknown:
                raise ValueError(f"scheduled audit {s.name}: CloudFormation does not accept {unknown}")
            audit = iot.CfnScheduledAudit(
                self,
                f"Audit{i}",
                scheduled_audit_name=s.name,
                frequency=s.frequency,
                day_of_week=s.day_of_week,
                day_of_month=s.day_of_month,
                target_check_names=list(s.checks),
            )
            if after is not None:
                audit.node.add_dependency(after)
            self.audits[s.name] = audit
        if alarms is not None:
            self.alarms = [
                _critical_alarm(alarms, s, c) for s in schedules for c in s.checks if c in dd.CRITICAL_CHECKS
            ]


def _schedule_id(name: str) -> str:
    """``acme-dev-monthly_deep`` -> ``AcmeDevMonthly_deep``: words between dashes capitalised and
    underscores kept (unlike ``contracts.outputs.pascal``), so deployed alarms keep their logical IDs."""
    return "".join(word.capitalize() for word in name.split("-") if word)


def _critical_alarm(alarms: SecurityAlarms, schedule: AuditScheduleDef, check: str) -> cloudwatch.Alarm:
    return alarms.add(
        f"Audit{_schedule_id(schedule.name)}{pascal(check.lower())}",
        metric_name="NonCompliantResources",
        dimensions={"CheckName": check, "ScheduledAuditName": schedule.name},
        threshold=1,
        period=Duration.hours(1),
        description=f"Critical audit check {check} found non-compliant resources ({schedule.name})",
    )
