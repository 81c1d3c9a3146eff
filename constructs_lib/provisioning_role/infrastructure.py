"""The role AWS IoT assumes to run one provisioning template, scoped to what that template creates.

Replaces the AWSIoTThingsRegistration managed policy (every registry action on ``*``) with the
actions a FLEET_PROVISIONING template with a thing, a certificate by ID and a named policy needs,
on the thing-name prefix, the thing type, the groups and the device policy of this fleet.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib import nag
from constructs_lib.arns import IOT_ARN_PREFIX
from constructs_lib.iot_service import iot_service_role


class ProvisioningRole(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        thing_name_prefix: str,
        thing_type_name: str,
        thing_group_names: Sequence[str],
        device_policy_name: str | None,
    ) -> None:
        """``device_policy_name`` None: the template gives each device its own policy document."""
        super().__init__(scope, id_)
        self.role = iot_service_role(
            self, "Role", description=f"Runs fleet provisioning for things named {thing_name_prefix}*"
        )
        # '*' after the fixed start of the fleet's thing names: thing names are chosen per device.
        things = f"{IOT_ARN_PREFIX}:thing/{thing_name_prefix}*"
        groups = [f"{IOT_ARN_PREFIX}:thinggroup/{g}" for g in thing_group_names]
        statements = [
            iam.PolicyStatement(
                sid="CreateAndUpdateThingsOfThisFleet",
                actions=[
                    "iot:CreateThing",
                    "iot:DescribeThing",
                    "iot:UpdateThing",
                    "iot:AttachThingPrincipal",
                    "iot:ListThingPrincipals",
                    "iot:ListThingGroupsForThing",
                    "iot:UpdateThingGroupsForThing",
                ],
                resources=[things],
            ),
            iam.PolicyStatement(
                sid="UseThisFleetsThingType",
                actions=["iot:DescribeThingType"],
                resources=[f"{IOT_ARN_PREFIX}:thingtype/{thing_type_name}"],
            ),
            (
                iam.PolicyStatement(
                    sid="AttachTheDevicePolicy",
                    actions=["iot:GetPolicy", "iot:AttachPolicy", "iot:AttachPrincipalPolicy"],
                    resources=[f"{IOT_ARN_PREFIX}:policy/{device_policy_name}"],
                )
                if device_policy_name is not None
                else iam.PolicyStatement(
                    sid="CreateAndAttachEachDevicesOwnPolicy",
                    actions=["iot:CreatePolicy", "iot:GetPolicy", "iot:AttachPolicy", "iot:AttachPrincipalPolicy"],
                    # 'policy/*': AWS IoT names a template's inline policy by the hash of its document.
                    resources=[f"{IOT_ARN_PREFIX}:policy/*"],
                )
            ),
            iam.PolicyStatement(
                sid="ActivateNewDeviceCertificates",
                actions=[
                    "iot:DescribeCertificate",
                    "iot:UpdateCertificate",
                    "iot:AttachPolicy",
                    "iot:AttachPrincipalPolicy",
                ],
                # 'cert/*': the certificate ID is only known when the device calls RegisterThing.
                resources=[f"{IOT_ARN_PREFIX}:cert/*"],
            ),
        ]
        if groups:
            statements.append(
                iam.PolicyStatement(
                    sid="AddThingsToThisFleetsGroups",
                    actions=["iot:AddThingToThingGroup", "iot:DescribeThingGroup"],
                    resources=[*groups, things],
                )
            )
        self.policy = iam.Policy(self, "Policy", statements=statements, roles=[self.role])
        nag.acknowledge(
            self.policy,
            "IAM5",
            nag.iot_resource_finding("cert/*"),
            "AWS IoT activates and attaches the device's new certificate, whose ID exists only at "
            "RegisterThing time; the actions are limited to describe/update/attach-policy.",
        )
        if device_policy_name is None:
            nag.acknowledge(
                self.policy,
                "IAM5",
                nag.iot_resource_finding("policy/*"),
                "Each device gets its own policy from the template's PolicyDocument, which AWS IoT names by "
                "the document's hash; only AWS IoT running this template's fixed body assumes the role.",
            )
        if thing_name_prefix:
            nag.acknowledge(
                self.policy,
                "IAM5",
                nag.iot_resource_finding(f"thing/{thing_name_prefix}*"),
                f"Things of this fleet are named {thing_name_prefix}<parameters> per device; the '*' "
                "covers exactly the names this template can create.",
            )
        else:
            nag.acknowledge(
                self.policy,
                "IAM5",
                nag.iot_resource_finding("thing/*"),
                "The fleet's thing names start with a device parameter, so no fixed prefix exists; the "
                "template and its hook decide which names are created.",
            )
