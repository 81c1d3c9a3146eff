"""The factory operator role: trusted-user provisioning (CreateProvisioningClaim) on named templates only."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib.arns import IOT_ARN_PREFIX


class FactoryOperatorRole(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        template_names: Sequence[str],
        principals: Sequence[iam.IPrincipal],
        external_id: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        if not template_names:
            raise ValueError("a factory operator role needs at least one template")
        assumed_by: iam.IPrincipal = iam.CompositePrincipal(*principals) if len(principals) > 1 else principals[0]
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=assumed_by,
            external_ids=[external_id] if external_id else None,
            max_session_duration=Duration.hours(1),
            description="Factory station: create temporary provisioning claims for the fleet templates",
        )
        self.policy = iam.Policy(
            self,
            "Policy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="CreateProvisioningClaimsForFleetTemplates",
                    actions=["iot:CreateProvisioningClaim"],
                    resources=[f"{IOT_ARN_PREFIX}:provisioningtemplate/{name}" for name in template_names],
                )
            ],
        )
