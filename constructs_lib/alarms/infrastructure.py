"""CloudWatch alarms on AWS/IoT metrics that notify the security topic."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from iot_semantics.defender import CLOUDWATCH_NAMESPACE


class SecurityAlarms(Construct):
    """Add alarms with ``add``; every alarm notifies ``topic`` when it fires and when it clears."""

    def __init__(self, scope: Construct, id_: str, *, topic: sns.ITopic) -> None:
        super().__init__(scope, id_)
        self._action = actions.SnsAction(topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

    def add(
        self,
        id_: str,
        *,
        metric_name: str,
        dimensions: dict[str, str],
        threshold: float,
        period: Duration,
        description: str,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) -> cloudwatch.Alarm:
        metric = cloudwatch.Metric(
            namespace=CLOUDWATCH_NAMESPACE,
            metric_name=metric_name,
            dimensions_map=dimensions,
            statistic="Sum",
            period=period,
        )
        alarm = metric.create_alarm(
            self,
            id_,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms[id_] = alarm
        return alarm
