"""What the reader finds in a cloud assembly: stacks, and per resource type one typed record.

Values inside records are already resolved by the resolver the assembly was loaded with:
readable placeholders (``${AWS::Region}``, ``${Role.Arn}``) for the policy review, or concrete
names and ARNs for a deployment in one account and region (the local double).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar


@dataclass(frozen=True)
class Location:
    """Where a resource sits: its stack, logical ID, construct path and CloudFormation type."""

    stack: str
    logical_id: str
    #: ``aws:cdk:path`` (from the template or the stack's metadata), else the logical ID.
    path: str
    type: str


@dataclass(frozen=True)
class Located:
    """A record of one template resource: ``at`` says where; ``stack``, ``logical_id``, ``path`` read it."""

    at: Location

    @property
    def stack(self) -> str:
        return self.at.stack

    @property
    def logical_id(self) -> str:
        return self.at.logical_id

    @property
    def path(self) -> str:
        return self.at.path


class PolicyRole(StrEnum):
    """What an IoT policy is for, decided from its structure (``cloud_assembly.roles``)."""

    #: Attached to devices by a provisioning template (named or embedded in its body).
    DEVICE = "device"
    #: Lets a claim certificate call a template's RegisterThing API.
    CLAIM = "claim"
    #: A Greengrass core device's policy (Greengrass actions or its reserved health topics).
    CORE_DEVICE = "core-device"
    #: Denies every data-plane action and allows nothing (a quarantine group's policy).
    QUARANTINE = "quarantine"
    #: None of the above.
    OTHER = ""


@dataclass(frozen=True)
class IotPolicy(Located):
    name: str
    #: The document; empty when it could not be read (``problems`` says why).
    document: dict[str, Any]
    role: PolicyRole = PolicyRole.OTHER
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class InlinePolicy:
    name: str
    document: dict[str, Any]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class IamRole(Located):
    """``AWS::IAM::Role`` (``kind`` "role"), or ``AWS::IAM::User``/``Group`` (no trust policy)."""

    trust: dict[str, Any]
    inline: tuple[InlinePolicy, ...]
    #: Managed policy ARNs as resolved text (a Ref to a managed policy of this stack reads ``${Logical}``).
    managed_policy_arns: tuple[str, ...]
    kind: str = "role"
    #: ``RoleName``/``UserName``/``GroupName`` when the template sets one, else the logical ID.
    name: str = ""
    #: Logical IDs of this stack's ``AWS::IAM::ManagedPolicy`` resources named in ``ManagedPolicyArns``.
    managed_policy_refs: tuple[str, ...] = ()
    trust_problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class IamPolicy(Located):
    """``AWS::IAM::Policy``, ``ManagedPolicy``, ``RolePolicy``, ``UserPolicy`` or ``GroupPolicy``.

    ``roles``/``users``/``groups`` are logical IDs of this stack (named by ``Ref``); ``*_names``
    hold names given as text, matched against the identities' own names.
    """

    name: str
    document: dict[str, Any]
    roles: tuple[str, ...]
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    role_names: tuple[str, ...] = ()
    managed: bool = False
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourcePolicy(Located):
    """A resource-based policy: a KMS key policy, an SNS topic, SQS queue, S3 bucket or secret policy."""

    service: str
    document: dict[str, Any]
    #: The resources it governs, as resolved text.
    targets: tuple[str, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleAlias(Located):
    name: str
    #: The role's logical ID when the alias points at a role of the same stack, else None.
    role_logical_id: str | None
    role_arn: str
    credential_duration: int | None


@dataclass(frozen=True)
class LambdaPermission(Located):
    function: str
    #: The principal as resolved text (``iot.${AWS::URLSuffix}`` when written with an intrinsic).
    principal: str
    source_arn: Any
    source_account: Any
    action: str = "lambda:InvokeFunction"
    principal_org_id: Any = None
    function_url_auth_type: str | None = None


@dataclass(frozen=True)
class LambdaFunction(Located):
    handler: str | None
    #: The code's directory inside the cloud assembly (relative), when the code is a local asset.
    code_asset: str | None
    environment: Mapping[str, str]
    timeout_seconds: int


@dataclass(frozen=True)
class TemplatePolicy:
    """An ``AWS::IoT::Policy`` inside a provisioning template body: named, or embedded."""

    logical_id: str
    name: str | None
    document: dict[str, Any] | None


@dataclass(frozen=True)
class ProvisioningTemplate(Located):
    name: str
    #: ``TemplateBody`` as the template holds it (a JSON string), for the provisioning service.
    body_source: str | dict[str, Any]
    #: The body parsed; empty when it does not parse (``body_error`` says why).
    body: dict[str, Any]
    body_error: str | None
    enabled: bool
    has_hook: bool
    #: Logical ID of the pre-provisioning hook's Lambda function when it is in the same stack.
    hook_function: str | None
    policies: tuple[TemplatePolicy, ...]
    #: Logical ID of the provisioning role when it is a role of the same stack.
    role_logical_id: str | None = None


@dataclass(frozen=True)
class ThingType(Located):
    name: str


@dataclass(frozen=True)
class ThingGroup(Located):
    name: str
    parent: str | None


@dataclass(frozen=True)
class Table(Located):
    name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]


@dataclass(frozen=True)
class Certificate(Located):
    #: The CSR the stack creates the certificate from (None for other certificate sources).
    csr: str | None


@dataclass(frozen=True)
class PolicyPrincipalAttachment(Located):
    policy_name: str
    #: Logical ID of the principal (a certificate of this stack) when the template names it by GetAtt.
    principal_logical_id: str | None


Record = (
    IotPolicy
    | IamRole
    | IamPolicy
    | ResourcePolicy
    | RoleAlias
    | LambdaPermission
    | LambdaFunction
    | ProvisioningTemplate
    | ThingType
    | ThingGroup
    | Table
    | Certificate
    | PolicyPrincipalAttachment
)
R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class Asset:
    """A file or directory asset of a stack (``<stack>.assets.json``)."""

    hash: str
    path: str
    packaging: str


@dataclass(frozen=True)
class Variant:
    """The stack's records under one assignment of its conditions (``Fn::If`` and ``Condition``)."""

    #: ``IsProd=true, UseKms=false``; empty for a template without conditions.
    label: str
    conditions: Mapping[str, bool]
    records: tuple[Record, ...]

    def of(self, kind: type[R]) -> list[R]:
        return [r for r in self.records if isinstance(r, kind)]


@dataclass(frozen=True)
class Stack:
    name: str
    template_file: Path
    template: dict[str, Any]
    #: The records of the first variant (the only one for a template without conditions; in concrete
    #: mode, the one the parameters' defaults give).
    records: tuple[Record, ...]
    #: Output key -> value, resolved.
    outputs: Mapping[str, Any]
    #: Logical ID -> construct path, from the manifest's metadata and ``additionalMetadataFile``.
    paths: Mapping[str, str]
    assets: Mapping[str, Asset] = field(default_factory=dict)
    #: Every variant read (readable mode reads every assignment of the conditions the template uses).
    variants: tuple[Variant, ...] = ()
    #: More assignments existed than were read (``cloud_assembly.conditions.MAX_ASSIGNMENTS``).
    variants_truncated: bool = False

    def of(self, kind: type[R]) -> list[R]:
        return [r for r in self.records if isinstance(r, kind)]


@dataclass(frozen=True)
class Assembly:
    """A cloud assembly (or one template, as a one-stack assembly)."""

    source: Path
    stacks: tuple[Stack, ...]

    def of(self, kind: type[R]) -> list[R]:
        """Every record of ``kind``, stack by stack in the manifest's (sorted) order."""
        return [r for s in self.stacks for r in s.of(kind)]

    def __iter__(self) -> Iterator[Stack]:
        return iter(self.stacks)
