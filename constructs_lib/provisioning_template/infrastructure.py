"""A FLEET_PROVISIONING template with its pre-provisioning hook, role and (optionally) claim policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_iot as iot
from constructs import Construct

from constructs_lib.errors import SynthCheckError
from constructs_lib.provisioning_hook import PreProvisioningHook
from constructs_lib.provisioning_role import ProvisioningRole
from constructs_lib.provisioning_template.body import TemplateParameter, ThingSpec, template_body
from iot_semantics import limits, names


class FleetProvisioningTemplate(Construct):
    """``AWS::IoT::ProvisioningTemplate`` whose body is generated and size-checked at synth."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        template_name: str,
        description: str,
        parameters: Mapping[str, TemplateParameter],
        thing: ThingSpec,
        device_policy: iot.CfnPolicy | None,
        device_policy_name: str | None,
        hook: PreProvisioningHook,
        provisioning_role: ProvisioningRole,
        device_configuration: Mapping[str, str] | None = None,
        enabled: bool = True,
        per_device_policy: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
    ) -> None:
        """``per_device_policy``: (document, the same rendered with the longest ARN prefix), each naming
        the thing as ``THING_NAME_SENTINEL``; every device then gets its own policy instead of
        ``device_policy_name``."""
        super().__init__(scope, id_)
        if not names.TEMPLATE_NAME.fullmatch(template_name):
            raise SynthCheckError(f"template name {template_name!r} breaks ^[0-9A-Za-z_-]{{1,36}}$")
        self.template_name = template_name

        def body(document: Mapping[str, Any] | None) -> dict[str, Any]:
            return template_body(
                parameters=parameters,
                thing=thing,
                policy_name=None if document is not None else device_policy_name,
                policy_document=document,
                device_configuration=device_configuration,
            )

        self.body = body(per_device_policy[0] if per_device_policy else None)
        self.body_text = limits.serialize_template_body(self.body)
        worst = limits.serialize_template_body(body(per_device_policy[1])) if per_device_policy else self.body_text
        if len(worst) > limits.TEMPLATE_BODY_MAX_CHARS:
            raise SynthCheckError(
                f"provisioning template {template_name!r} body is {len(worst)} characters; "
                f"AWS IoT accepts {limits.TEMPLATE_BODY_MAX_CHARS}. Drop attributes or device configuration."
            )
        self.hook_permission = hook.allow_invocation_by_template(template_name)
        self.template = iot.CfnProvisioningTemplate(
            self,
            "Template",
            template_name=template_name,
            description=description or None,
            template_type="FLEET_PROVISIONING",
            enabled=enabled,
            provisioning_role_arn=provisioning_role.role.role_arn,
            template_body=self.body_text,
            pre_provisioning_hook=iot.CfnProvisioningTemplate.ProvisioningHookProperty(
                target_arn=hook.function.function_arn,
                payload_version=limits.PRE_PROVISIONING_HOOK_PAYLOAD_VERSION,
            ),
        )
        # The body names the policy, type and groups by name: they must exist first, and the
        # role's policy and the hook permission must be in place before the first RegisterThing.
        if device_policy is not None:
            self.template.add_resource_dependency(device_policy)
        self.template.node.add_dependency(provisioning_role.policy)
        self.template.add_resource_dependency(self.hook_permission)
        self.template_arn = self.template.attr_template_arn
