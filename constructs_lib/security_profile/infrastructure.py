"""A Device Defender security profile (Rules Detect or ML Detect) alerting to one SNS topic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_iot as iot
from constructs import Construct

from iot_semantics import defender as dd


@dataclass(frozen=True)
class BehaviorDef:
    """One behaviour. Rules Detect: ``operator`` + ``value`` or ``statistic``; ML Detect: ``ml_confidence``."""

    name: str
    metric: str
    operator: str | None = None
    value: Any = None
    value_kind: str = "count"  # count | cidrs | ports | number | numbers | strings
    duration: int | None = None
    statistic: str | None = None
    datapoints_to_alarm: int = 1
    datapoints_to_clear: int = 1
    dimension_name: str | None = None
    dimension_operator: str = "IN"
    suppress_alerts: bool = False
    ml_confidence: str | None = None


def _value(b: BehaviorDef) -> iot.CfnSecurityProfile.MetricValueProperty | None:
    if b.value is None:
        return None
    if b.value_kind == "count":
        # CloudFormation types MetricValue.Count as a string (the API takes a number).
        return iot.CfnSecurityProfile.MetricValueProperty(count=str(int(b.value)))
    if b.value_kind == "number":
        return iot.CfnSecurityProfile.MetricValueProperty(number=float(b.value))
    items = list(b.value)
    if b.value_kind == "cidrs":
        return iot.CfnSecurityProfile.MetricValueProperty(cidrs=[str(x) for x in items])
    if b.value_kind == "ports":
        return iot.CfnSecurityProfile.MetricValueProperty(ports=[int(x) for x in items])
    if b.value_kind == "numbers":
        return iot.CfnSecurityProfile.MetricValueProperty(numbers=[float(x) for x in items])
    return iot.CfnSecurityProfile.MetricValueProperty(strings=[str(x) for x in items])


def render_behavior(b: BehaviorDef) -> iot.CfnSecurityProfile.BehaviorProperty:
    if b.duration is not None and b.duration not in dd.DURATIONS:
        raise ValueError(f"behaviour {b.name}: duration {b.duration} not in {dd.DURATIONS}")
    if b.ml_confidence is not None:
        criteria = iot.CfnSecurityProfile.BehaviorCriteriaProperty(
            ml_detection_config=iot.CfnSecurityProfile.MachineLearningDetectionConfigProperty(
                confidence_level=b.ml_confidence
            ),
            consecutive_datapoints_to_alarm=b.datapoints_to_alarm,
            consecutive_datapoints_to_clear=b.datapoints_to_clear,
        )
    else:
        criteria = iot.CfnSecurityProfile.BehaviorCriteriaProperty(
            comparison_operator=b.operator,
            value=_value(b),
            duration_seconds=b.duration,
            statistical_threshold=(
                iot.CfnSecurityProfile.StatisticalThresholdProperty(statistic=b.statistic) if b.statistic else None
            ),
            consecutive_datapoints_to_alarm=b.datapoints_to_alarm,
            consecutive_datapoints_to_clear=b.datapoints_to_clear,
        )
    return iot.CfnSecurityProfile.BehaviorProperty(
        name=b.name,
        metric=b.metric,
        criteria=criteria,
        metric_dimension=(
            iot.CfnSecurityProfile.MetricDimensionProperty(
                dimension_name=b.dimension_name, operator=b.dimension_operator
            )
            if b.dimension_name
            else None
        ),
        suppress_alerts=b.suppress_alerts or None,
    )


class SecurityProfile(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        profile_name: str,
        description: str,
        target_arns: Sequence[str],
        behaviors: Sequence[BehaviorDef],
        alert_topic_arn: str,
        alert_role_arn: str,
    ) -> None:
        super().__init__(scope, id_)
        if not target_arns:
            raise ValueError(f"security profile {profile_name} needs at least one target")
        self.profile_name = profile_name
        self.profile = iot.CfnSecurityProfile(
            self,
            "Profile",
            security_profile_name=profile_name,
            security_profile_description=description,
            target_arns=list(target_arns),
            behaviors=[render_behavior(b) for b in behaviors],
            alert_targets={
                dd.ALERT_TARGET_TYPE: iot.CfnSecurityProfile.AlertTargetProperty(
                    alert_target_arn=alert_topic_arn, role_arn=alert_role_arn
                )
            },
        )
