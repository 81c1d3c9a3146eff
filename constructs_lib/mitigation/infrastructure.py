"""Device Defender mitigation actions, each with its own least-privilege role trusted by AWS IoT."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib import nag
from constructs_lib.alerting.infrastructure import PUBLISH_KEY_ACTIONS
from constructs_lib.arns import IOT_ARN_PREFIX
from constructs_lib.iot_service import iot_service_role


class MitigationActions(Construct):
    """QUARANTINE (add to group), DEACTIVATE certificate, BLANK policy version, ENABLE logging, PUBLISH to SNS."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name_prefix: str,
        quarantine_group_name: str,
        topic: sns.ITopic,
        topic_key: kms.IKey,
        logging_role: iam.IRole,
        log_level: str,
    ) -> None:
        super().__init__(scope, id_)
        self.actions: dict[str, iot.CfnMitigationAction] = {}
        self.roles: dict[str, iam.Role] = {}
        self._policies: dict[str, iam.Policy] = {}

        quarantine = self._role(
            "AddThingsToThingGroup",
            "Mitigation: move things into the quarantine group",
            [
                # ListPrincipalThings names no resource type in the IAM reference; '*' is its only form.
                iam.PolicyStatement(
                    sid="FindThingsOfCertificate", actions=["iot:ListPrincipalThings"], resources=["*"]
                ),
                iam.PolicyStatement(
                    sid="AddToQuarantineGroupOnly",
                    actions=["iot:AddThingToThingGroup"],
                    # 'thing/*': any thing of the account may have to be quarantined.
                    resources=[f"{IOT_ARN_PREFIX}:thinggroup/{quarantine_group_name}", f"{IOT_ARN_PREFIX}:thing/*"],
                ),
            ],
            {
                "Resource::*": "iot:ListPrincipalThings has no resource-level permissions; the action only lists.",
                nag.iot_resource_finding("thing/*"): (
                    "Any thing in the account can be the subject of a finding; the group ARN is fixed to quarantine."
                ),
            },
        )
        self._action(
            "QuarantineThings",
            quarantine,
            iot.CfnMitigationAction.ActionParamsProperty(
                add_things_to_thing_group_params=iot.CfnMitigationAction.AddThingsToThingGroupParamsProperty(
                    thing_group_names=[quarantine_group_name], override_dynamic_groups=True
                )
            ),
            name_prefix,
        )

        deactivate = self._role(
            "UpdateDeviceCertificate",
            "Mitigation: deactivate a device certificate",
            [
                iam.PolicyStatement(
                    sid="DeactivateCertificates",
                    actions=["iot:UpdateCertificate"],
                    resources=[f"{IOT_ARN_PREFIX}:cert/*"],
                )
            ],
            {nag.iot_resource_finding("cert/*"): "The certificate in a finding is only known when the finding exists."},
        )
        self._action(
            "DeactivateDeviceCertificate",
            deactivate,
            iot.CfnMitigationAction.ActionParamsProperty(
                update_device_certificate_params=iot.CfnMitigationAction.UpdateDeviceCertificateParamsProperty(
                    action="DEACTIVATE"
                )
            ),
            name_prefix,
        )

        blank = self._role(
            "ReplaceDefaultPolicyVersion",
            "Mitigation: replace an overly permissive policy with a blank version",
            [
                iam.PolicyStatement(
                    sid="CreateBlankPolicyVersion",
                    actions=["iot:CreatePolicyVersion"],
                    resources=[f"{IOT_ARN_PREFIX}:policy/*"],
                )
            ],
            {nag.iot_resource_finding("policy/*"): "The policy in an audit finding is only known when it is found."},
        )
        self._action(
            "ReplaceWithBlankPolicy",
            blank,
            iot.CfnMitigationAction.ActionParamsProperty(
                replace_default_policy_version_params=iot.CfnMitigationAction.ReplaceDefaultPolicyVersionParamsProperty(
                    template_name="BLANK_POLICY"
                )
            ),
            name_prefix,
        )

        enable_logging = self._role(
            "EnableIoTLogging",
            "Mitigation: turn on AWS IoT logging",
            [
                # SetV2LoggingOptions is account-wide and takes no resource.
                iam.PolicyStatement(sid="SetLogging", actions=["iot:SetV2LoggingOptions"], resources=["*"]),
                iam.PolicyStatement(
                    sid="PassOnlyTheLoggingRole",
                    actions=["iam:PassRole"],
                    resources=[logging_role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "iot.amazonaws.com"}},
                ),
            ],
            {"Resource::*": "iot:SetV2LoggingOptions is an account setting with no resource-level permission."},
        )
        self._action(
            "EnableIotLogging",
            enable_logging,
            iot.CfnMitigationAction.ActionParamsProperty(
                enable_io_t_logging_params=iot.CfnMitigationAction.EnableIoTLoggingParamsProperty(
                    log_level=log_level, role_arn_for_logging=logging_role.role_arn
                )
            ),
            name_prefix,
        )

        publish = self._role(
            "PublishFindingToSns",
            "Mitigation: publish the finding to the security topic",
            [
                iam.PolicyStatement(sid="PublishFinding", actions=["sns:Publish"], resources=[topic.topic_arn]),
                iam.PolicyStatement(sid="EncryptForTopic", actions=PUBLISH_KEY_ACTIONS, resources=[topic_key.key_arn]),
            ],
            {},
        )
        self._action(
            "PublishFindingToSns",
            publish,
            iot.CfnMitigationAction.ActionParamsProperty(
                publish_finding_to_sns_params=iot.CfnMitigationAction.PublishFindingToSnsParamsProperty(
                    topic_arn=topic.topic_arn
                )
            ),
            name_prefix,
        )

    def _role(
        self, id_: str, description: str, statements: list[iam.PolicyStatement], acks: dict[str, str]
    ) -> iam.Role:
        role = iot_service_role(self, f"{id_}Role", description=description)
        policy = iam.Policy(self, f"{id_}Policy", roles=[role], statements=statements)
        for finding, reason in acks.items():
            nag.acknowledge(policy, "IAM5", finding, reason)
        self.roles[id_] = role
        self._policies[id_] = policy
        return role

    def _action(
        self, name: str, role: iam.Role, params: iot.CfnMitigationAction.ActionParamsProperty, prefix: str
    ) -> None:
        action = iot.CfnMitigationAction(
            self, name, action_name=f"{prefix}-{name}", role_arn=role.role_arn, action_params=params
        )
        action.node.add_dependency(self._policies[role.node.id.removesuffix("Role")])
        self.actions[name] = action
