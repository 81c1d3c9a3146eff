"""Device Defender: detect (rules and ML), audit, mitigation, alarms and IoT logging for the fleets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from config import FleetConfig
from config.defender import Behavior
from config.defender.catalogue import ml_behaviors, rules_behaviors
from constructs_lib.alarms import SecurityAlarms
from constructs_lib.alerting import Alerting, AlertSubscription
from constructs_lib.arns import IOT_ARN_PREFIX
from constructs_lib.audit import AccountAudit, AuditScheduleDef, ScheduledAudits
from constructs_lib.detect_definitions import DetectDefinitions
from constructs_lib.iot_logging import IotLogging
from constructs_lib.mitigation import MitigationActions
from constructs_lib.quarantine import Quarantine
from constructs_lib.security_profile import BehaviorDef, SecurityProfile
from iot_semantics import defender as dd
from stacks.fleet_provisioning_stack import FleetProvisioningStack, claim_certificate_parameter, pascal


def behavior_def(b: Behavior, custom_types: Mapping[str, str], *, ml_confidence: str | None = None) -> BehaviorDef:
    metric = dd.METRICS.get(b.metric)
    kind = metric.value if metric else dd.CUSTOM_METRIC_RULES[custom_types[b.metric]][1]
    value = list(b.value) if isinstance(b.value, tuple) else b.value
    return BehaviorDef(
        name=b.name,
        metric=b.metric,
        operator=None if ml_confidence else b.operator,
        value=None if ml_confidence else value,
        value_kind=kind,
        duration=None if ml_confidence else b.duration,
        statistic=None if ml_confidence else b.statistic,
        datapoints_to_alarm=b.datapoints_to_alarm,
        datapoints_to_clear=b.datapoints_to_clear,
        dimension_name=b.dimension,
        dimension_operator=b.dimension_operator,
        suppress_alerts=b.suppress_alerts,
        ml_confidence=ml_confidence,
    )


class DeviceDefenderStack(Stack):
    def __init__(
        self, scope: Construct, id_: str, *, config: FleetConfig, provisioning: FleetProvisioningStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        d = config.defender
        self.add_stack_dependency(provisioning)  # profiles target the fleets' thing groups
        self.alerting = Alerting(
            self,
            "Alerting",
            subscriptions=[AlertSubscription(s.protocol, s.endpoint) for s in d.alerts.subscriptions],
        )
        topic = self.alerting.topic
        custom_types = {m.name: m.type for m in d.custom_metrics}
        self.definitions = DetectDefinitions(
            self,
            "DetectDefinitions",
            custom_metrics={m.name: (m.type, m.display_name) for m in d.custom_metrics},
            dimensions={x.name: x.topic_filters for x in d.dimensions},
        )
        self.alarms = SecurityAlarms(self, "Alarms", topic=topic)

        self.profiles: dict[str, SecurityProfile] = {}
        for fleet in config.fleets:
            detect = d.detect_of(fleet.name)
            targets = [f"{IOT_ARN_PREFIX}:thinggroup/{config.thing_group_name(g)}" for g in fleet.thing_groups]
            variants: list[tuple[str, list[BehaviorDef]]] = [
                (
                    "rules",
                    [
                        behavior_def(b, custom_types)
                        for b in rules_behaviors(detect, agent=fleet.features.defender_metrics)
                    ],
                )
            ]
            if detect.ml_detect.enabled:
                conf = detect.ml_detect.confidence
                variants.append(
                    (
                        "ml",
                        [
                            behavior_def(b, custom_types, ml_confidence=conf)
                            for b in ml_behaviors(d, fleet.name, agent=fleet.features.defender_metrics)
                        ],
                    )
                )
            for kind, behaviors in variants:
                name = config.qualified(f"{fleet.name}-{kind}")
                profile = SecurityProfile(
                    self,
                    f"Fleet{pascal(fleet.name)}{kind.capitalize()}Profile",
                    profile_name=name,
                    description=f"{'ML' if kind == 'ml' else 'Rules'} Detect for fleet {fleet.name}",
                    target_arns=targets,
                    behaviors=behaviors,
                    alert_topic_arn=topic.topic_arn,
                    alert_role_arn=self.alerting.alert_role.role_arn,
                )
                for resource in self.definitions.resources:
                    profile.profile.add_resource_dependency(resource)
                self.profiles[name] = profile
                self.alarms.add(
                    f"Violations{pascal(fleet.name)}{kind.capitalize()}",
                    metric_name="Violations",
                    dimensions={"SecurityProfileName": name},
                    threshold=1,
                    period=Duration.minutes(5),
                    description=f"Device Defender violations in security profile {name}",
                )

        self.quarantine = Quarantine(
            self, "Quarantine", group_name=config.quarantine_group_name(), policy_name=config.qualified("quarantine")
        )
        self.logging = IotLogging(self, "IotLogging", manage_account_setting=d.logging.enabled, level=d.logging.level)
        self.mitigation = MitigationActions(
            self,
            "Mitigation",
            name_prefix=config.qualified("mitigate"),
            quarantine_group_name=config.quarantine_group_name(),
            topic=topic,
            topic_key=self.alerting.key,
            logging_role=self.logging.role,
            log_level=d.mitigation_log_level,
        )
        self.mitigation.node.add_dependency(self.quarantine.group)

        self.audit: AccountAudit | None = None
        self.scheduled: ScheduledAudits | None = None
        if d.audit.enabled:
            if d.audit.manage_account_configuration:
                self.audit = AccountAudit(
                    self,
                    "Audit",
                    notification_topic_arn=topic.topic_arn,
                    notification_role_arn=self.alerting.audit_notification_role.role_arn,
                    expiry_days=d.audit.device_certificate_expiry_days,
                    age_days=d.audit.device_certificate_age_days,
                )
            schedules = [
                AuditScheduleDef(
                    config.qualified(s.name),
                    s.frequency,
                    s.day_of_week,
                    s.day_of_month,
                    s.checks or dd.SCHEDULABLE_CHECKS,
                )
                for s in d.audit.schedules
            ]
            self.scheduled = ScheduledAudits(self, "ScheduledAudits", schedules=schedules, after=self.audit)
            if d.audit.alarm_on_critical_findings:
                for s in schedules:
                    for check in s.checks:
                        if check in dd.CRITICAL_CHECKS:
                            self.alarms.add(
                                f"Audit{pascal(s.name)}{pascal(check.lower().replace('_', '-'))}",
                                metric_name="NonCompliantResources",
                                dimensions={"CheckName": check, "ScheduledAuditName": s.name},
                                threshold=1,
                                period=Duration.hours(1),
                                description=f"Critical audit check {check} found non-compliant resources ({s.name})",
                            )

        alarms = d.provisioning_alarms
        for fleet in config.fleets:
            template = config.template_name_of(fleet)
            self.alarms.add(
                f"RegisterThingFailed{pascal(fleet.name)}",
                metric_name="RegisterThingFailed",
                dimensions={"TemplateName": template},
                threshold=alarms.register_thing_failures_per_5_min,
                period=Duration.minutes(5),
                description=f"RegisterThing failures on template {template} (hook denials, bad parameters)",
            )
        self.alarms.add(
            "CreateCertificateFromCsrFailed",
            metric_name="CreateCertificateFromCsrFailed",
            dimensions={},
            threshold=alarms.csr_failures_per_5_min,
            period=Duration.minutes(5),
            description="CreateCertificateFromCsr failures (bad CSRs, throttling)",
        )
        claims: list[tuple[str, str]] = [
            (
                f"Fleet{pascal(name)}",
                ssm.StringParameter.value_for_string_parameter(self, claim_certificate_parameter(config, name)),
            )
            for name in provisioning.claim_certificates
        ]
        claims += [(f"Claim{i}", cid) for i, cid in enumerate(alarms.claim_certificate_ids)]
        for key, certificate_id in claims:
            self.alarms.add(
                f"ClaimRegistrationRate{key}",
                metric_name="ApproximateNumberOfThingsRegistered",
                dimensions={"ClaimCertificateId": certificate_id},
                threshold=alarms.registrations_per_hour_per_claim,
                period=Duration.hours(1),
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                description="Abnormal registration rate through one claim certificate: it may be stolen. "
                "Deactivate it (docs/runbook-defender.md).",
            )

        CfnOutput(self, "AlertTopicArn", value=topic.topic_arn)
        CfnOutput(self, "QuarantineGroupName", value=config.quarantine_group_name())
        for name, action in self.mitigation.actions.items():
            CfnOutput(self, f"MitigationAction{name}", value=action.ref)
