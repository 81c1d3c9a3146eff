"""Everything one fleet needs to be provisioned: device policy, hook, role, template, claim.

The device policy confines each device to its own topics; the pre-provisioning hook checks the
serial against the allowlist; the provisioning role lets the template create only this fleet's
things; the template ties them together. With claim provisioning, the claim policy (and, when
a CSR is given, the claim certificate, its ID published in SSM) come too.

A Greengrass core fleet has no shared device policy: the template gives each core its own policy
(Greengrass does not support thing policy variables for cores), and the fleet gets its token
exchange role and the role alias the cores reach it through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnResource
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from constructs_lib.allowlist import SerialAllowlist
from constructs_lib.arns import IOT_ARN_PREFIX
from constructs_lib.claim_certificate import ClaimCertificate
from constructs_lib.claim_policy import ClaimPolicy
from constructs_lib.device_policy import DevicePolicy
from constructs_lib.errors import SynthCheckError
from constructs_lib.provisioning_hook import PreProvisioningHook
from constructs_lib.provisioning_role import ProvisioningRole
from constructs_lib.provisioning_template import (
    THING_NAME_SENTINEL,
    FleetProvisioningTemplate,
    TemplateParameter,
    ThingSpec,
)
from constructs_lib.role_alias import RoleAlias
from constructs_lib.token_exchange_role import ArtifactGrant, TokenExchangeRole
from iot_semantics import limits
from iot_semantics.arns import WORST_CASE_IOT_ARN_PREFIX
from iot_semantics.policies import CoreAccess, DeviceTopicAccess, core_policy_document


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
class CoreSpec:
    """A Greengrass V2 core fleet: each core's policy, its token exchange role and role alias."""

    access: CoreAccess
    core_thing_group_name: str
    credential_duration_seconds: int
    max_session_duration_seconds: int
    artifacts: tuple[ArtifactGrant, ...] = ()
    #: The longest thing name the fleet's parameters can produce (for the policy size check).
    thing_name_max_length: int = limits.THING_NAME_MAX
    #: The log streams each core may write (None: any stream of Greengrass's log groups).
    log_stream_pattern: str | None = None
    #: The device fleets whose things connect to these cores as Greengrass client devices.
    client_device_fleets: tuple[str, ...] = ()


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
    core: CoreSpec | None = None
    #: Parameters whose values only the allowlist (or their default) gives, never the device.
    trusted_parameters: tuple[str, ...] = ()


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
        self.device_policy: DevicePolicy | None = None
        self.token_exchange_role: TokenExchangeRole | None = None
        self.role_alias: RoleAlias | None = None
        per_device = None
        if spec.core is None:
            self.device_policy = DevicePolicy(
                self, "DevicePolicy", policy_name=spec.device_policy_name, access=spec.access
            )
        else:
            per_device = self._core(spec.core)
        self.hook = PreProvisioningHook(
            self,
            "PreProvisioningHook",
            fleet_name=spec.name,
            allowlist=allowlist,
            serial_parameter=spec.serial_parameter,
            parameter_patterns=spec.parameter_patterns,
            parameter_defaults=spec.parameter_defaults,
            thing_name_template=spec.thing.name,
            trusted_parameters=spec.trusted_parameters,
        )
        self.role = ProvisioningRole(
            self,
            "ProvisioningRole",
            thing_name_prefix=spec.thing_name_prefix,
            thing_type_name=spec.thing.thing_type_name,
            thing_group_names=list(spec.thing.thing_group_names),
            device_policy_name=spec.device_policy_name if spec.core is None else None,
        )
        self.template = FleetProvisioningTemplate(
            self,
            "ProvisioningTemplate",
            template_name=spec.template_name,
            description=spec.description,
            parameters=spec.parameters,
            thing=spec.thing,
            device_policy=self.device_policy.policy if self.device_policy else None,
            device_policy_name=spec.device_policy_name if spec.core is None else None,
            hook=self.hook,
            provisioning_role=self.role,
            device_configuration=dict(spec.device_configuration),
            enabled=spec.enabled,
            per_device_policy=per_device,
        )
        for resource in registry_resources:  # the thing type and groups its body names
            self.template.template.add_resource_dependency(resource)
        self.claim_policy: ClaimPolicy | None = None
        self.claim_certificate: ClaimCertificate | None = None
        if spec.claim is not None:
            self._claim(spec.claim)

    def _core(self, core: CoreSpec) -> tuple[dict[str, Any], dict[str, Any]]:
        """The token exchange role, its role alias, and each core's policy (deploy form, worst-case form)."""
        self.token_exchange_role = TokenExchangeRole(
            self,
            "TokenExchangeRole",
            fleet_name=self.spec.name,
            max_session_duration_seconds=core.max_session_duration_seconds,
            artifacts=core.artifacts,
            log_stream_pattern=core.log_stream_pattern,
        )
        self.role_alias = RoleAlias(
            self,
            "RoleAlias",
            alias_name=core.access.role_alias_name,
            role=self.token_exchange_role.role,
            role_max_session_seconds=core.max_session_duration_seconds,
            credential_duration_seconds=core.credential_duration_seconds,
        )
        longest = core_policy_document(core.access, "x" * core.thing_name_max_length, WORST_CASE_IOT_ARN_PREFIX)
        size = limits.non_whitespace_length(longest)
        if size > limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE:
            raise SynthCheckError(
                f"the core policy of fleet {self.spec.name!r} is {size} non-whitespace characters for its longest "
                f"thing name in the longest region; AWS IoT accepts {limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE}. "
                "Use fewer topic namespaces or shorter thing names."
            )
        self.core_policy_worst_case_size = size
        return (
            core_policy_document(core.access, THING_NAME_SENTINEL, IOT_ARN_PREFIX),
            core_policy_document(core.access, THING_NAME_SENTINEL, WORST_CASE_IOT_ARN_PREFIX),
        )

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
