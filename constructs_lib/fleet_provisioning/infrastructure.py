"""Everything one fleet needs to be provisioned: device policy, hook, role, template, claim.

The device policy confines each device to its own topics; the pre-provisioning hook checks the
serial against the allowlist; the provisioning role lets the template create only this fleet's
things; the template ties them together. With claim provisioning, the claim policy (and, when
a CSR is given, the claim certificate, its ID published in SSM) come too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import CfnResource
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from constructs_lib.allowlist import SerialAllowlist
from constructs_lib.claim_certificate import ClaimCertificate
from constructs_lib.claim_policy import ClaimPolicy
from constructs_lib.device_policy import DevicePolicy
from constructs_lib.provisioning_hook import PreProvisioningHook
from constructs_lib.provisioning_role import ProvisioningRole
from constructs_lib.provisioning_template import FleetProvisioningTemplate, TemplateParameter, ThingSpec
from iot_semantics.policies import DeviceTopicAccess


@dataclass(frozen=True)
class ClaimSpec:
    """Claim provisioning of one fleet."""

    policy_name: str
    client_id_prefix: str
    #: The claim CSR: the stack creates the claim certificate from it (the key stays at the factory).
    csr_pem: str | None = None
    #: SSM parameter that publishes the claim certificate's ID (read by other stacks at deploy time).
    certificate_id_parameter: str = ""


@dataclass(frozen=True)
class FleetSpec:
    name: str
    description: str
    template_name: str
    device_policy_name: str
    access: DeviceTopicAccess
    thing: ThingSpec
    parameters: Mapping[str, TemplateParameter]
    parameter_patterns: Mapping[str, str]
    parameter_defaults: Mapping[str, str]
    serial_parameter: str
    #: The literal text every thing name of the fleet starts with (the role's thing-name scope).
    thing_name_prefix: str
    device_configuration: Mapping[str, str]
    enabled: bool
    claim: ClaimSpec | None = None


class FleetProvisioning(Construct):
    """One fleet's provisioning resources; children are public for siblings and tests."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        spec: FleetSpec,
        allowlist: SerialAllowlist,
        registry_resources: Sequence[CfnResource] = (),
    ) -> None:
        super().__init__(scope, id_)
        self.spec = spec
        self.device_policy = DevicePolicy(self, "DevicePolicy", policy_name=spec.device_policy_name, access=spec.access)
        self.hook = PreProvisioningHook(
            self,
            "PreProvisioningHook",
            fleet_name=spec.name,
            allowlist=allowlist,
            serial_parameter=spec.serial_parameter,
            parameter_patterns=spec.parameter_patterns,
            parameter_defaults=spec.parameter_defaults,
            thing_name_template=spec.thing.name,
        )
        self.role = ProvisioningRole(
            self,
            "ProvisioningRole",
            thing_name_prefix=spec.thing_name_prefix,
            thing_type_name=spec.thing.thing_type_name,
            thing_group_names=list(spec.thing.thing_group_names),
            device_policy_name=spec.device_policy_name,
        )
        self.template = FleetProvisioningTemplate(
            self,
            "ProvisioningTemplate",
            template_name=spec.template_name,
            description=spec.description,
            parameters=spec.parameters,
            thing=spec.thing,
            device_policy=self.device_policy.policy,
            device_policy_name=spec.device_policy_name,
            hook=self.hook,
            provisioning_role=self.role,
            device_configuration=dict(spec.device_configuration),
            enabled=spec.enabled,
        )
        for resource in registry_resources:  # the thing type and groups its body names
            self.template.template.add_resource_dependency(resource)
        self.claim_policy: ClaimPolicy | None = None
        self.claim_certificate: ClaimCertificate | None = None
        if spec.claim is not None:
            self._claim(spec.claim)

    def _claim(self, claim: ClaimSpec) -> None:
        self.claim_policy = ClaimPolicy(
            self,
            "ClaimPolicy",
            policy_name=claim.policy_name,
            template_name=self.spec.template_name,
            client_id_prefix=claim.client_id_prefix,
        )
        if claim.csr_pem is None:
            return
        self.claim_certificate = ClaimCertificate(
            self, "ClaimCertificate", csr_pem=claim.csr_pem, policy=self.claim_policy.policy
        )
        # Read by other stacks at deploy time: unlike an export, it can change when the claim
        # certificate is rotated.
        ssm.StringParameter(
            self,
            "ClaimCertificateIdParameter",
            parameter_name=claim.certificate_id_parameter,
            string_value=self.claim_certificate.certificate_id,
            description=f"Claim certificate ID of fleet {self.spec.name}",
        )
