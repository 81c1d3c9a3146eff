"""Fleet provisioning: registry, allowlist, and per fleet a template with hook, role and policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, CfnResource, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from config import FleetConfig
from constructs_lib.allowlist import SerialAllowlist
from constructs_lib.certificate_lifecycle import AllowlistParameters
from constructs_lib.claim_certificate import ClaimCertificate
from constructs_lib.claim_policy import ClaimPolicy
from constructs_lib.device_policy import DevicePolicy
from constructs_lib.factory_operator import FactoryOperatorRole
from constructs_lib.fleet_provisioning import FleetProvisioning
from constructs_lib.provisioning_hook import PreProvisioningHook
from constructs_lib.provisioning_template import FleetProvisioningTemplate
from constructs_lib.registry import ThingRegistry
from constructs_lib.tunnel_operator import TunnelOperatorRole
from contracts import outputs
from stacks import plans


class FleetProvisioningStack(Stack):
    """Everything a factory needs to provision the fleets of one config."""

    def __init__(self, scope: Construct, id_: str, *, config: FleetConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        self.config = config
        self.registry = ThingRegistry(
            self, "Registry", thing_types=plans.thing_types(config), thing_groups=plans.thing_groups(config)
        )
        self.allowlist = SerialAllowlist(self, "Allowlist", retain=config.retain_data)
        self.fleets: dict[str, FleetProvisioning] = {}
        for fleet in config.fleets:
            spec = plans.fleet_spec(config, fleet)
            registry_resources: list[CfnResource] = [self.registry.thing_types[spec.thing.thing_type_name]]
            registry_resources += [self.registry.thing_groups[g] for g in spec.thing.thing_group_names]
            built = FleetProvisioning(
                self,
                plans.fleet_construct_id(fleet.name),
                spec=spec,
                allowlist=self.allowlist,
                registry_resources=registry_resources,
            )
            self.fleets[fleet.name] = built
            self._outputs(plans.fleet_outputs(spec))
            if built.claim_certificate is not None:
                key = outputs.fleet_key(fleet.name, outputs.FleetOutput.CLAIM_CERTIFICATE_ID)
                CfnOutput(self, key, value=built.claim_certificate.certificate_id)
            if built.token_exchange_role is not None:
                key = outputs.fleet_key(fleet.name, outputs.FleetOutput.TOKEN_EXCHANGE_ROLE_ARN)
                CfnOutput(self, key, value=built.token_exchange_role.role.role_arn)
        self.operator = self._factory_operator(config)
        self.tunnel_operator = self._tunnel_operator(config)
        AllowlistParameters(
            self,
            "AllowlistParameters",
            allowlist=self.allowlist,
            table_parameter=plans.allowlist_parameter(config, "table-name"),
            key_parameter=plans.allowlist_parameter(config, "key-arn"),
        )
        CfnOutput(
            self,
            outputs.ALLOWLIST_TABLE_NAME,
            value=self.allowlist.table.table_name,
            description="DynamoDB table of allowlisted serials (fleet, serial)",
        )
        CfnOutput(self, outputs.FLEET_NAMES, value=",".join(f.name for f in config.fleets))

    def _factory_operator(self, config: FleetConfig) -> FactoryOperatorRole | None:
        trusted = [config.template_name_of(f) for f in config.fleets if f.provisioning.trusted_user]
        if not trusted:
            return None
        principals: list[iam.IPrincipal] = [iam.ArnPrincipal(a) for a in config.factory.operator_principals]
        operator = FactoryOperatorRole(
            self,
            "FactoryOperator",
            template_names=trusted,
            principals=principals or [iam.AccountRootPrincipal()],
            external_id=config.factory.external_id,
        )
        CfnOutput(
            self,
            outputs.FACTORY_OPERATOR_ROLE_ARN,
            value=operator.role.role_arn,
            description="Role a factory station assumes for trusted-user provisioning",
        )
        return operator

    def _tunnel_operator(self, config: FleetConfig) -> TunnelOperatorRole | None:
        plan = plans.tunnel_operator_plan(config)
        if plan is None:
            return None
        principals: list[iam.IPrincipal] = [iam.ArnPrincipal(a) for a in plan.principals]
        operator = TunnelOperatorRole(
            self,
            "TunnelOperator",
            principals=principals or [iam.AccountRootPrincipal()],
            thing_group_names=plan.thing_group_names,
            services=plan.services,
            scope_value=plan.scope_value,
            max_lifetime_minutes=plan.max_lifetime_minutes,
            external_id=plan.external_id,
            require_mfa=plan.require_mfa,
        )
        for group in plan.thing_group_names:  # the groups its conditions name exist first
            operator.role.node.add_dependency(self.registry.thing_groups[group])
        CfnOutput(
            self,
            outputs.TUNNEL_OPERATOR_ROLE_ARN,
            value=operator.role.role_arn,
            description="Role an operator assumes to open secure tunnels to the named thing groups",
        )
        return operator

    def _outputs(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            CfnOutput(self, key, value=value)

    # Each fleet's parts, by fleet name (for siblings and tests) ------------------------------------

    @property
    def templates(self) -> dict[str, FleetProvisioningTemplate]:
        return {name: f.template for name, f in self.fleets.items()}

    @property
    def device_policies(self) -> dict[str, DevicePolicy]:
        return {name: f.device_policy for name, f in self.fleets.items() if f.device_policy is not None}

    @property
    def hooks(self) -> dict[str, PreProvisioningHook]:
        return {name: f.hook for name, f in self.fleets.items()}

    @property
    def claim_policies(self) -> dict[str, ClaimPolicy]:
        return {name: f.claim_policy for name, f in self.fleets.items() if f.claim_policy is not None}

    @property
    def claim_certificates(self) -> dict[str, ClaimCertificate]:
        return {name: f.claim_certificate for name, f in self.fleets.items() if f.claim_certificate is not None}
