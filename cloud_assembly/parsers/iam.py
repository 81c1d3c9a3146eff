"""IAM resources: roles, users and groups (trust, inline and managed policies), and attached policies."""

from __future__ import annotations

from typing import Any

from cloud_assembly.model import IamPolicy, IamRole, InlinePolicy
from cloud_assembly.parsers.base import RawResource, StackContext

_NAME_PROPERTY = {"AWS::IAM::Role": "RoleName", "AWS::IAM::User": "UserName", "AWS::IAM::Group": "GroupName"}
_KIND = {"AWS::IAM::Role": "role", "AWS::IAM::User": "user", "AWS::IAM::Group": "group"}


def _inline(raw: RawResource, ctx: StackContext) -> tuple[InlinePolicy, ...]:
    entries = ctx.resolver.value(raw.properties.get("Policies"))
    out = []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        document, problems = ctx.document(raw, f"Policies[{i}].PolicyDocument", entry.get("PolicyDocument", {}))
        name = entry.get("PolicyName")
        out.append(InlinePolicy(name if isinstance(name, str) else f"{raw.at.logical_id}-{i}", document, problems))
    return tuple(out)


def _managed(raw: RawResource, ctx: StackContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Managed policy ARNs as text, and the logical IDs of this stack's managed policies among them."""
    arns = ctx.texts(raw.properties.get("ManagedPolicyArns"))
    refs = []
    for arn in arns:
        logical = None
        if arn.startswith("${") and arn.endswith("}") and "." not in arn:
            logical = arn[2:-1]
        resource = ctx.resolver.resources.get(logical) if logical else None
        if logical and isinstance(resource, dict) and resource.get("Type") == "AWS::IAM::ManagedPolicy":
            refs.append(logical)
    return arns, tuple(refs)


def identity(raw: RawResource, ctx: StackContext) -> IamRole:
    """``AWS::IAM::Role``, ``AWS::IAM::User`` and ``AWS::IAM::Group``."""
    props = raw.properties
    trust: dict[str, Any] = {}
    trust_problems: tuple[str, ...] = ()
    if raw.at.type == "AWS::IAM::Role":
        trust, trust_problems = ctx.document(raw, "AssumeRolePolicyDocument", props.get("AssumeRolePolicyDocument", {}))
    arns, refs = _managed(raw, ctx)
    return IamRole(
        at=raw.at,
        trust=trust,
        inline=_inline(raw, ctx),
        managed_policy_arns=arns,
        kind=_KIND.get(raw.at.type, "role"),
        name=ctx.resolver.name(raw.at.logical_id, _NAME_PROPERTY.get(raw.at.type)),
        managed_policy_refs=refs,
        trust_problems=trust_problems,
    )


def policy(raw: RawResource, ctx: StackContext) -> IamPolicy:
    """``AWS::IAM::Policy``, ``ManagedPolicy``, ``RolePolicy``, ``UserPolicy`` and ``GroupPolicy``."""
    props = raw.properties
    kind = raw.at.type
    name_property = "ManagedPolicyName" if kind == "AWS::IAM::ManagedPolicy" else "PolicyName"
    document, problems = ctx.document(raw, "PolicyDocument", props.get("PolicyDocument", {}))
    roles: tuple[str, ...] = ()
    role_names: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    if kind == "AWS::IAM::RolePolicy":
        roles, role_names = ctx.refs(props.get("RoleName"))
    elif kind == "AWS::IAM::UserPolicy":
        users, _ = ctx.refs(props.get("UserName"))
    elif kind == "AWS::IAM::GroupPolicy":
        groups, _ = ctx.refs(props.get("GroupName"))
    else:
        roles, role_names = ctx.refs(props.get("Roles"))
        users, _ = ctx.refs(props.get("Users"))
        groups, _ = ctx.refs(props.get("Groups"))
    return IamPolicy(
        raw.at,
        ctx.resolver.name(raw.at.logical_id, name_property),
        document,
        roles,
        users=users,
        groups=groups,
        role_names=role_names,
        managed=kind == "AWS::IAM::ManagedPolicy",
        problems=problems,
    )
