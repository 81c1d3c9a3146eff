"""What the review looks at and what it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal

import cloud_assembly as ca

PolicyKind = Literal["iot", "iam", "trust", "lambda-permission"]


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
    #: "AWS::IoT::Policy", "template-body", "AWS::IAM::Role", ...
    source: str
    #: For IoT policies: which provisioning templates attach it (device policies), or claim policies.
    role: str = ""
    #: For IAM policies: logical IDs of the roles holding it (inline, managed or attached).
    roles: tuple[str, ...] = ()


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


#: A Lambda invoke permission and an IoT role alias are read as the cloud-assembly reader gives them.
LambdaPermission = ca.LambdaPermission
RoleAlias = ca.RoleAlias


@dataclass
class Inventory:
    policies: list[Policy] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    permissions: list[LambdaPermission] = field(default_factory=list)
    role_aliases: list[RoleAlias] = field(default_factory=list)

    def role_policies(self, stack: str, role_logical_id: str) -> list[Policy]:
        """Every IAM policy a role holds: inline, managed ARNs and attached AWS::IAM::Policy resources."""
        return [p for p in self.policies if p.kind == "iam" and p.stack == stack and role_logical_id in p.roles]


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    resource: str  # logical ID
    path: str
    message: str
    fix: str
    stack: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.name.lower(),
            "resource": self.resource,
            "path": self.path,
            "stack": self.stack,
            "message": self.message,
            "fix": self.fix,
        }
