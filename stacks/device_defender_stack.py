"""Device Defender: detect (rules and ML), audit, mitigation, alarms and IoT logging for the fleets."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from config import FleetConfig
from constructs_lib.alarms import ProvisioningThresholds, SecurityAlarms, add_provisioning_alarms
from constructs_lib.alerting import Alerting, AlertSubscription
from constructs_lib.audit import AccountAudit, ScheduledAudits
from constructs_lib.certificate_lifecycle import CertificateLifecycle, StalledRotationAlarms
from constructs_lib.detect_definitions import DetectDefinitions
from constructs_lib.fleet_detection import FleetDetection
from constructs_lib.iot_logging import IotLogging
from constructs_lib.mitigation import MitigationActions
from constructs_lib.quarantine import Quarantine
from contracts import outputs
from stacks import plans
from stacks.fleet_provisioning_stack import FleetProvisioningStack


class DeviceDefenderStack(Stack):
    def __init__(
        self, scope: Construct, id_: str, *, config: FleetConfig, provisioning: FleetProvisioningStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        d = config.defender
        self.add_stack_dependency(provisioning)  # profiles target the fleets' thing groups
        self.alerting = Alerting(
            self, "Alerting", subscriptions=[AlertSubscription(s.protocol, s.endpoint) for s in d.alerts.subscriptions]
        )
        self.definitions = DetectDefinitions(
            self,
            "DetectDefinitions",
            custom_metrics={m.name: (m.type, m.display_name) for m in d.custom_metrics},
            dimensions={x.name: x.topic_filters for x in d.dimensions},
        )
        self.alarms = SecurityAlarms(self, "Alarms", topic=self.alerting.topic)
        self.profiles = self._detection(config)
        self.quarantine = Quarantine(
            self, "Quarantine", group_name=config.quarantine_group_name(), policy_name=config.qualified("quarantine")
        )
        self.logging = IotLogging(self, "IotLogging", manage_account_setting=d.logging.enabled, level=d.logging.level)
        self.mitigation = MitigationActions(
            self,
            "Mitigation",
            name_prefix=config.qualified("mitigate"),
            quarantine_group_name=config.quarantine_group_name(),
            topic=self.alerting.topic,
            topic_key=self.alerting.key,
            logging_role=self.logging.role,
            log_level=d.mitigation_log_level,
        )
        self.mitigation.node.add_dependency(self.quarantine.group)
        self._audit(config)
        self.provisioning_alarms = add_provisioning_alarms(
            self.alarms,
            templates=plans.register_thing_alarm_templates(config),
            claim_certificates=self._claim_certificates(config, provisioning),
            thresholds=ProvisioningThresholds(
                d.provisioning_alarms.register_thing_failures_per_5_min,
                d.provisioning_alarms.csr_failures_per_5_min,
                d.provisioning_alarms.registrations_per_hour_per_claim,
            ),
        )
        fleet_names = [f.name for f in config.fleets]
        self.certificate_lifecycle = CertificateLifecycle(
            self,
            "CertificateLifecycle",
            allowlist_table_name=ssm.StringParameter.value_for_string_parameter(
                self, plans.allowlist_parameter(config, "table-name")
            ),
            allowlist_key_arn=ssm.StringParameter.value_for_string_parameter(
                self, plans.allowlist_parameter(config, "key-arn")
            ),
            fleets=fleet_names,
        )
        self.rotation_alarms = StalledRotationAlarms(
            self, "StalledRotations", fleets=fleet_names, topic=self.alerting.topic
        )
        CfnOutput(self, outputs.ALERT_TOPIC_ARN, value=self.alerting.topic.topic_arn)
        CfnOutput(self, outputs.QUARANTINE_GROUP_NAME, value=config.quarantine_group_name())
        for name, action in self.mitigation.actions.items():
            CfnOutput(self, outputs.mitigation_action_key(name), value=action.ref)

    def _detection(self, config: FleetConfig) -> dict[str, FleetDetection]:
        """Each fleet's security profiles, each with its violations alarm."""
        return {
            plan.profile_name: FleetDetection(
                self,
                plan.construct_id,
                profile_name=plan.profile_name,
                description=plan.description,
                thing_group_names=plan.thing_group_names,
                behaviors=plan.behaviors,
                alert_topic_arn=self.alerting.topic.topic_arn,
                alert_role_arn=self.alerting.alert_role.role_arn,
                alarms=self.alarms,
                alarm_id=plan.alarm_id,
                after=self.definitions.resources,
            )
            for plan in plans.detection_plans(config)
        }

    def _audit(self, config: FleetConfig) -> None:
        """The account audit configuration (where this stack owns it) and the scheduled audits."""
        audit = config.defender.audit
        self.audit: AccountAudit | None = None
        self.scheduled: ScheduledAudits | None = None
        if not audit.enabled:
            return
        if audit.manage_account_configuration:
            self.audit = AccountAudit(
                self,
                "Audit",
                notification_topic_arn=self.alerting.topic.topic_arn,
                notification_role_arn=self.alerting.audit_notification_role.role_arn,
                expiry_days=audit.device_certificate_expiry_days,
                age_days=audit.device_certificate_age_days,
            )
        self.scheduled = ScheduledAudits(
            self,
            "ScheduledAudits",
            schedules=plans.audit_schedules(config),
            after=self.audit,
            alarms=self.alarms if audit.alarm_on_critical_findings else None,
        )

    def _claim_certificates(self, config: FleetConfig, provisioning: FleetProvisioningStack) -> list[tuple[str, str]]:
        """(alarm key, certificate ID): the stack's claim certificates (read from SSM at deploy) and the
        configured ones."""
        made = [
            (
                plans.fleet_construct_id(name),
                ssm.StringParameter.value_for_string_parameter(self, plans.claim_certificate_parameter(config, name)),
            )
            for name in provisioning.claim_certificates
        ]
        listed = config.defender.provisioning_alarms.claim_certificate_ids
        return made + [(f"Claim{i}", cid) for i, cid in enumerate(listed)]
