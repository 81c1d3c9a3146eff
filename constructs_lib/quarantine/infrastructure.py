"""Quarantine: a static thing group whose IoT policy denies everything, attached by a custom resource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_lib.arns import IOT_ARN_PREFIX

RUNTIME_DIR = Path(__file__).with_name("runtime")


def deny_all_policy_document() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "QuarantineDeniesEverything",
                "Effect": "Deny",
                # '*' on both: a quarantined device may do nothing at all; an explicit Deny in a
                # thing-group policy overrides every Allow of its certificate's policies.
                "Action": "iot:*",
                "Resource": "*",
            }
        ],
    }


class Quarantine(Construct):
    def __init__(self, scope: Construct, id_: str, *, group_name: str, policy_name: str) -> None:
        super().__init__(scope, id_)
        self.group_name = group_name
        self.group = iot.CfnThingGroup(
            self,
            "Group",
            thing_group_name=group_name,
            thing_group_properties=iot.CfnThingGroup.ThingGroupPropertiesProperty(
                thing_group_description="Things isolated by Device Defender mitigation or an operator"
            ),
        )
        self.policy = iot.CfnPolicy(self, "Policy", policy_name=policy_name, policy_document=deny_all_policy_document())
        group_arn = f"{IOT_ARN_PREFIX}:thinggroup/{group_name}"
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Attaches the quarantine policy to the quarantine thing group",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AttachQuarantinePolicyToGroup",
                actions=["iot:AttachPolicy", "iot:DetachPolicy"],
                resources=[f"{IOT_ARN_PREFIX}:policy/{policy_name}", group_arn],
            )
        )
        log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "AttachFunction",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(RUNTIME_DIR), exclude=["__pycache__", "*.pyc", "__init__.py"]),
            timeout=Duration.seconds(60),
            memory_size=128,
            role=role,
            log_group=log_group,
            description="Custom resource: IoT policy attachment to a thing group",
        )
        self.attachment = CustomResource(
            self,
            "PolicyAttachment",
            service_token=self.function.function_arn,
            resource_type="Custom::IotThingGroupPolicyAttachment",
            properties={"PolicyName": self.policy.ref, "ThingGroupArn": self.group.attr_arn},
        )
