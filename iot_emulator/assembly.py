"""What the double serves from a synthesized cloud assembly (cdk.out), read by ``cloud_assembly``.

Intrinsics are resolved the way a deployment in the double's account and region would resolve
them (``cloud_assembly.Concrete``); physical names of resources CloudFormation would generate
(the allowlist table, roles) are derived from the stack and logical IDs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloud_assembly as ca
from cloud_assembly import AssemblyError
from iot_emulator.errors import UnservableAssembly

__all__ = ["Assembly", "AssemblyError", "HookFunction", "Table", "Template", "load"]


@dataclass(frozen=True)
class HookFunction:
    logical_id: str
    code_dir: Path
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: int


@dataclass(frozen=True)
class Template:
    name: str
    body: str | dict[str, Any]
    enabled: bool
    hook: HookFunction | None
    stack: str


@dataclass(frozen=True)
class Table:
    name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]


@dataclass
class Assembly:
    directory: Path
    account: str
    region: str
    partition: str = "aws"
    templates: dict[str, Template] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    thing_types: list[str] = field(default_factory=list)
    thing_groups: dict[str, str | None] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Certificates the stacks create from a CSR: logical ID -> (stack, CSR PEM, attached policy names)
    certificates: dict[str, tuple[str, str, list[str]]] = field(default_factory=dict)
    #: Device Defender mitigation actions: action name -> resolved ``ActionParams``
    mitigation_actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: IoT role aliases: alias name -> (role ARN, CredentialDurationSeconds)
    role_aliases: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: IAM roles that role aliases point at: role ARN -> (trust policy, MaxSessionDuration)
    alias_roles: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)

    @property
    def iot_arn_prefix(self) -> str:
        return f"arn:{self.partition}:iot:{self.region}:{self.account}"


def _hook(asm: Assembly, stack: ca.Stack, logical: str) -> HookFunction:
    function = next((f for f in stack.of(ca.LambdaFunction) if f.at.logical_id == logical), None)
    if function is None:
        raise UnservableAssembly(f"{stack.template_file}: the hook function {logical} is not in stack {stack.name}")
    if function.code_asset is None or function.handler is None:
        raise UnservableAssembly(f"Lambda {logical} has no local asset in cdk.out; the double runs local code only")
    return HookFunction(
        logical_id=logical,
        code_dir=asm.directory / function.code_asset,
        handler=function.handler,
        environment=dict(function.environment),
        timeout_seconds=function.timeout_seconds,
    )


def _add_stack(asm: Assembly, stack: ca.Stack) -> None:
    asm.thing_types += [t.name for t in stack.of(ca.ThingType)]
    asm.thing_groups.update({g.name: g.parent for g in stack.of(ca.ThingGroup)})
    asm.policies.update({p.name: p.document for p in stack.of(ca.IotPolicy)})
    asm.tables.update(
        {t.at.logical_id: Table(t.name, t.key_schema, t.attribute_definitions) for t in stack.of(ca.Table)}
    )
    for t in stack.of(ca.ProvisioningTemplate):
        hook = _hook(asm, stack, t.hook_function) if t.hook_function is not None else None
        asm.templates[t.name] = Template(t.name, t.body_source, t.enabled, hook, stack.name)
    attachments = stack.of(ca.PolicyPrincipalAttachment)
    for cert in stack.of(ca.Certificate):
        if cert.csr is not None:
            attached = [a.policy_name for a in attachments if a.principal_logical_id == cert.at.logical_id]
            asm.certificates[cert.at.logical_id] = (stack.name, cert.csr, attached)
    asm.outputs[stack.name] = {key: str(value) for key, value in stack.outputs.items()}
    resources = stack.template.get("Resources") or {}
    resolver = ca.Concrete(account=asm.account, region=asm.region).resolver(stack.name, resources)
    for alias in stack.of(ca.RoleAlias):
        # CloudFormation's default duration is 3600 s (AWS::IoT::RoleAlias).
        asm.role_aliases[alias.name] = (alias.role_arn, alias.credential_duration or 3600)
        role = resources.get(alias.role_logical_id or "")
        if isinstance(role, dict) and role.get("Type") == "AWS::IAM::Role":
            props = resolver.value(role.get("Properties") or {})
            trust = props.get("AssumeRolePolicyDocument")
            maximum = props.get("MaxSessionDuration")
            asm.alias_roles[alias.role_arn] = (
                trust if isinstance(trust, dict) else {},
                int(maximum) if isinstance(maximum, int | str) and str(maximum).isdigit() else 3600,
            )
    for resource in resources.values():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::IoT::MitigationAction":
            props = resolver.value(resource.get("Properties") or {})
            if isinstance(props.get("ActionName"), str) and isinstance(props.get("ActionParams"), dict):
                asm.mitigation_actions[props["ActionName"]] = props["ActionParams"]


def load(directory: Path, *, account: str = "123456789012", region: str = "us-east-1") -> Assembly:
    """The double's view of ``directory``; raises ``cloud_assembly.AssemblyError`` (and
    ``UnservableAssembly``, one) naming the file and the fix."""
    if not directory.is_dir():
        raise AssemblyError(f"{directory / 'manifest.json'}: no such file; run a synth first (make demo)")
    asm = Assembly(directory=directory, account=account, region=region)
    for stack in ca.load(directory, ca.Concrete(account=account, region=region)):
        _add_stack(asm, stack)
    return asm
