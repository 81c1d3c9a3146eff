"""A fleet's Device Defender detection: its security profile and the alarm on its violations.

The profile targets the fleet's thing groups and alerts the security topic; the alarm fires when
the profile reports violations. The alarm is added to the stack's ``SecurityAlarms`` so every
alarm shares one SNS action and one place in the tree (its logical ID stays stable).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnResource, Duration
from constructs import Construct

from constructs_lib.alarms import SecurityAlarms
from constructs_lib.arns import IOT_ARN_PREFIX
from constructs_lib.security_profile import BehaviorDef, SecurityProfile


class FleetDetection(SecurityProfile):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        profile_name: str,
        description: str,
        thing_group_names: Sequence[str],
        behaviors: Sequence[BehaviorDef],
        alert_topic_arn: str,
        alert_role_arn: str,
        alarms: SecurityAlarms,
        alarm_id: str,
        after: Sequence[CfnResource] = (),
    ) -> None:
        super().__init__(
            scope,
            id_,
            profile_name=profile_name,
            description=description,
            target_arns=[f"{IOT_ARN_PREFIX}:thinggroup/{group}" for group in thing_group_names],
            behaviors=behaviors,
            alert_topic_arn=alert_topic_arn,
            alert_role_arn=alert_role_arn,
        )
        for resource in after:  # the custom metrics and dimensions its behaviours name
            self.profile.add_resource_dependency(resource)
        self.alarm = alarms.add(
            alarm_id,
            metric_name="Violations",
            dimensions={"SecurityProfileName": profile_name},
            threshold=1,
            period=Duration.minutes(5),
            description=f"Device Defender violations in security profile {profile_name}",
        )
