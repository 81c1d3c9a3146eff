"""What the review looks at (policies, who holds them) and what it reports (findings with witnesses)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal

import cloud_assembly as ca
from iot_semantics.policy_eval import CompiledPolicy, compile_policy

PolicyKind = Literal["iot", "iam", "trust", "resource", "lambda-permission"]
HolderKind = Literal["template", "certificate", "standalone"]


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


@dataclass(frozen=True)
class Policy:
    kind: PolicyKind
    name: str
    stack: str
    logical_id: str
    path: str  # aws:cdk:path, or the logical ID when absent
    document: dict[str, Any]
    #: "AWS::IoT::Policy", "template-body", "AWS::IAM::Role", "managed", "AWS::KMS::Key", ...
    source: str
    #: For IoT policies: device, claim, core-device, quarantine (``cloud_assembly.PolicyRole``), or "".
    role: str = ""
    #: For IAM policies: logical IDs of the identities (roles, users, groups) holding it.
    roles: tuple[str, ...] = ()
    #: The condition assignment this policy was read under (``IsProd=true``), empty without conditions.
    variant: str = ""
    #: Why (part of) the document could not be read, from the reader.
    problems: tuple[str, ...] = ()
    compiled: CompiledPolicy = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", compile_policy(self.document, resource_optional=self.kind == "trust"))


@dataclass(frozen=True)
class Template:
    name: str
    stack: str
    logical_id: str
    path: str
    body: dict[str, Any]
    has_hook: bool
    hook_function: str | None
    policy_names: tuple[str, ...]
    #: Why the body could not be evaluated (None when it could).
    body_error: str | None = None
    variant: str = ""
    role_logical_id: str | None = None


#: A Lambda invoke permission and an IoT role alias are read as the cloud-assembly reader gives them.
LambdaPermission = ca.LambdaPermission
RoleAlias = ca.RoleAlias


@dataclass(frozen=True)
class Identity:
    """An IAM role, user or group; ``trust`` is a role's trust policy (empty for users and groups)."""

    kind: str
    name: str
    stack: str
    logical_id: str
    path: str
    trust: dict[str, Any]


@dataclass(frozen=True)
class Holder:
    """IoT policies that act together for one kind of principal.

    - ``template``: the devices a provisioning template provisions (its named and embedded
      policies; every device gets the same named ones, embedded ones are evaluated per device);
    - ``certificate``: a certificate of the synth and the policies attached to it;
    - ``standalone``: one policy attached to nothing in the synth (whoever it is attached to later).
    """

    kind: HolderKind
    name: str
    stack: str
    policies: tuple[Policy, ...]
    role: str
    template: Template | None = None
    #: Policy names a template or attachment names that the synth does not define.
    missing: tuple[str, ...] = ()
    variant: str = ""

    @property
    def subject(self) -> Policy | Template:
        return self.template if self.template is not None else self.policies[0]


@dataclass
class Inventory:
    policies: list[Policy] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    permissions: list[LambdaPermission] = field(default_factory=list)
    role_aliases: list[RoleAlias] = field(default_factory=list)
    identities: list[Identity] = field(default_factory=list)
    holders: list[Holder] = field(default_factory=list)
    #: (stack, logical ID) -> the resource's Metadata, for in-source acknowledgements.
    metadata: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    #: What the reader could not read (stack-level: too many condition assignments, ...).
    notes: list[tuple[str, str, str]] = field(default_factory=list)
    #: (stack, logical ID) of every Lambda function a provisioning template calls as its hook.
    hook_functions: set[tuple[str, str]] = field(default_factory=set)

    def is_hook(self, permission: LambdaPermission) -> bool:
        """The permission lets something invoke a template's pre-provisioning hook."""
        function = permission.function
        logical = function[2:].split(".", 1)[0].rstrip("}") if function.startswith("${") else function
        return (permission.stack, logical) in self.hook_functions

    def role_policies(self, stack: str, role_logical_id: str) -> list[Policy]:
        """Every IAM policy an identity holds: inline, managed (by ARN or Ref) and attached policies."""
        return [p for p in self.policies if p.kind == "iam" and p.stack == stack and role_logical_id in p.roles]

    def identity(self, stack: str, logical_id: str) -> Identity | None:
        return next((i for i in self.identities if i.stack == stack and i.logical_id == logical_id), None)

    def extend(self, other: Inventory) -> None:
        self.policies += other.policies
        self.templates += other.templates
        self.permissions += other.permissions
        self.role_aliases += other.role_aliases
        self.identities += other.identities
        self.holders += other.holders
        self.metadata.update(other.metadata)
        self.notes += other.notes
        self.hook_functions |= other.hook_functions


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    resource: str  # logical ID
    path: str
    message: str
    fix: str
    stack: str = ""
    #: Granular ID usable in suppressions: ``RULE[finding_id]``.
    finding_id: str = ""
    #: The evaluated fact behind the finding: kind, action, resource, client ID, devices, ...
    witness: Mapping[str, Any] = field(default_factory=dict)
    policy_name: str = ""
    #: The condition assignments the finding holds in (empty: every one, or no conditions).
    variants: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.rule, self.stack, self.resource, self.finding_id or self.message)

    @property
    def full_id(self) -> str:
        return f"{self.rule}[{self.finding_id}]" if self.finding_id else self.rule

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "id": self.full_id,
            "severity": self.severity.name.lower(),
            "resource": self.resource,
            "path": self.path,
            "stack": self.stack,
            "policy": self.policy_name,
            "message": self.message,
            "fix": self.fix,
            "witness": dict(self.witness),
            "variants": list(self.variants),
        }
