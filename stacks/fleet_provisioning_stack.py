"""Fleet provisioning: registry, allowlist, and per fleet a template with hook, role and policies."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from config import Fleet, FleetConfig
from config.patterns import parse_name_template
from constructs_lib.allowlist import SerialAllowlist
from constructs_lib.claim_certificate import ClaimCertificate
from constructs_lib.claim_policy import ClaimPolicy
from constructs_lib.device_policy import DevicePolicy
from constructs_lib.factory_operator import FactoryOperatorRole
from constructs_lib.provisioning_hook import PreProvisioningHook
from constructs_lib.provisioning_role import ProvisioningRole
from constructs_lib.provisioning_template import FleetProvisioningTemplate, TemplateParameter, ThingSpec
from constructs_lib.registry import ThingGroupSpec, ThingRegistry, ThingTypeSpec
from iot_semantics.policies import DeviceTopicAccess


def claim_certificate_parameter(config: FleetConfig, fleet_name: str) -> str:
    """SSM parameter holding the ID of the claim certificate the stack made for ``fleet_name``."""
    return f"/{config.name_prefix}/{config.stage}/fleets/{fleet_name}/claim-certificate-id"


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-") if part)


class FleetProvisioningStack(Stack):
    """Everything a factory needs to provision the fleets of one config."""

    def __init__(self, scope: Construct, id_: str, *, config: FleetConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        self.config = config
        self.registry = ThingRegistry(
            self,
            "Registry",
            thing_types=[
                ThingTypeSpec(config.thing_type_name(t.name), t.description, t.searchable_attributes)
                for t in config.thing_types
            ],
            thing_groups=[
                ThingGroupSpec(
                    config.thing_group_name(g.name),
                    g.description,
                    config.thing_group_name(g.parent) if g.parent else None,
                )
                for g in config.thing_groups
            ],
        )
        self.allowlist = SerialAllowlist(self, "Allowlist", retain=config.retain_data)
        self.templates: dict[str, FleetProvisioningTemplate] = {}
        self.device_policies: dict[str, DevicePolicy] = {}
        self.claim_policies: dict[str, ClaimPolicy] = {}
        self.claim_certificates: dict[str, ClaimCertificate] = {}
        self.hooks: dict[str, PreProvisioningHook] = {}
        for fleet in config.fleets:
            self._fleet(fleet)

        trusted = [config.template_name_of(f) for f in config.fleets if f.provisioning.trusted_user]
        self.operator: FactoryOperatorRole | None = None
        if trusted:
            principals: list[iam.IPrincipal] = [iam.ArnPrincipal(a) for a in config.factory.operator_principals]
            self.operator = FactoryOperatorRole(
                self,
                "FactoryOperator",
                template_names=trusted,
                principals=principals or [iam.AccountRootPrincipal()],
                external_id=config.factory.external_id,
            )
            CfnOutput(
                self,
                "FactoryOperatorRoleArn",
                value=self.operator.role.role_arn,
                description="Role a factory station assumes for trusted-user provisioning",
            )
        CfnOutput(
            self,
            "AllowlistTableName",
            value=self.allowlist.table.table_name,
            description="DynamoDB table of allowlisted serials (fleet, serial)",
        )
        CfnOutput(self, "FleetNames", value=",".join(f.name for f in config.fleets))

    def _fleet(self, fleet: Fleet) -> None:
        config = self.config
        scope = Construct(self, f"Fleet{pascal(fleet.name)}")
        type_name = config.thing_type_name(fleet.thing_type)
        group_names = [config.thing_group_name(g) for g in fleet.thing_groups]
        template_name = config.template_name_of(fleet)
        policy_name = config.device_policy_name_of(fleet)
        features = fleet.features

        device_policy = DevicePolicy(
            scope,
            "DevicePolicy",
            policy_name=policy_name,
            access=DeviceTopicAccess(
                thing_type_name=type_name,
                publish_namespaces=fleet.topics.publish,
                subscribe_namespaces=fleet.topics.subscribe,
                shadow=features.shadow,
                jobs=features.jobs,
                defender_metrics_format=features.defender_metrics_format if features.defender_metrics else None,
                tunnel_notify=features.tunnel_notify,
            ),
        )
        hook = PreProvisioningHook(
            scope,
            "PreProvisioningHook",
            fleet_name=fleet.name,
            allowlist=self.allowlist,
            serial_parameter=fleet.serial_parameter,
            parameter_patterns={k: p.pattern for k, p in fleet.parameters.items()},
            parameter_defaults={k: p.default for k, p in fleet.parameters.items() if p.default is not None},
            thing_name_template=fleet.thing_name,
        )
        role = ProvisioningRole(
            scope,
            "ProvisioningRole",
            thing_name_prefix=parse_name_template(fleet.thing_name).literal_prefix,
            thing_type_name=type_name,
            thing_group_names=group_names,
            device_policy_name=policy_name,
        )
        template = FleetProvisioningTemplate(
            scope,
            "ProvisioningTemplate",
            template_name=template_name,
            description=fleet.description,
            parameters={k: TemplateParameter(p.default) for k, p in fleet.parameters.items()},
            thing=ThingSpec(
                name=fleet.thing_name,
                thing_type_name=type_name,
                thing_group_names=tuple(group_names),
                attributes=dict(fleet.attributes),
            ),
            device_policy=device_policy.policy,
            device_policy_name=policy_name,
            hook=hook,
            provisioning_role=role,
            device_configuration=dict(fleet.device_configuration),
            enabled=fleet.provisioning.enabled,
        )
        template.template.add_resource_dependency(self.registry.thing_types[type_name])
        for group in group_names:
            template.template.add_resource_dependency(self.registry.thing_groups[group])
        self.templates[fleet.name] = template
        self.device_policies[fleet.name] = device_policy
        self.hooks[fleet.name] = hook

        key = f"Fleet{pascal(fleet.name)}"
        CfnOutput(self, f"{key}TemplateName", value=template_name)
        CfnOutput(self, f"{key}DevicePolicyName", value=policy_name)
        CfnOutput(self, f"{key}ThingNameTemplate", value=fleet.thing_name)
        CfnOutput(self, f"{key}SerialParameter", value=fleet.serial_parameter)
        CfnOutput(
            self,
            f"{key}ParameterPatterns",
            value=json.dumps({k: p.pattern for k, p in fleet.parameters.items()}, sort_keys=True),
        )
        CfnOutput(
            self,
            f"{key}ParameterDefaults",
            value=json.dumps(
                {k: p.default for k, p in fleet.parameters.items() if p.default is not None}, sort_keys=True
            ),
        )
        CfnOutput(self, f"{key}PublishNamespaces", value=json.dumps(list(fleet.topics.publish)))
        if fleet.provisioning.by_claim:
            claim_policy = ClaimPolicy(
                scope,
                "ClaimPolicy",
                policy_name=config.claim_policy_name_of(fleet),
                template_name=template_name,
                client_id_prefix=config.claim_prefix_of(fleet),
            )
            self.claim_policies[fleet.name] = claim_policy
            CfnOutput(self, f"{key}ClaimPolicyName", value=claim_policy.policy_name)
            CfnOutput(self, f"{key}ClaimClientIdPrefix", value=claim_policy.client_id_prefix)
            if fleet.provisioning.claim_csr_pem:
                cert = ClaimCertificate(
                    scope, "ClaimCertificate", csr_pem=fleet.provisioning.claim_csr_pem, policy=claim_policy.policy
                )
                self.claim_certificates[fleet.name] = cert
                CfnOutput(self, f"{key}ClaimCertificateId", value=cert.certificate_id)
                # Read by other stacks at deploy time: unlike an export, it can change when the
                # claim certificate is rotated.
                ssm.StringParameter(
                    scope,
                    "ClaimCertificateIdParameter",
                    parameter_name=claim_certificate_parameter(config, fleet.name),
                    string_value=cert.certificate_id,
                    description=f"Claim certificate ID of fleet {fleet.name}",
                )
