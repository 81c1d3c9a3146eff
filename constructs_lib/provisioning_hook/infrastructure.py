"""The pre-provisioning hook Lambda of one fleet, its role, log group and invoke permission."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_lib.allowlist import SerialAllowlist
from constructs_lib.arns import IOT_ARN_PREFIX
from constructs_lib.errors import SynthCheckError
from iot_semantics import limits

RUNTIME_DIR = Path(__file__).with_name("runtime")
#: Lambda timeout: well inside the 5 s AWS IoT gives the hook (DynamoDB calls are bounded lower).
TIMEOUT = Duration.seconds(3)


class PreProvisioningHook(Construct):
    """Validates parameters and claims the serial in the allowlist for every RegisterThing."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        fleet_name: str,
        allowlist: SerialAllowlist,
        serial_parameter: str,
        parameter_patterns: Mapping[str, str],
        parameter_defaults: Mapping[str, str],
        thing_name_template: str,
        trusted_parameters: Sequence[str] = (),
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
    ) -> None:
        super().__init__(scope, id_)
        if TIMEOUT.to_seconds() >= limits.PRE_PROVISIONING_HOOK_BUDGET_SECONDS:
            raise SynthCheckError("the hook's timeout must stay below the 5 s AWS IoT allows")
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.RETAIN)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Pre-provisioning hook of fleet {fleet_name}: its allowlist partition and log group only",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ClaimSerialsOfThisFleetOnly",
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[allowlist.table.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [fleet_name]}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="UseTheAllowlistKeyThroughDynamoDB",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[allowlist.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Aws.REGION}.amazonaws.com"}},
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
            timeout=TIMEOUT,
            memory_size=256,
            role=self.role,
            log_group=self.log_group,
            description=f"AWS IoT pre-provisioning hook for fleet {fleet_name}",
            environment={
                "ALLOWLIST_TABLE": allowlist.table.table_name,
                "FLEET_NAME": fleet_name,
                "SERIAL_PARAMETER": serial_parameter,
                "PARAMETER_PATTERNS": json.dumps(dict(parameter_patterns), sort_keys=True),
                "PARAMETER_DEFAULTS": json.dumps(dict(parameter_defaults), sort_keys=True),
                "THING_NAME_TEMPLATE": thing_name_template,
                **({"TRUSTED_PARAMETERS": json.dumps(sorted(trusted_parameters))} if trusted_parameters else {}),
            },
        )

    def allow_invocation_by_template(self, template_name: str) -> lambda_.CfnPermission:
        """Let AWS IoT invoke the hook for ``template_name`` only (confused-deputy safe)."""
        template_arn = f"{IOT_ARN_PREFIX}:provisioningtemplate/{template_name}"
        self.function.add_permission(
            "InvokeByProvisioningTemplate",
            principal=iam.ServicePrincipal("iot.amazonaws.com"),
            action="lambda:InvokeFunction",
            source_arn=template_arn,
            source_account=Aws.ACCOUNT_ID,
        )
        child = self.function.node.find_child("InvokeByProvisioningTemplate")
        if not isinstance(child, lambda_.CfnPermission):  # pragma: no cover - CDK contract
            raise SynthCheckError("lambda permission was not created")
        return child
