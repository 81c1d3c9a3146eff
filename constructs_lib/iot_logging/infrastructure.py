"""AWS IoT logging (v2): a role scoped to the AWSIotLogsV2 log group and, when owned, the account setting."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from constructs import Construct

from constructs_lib import nag
from constructs_lib.iot_service import iot_service_role

LOG_GROUP = "AWSIotLogsV2"


class IotLogging(Construct):
    def __init__(self, scope: Construct, id_: str, *, manage_account_setting: bool, level: str) -> None:
        super().__init__(scope, id_)
        self.role = iot_service_role(self, "Role", description="AWS IoT writes its logs to AWSIotLogsV2")
        log_group_arn = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{LOG_GROUP}"
        self.policy = iam.Policy(
            self,
            "Policy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="WriteIotLogs",
                    actions=[
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:PutMetricFilter",
                        "logs:PutRetentionPolicy",
                    ],
                    # ':*': the log streams AWS IoT creates inside its own log group.
                    resources=[log_group_arn, f"{log_group_arn}:*"],
                )
            ],
        )
        nag.acknowledge(
            self.policy,
            "IAM5",
            f"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{LOG_GROUP}:*",
            "AWS IoT names its log streams itself inside the fixed AWSIotLogsV2 group; ':*' covers those streams only.",
        )
        self.logging: iot.CfnLogging | None = None
        if manage_account_setting:
            self.logging = iot.CfnLogging(
                self, "Logging", account_id=Aws.ACCOUNT_ID, role_arn=self.role.role_arn, default_log_level=level
            )
            self.logging.node.add_dependency(self.policy)
