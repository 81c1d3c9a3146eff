"""IAM resources: roles (trust, inline and managed policies) and policies attached to roles."""

from __future__ import annotations

from cloud_assembly.model import IamPolicy, IamRole, InlinePolicy
from cloud_assembly.parsers.base import RawResource, StackContext


def role(raw: RawResource, ctx: StackContext) -> IamRole:
    props = raw.properties
    inline = tuple(
        InlinePolicy(
            ctx.resolver.text(entry.get("PolicyName", raw.at.logical_id)),
            ctx.document(raw, f"Policies[{i}].PolicyDocument", entry.get("PolicyDocument", {})),
        )
        for i, entry in enumerate(props.get("Policies") or ())
        if isinstance(entry, dict)
    )
    return IamRole(
        at=raw.at,
        trust=ctx.document(raw, "AssumeRolePolicyDocument", props.get("AssumeRolePolicyDocument", {})),
        inline=inline,
        managed_policy_arns=tuple(ctx.resolver.text(arn) for arn in props.get("ManagedPolicyArns") or ()),
    )


def policy(raw: RawResource, ctx: StackContext) -> IamPolicy:
    """``AWS::IAM::Policy`` and ``AWS::IAM::ManagedPolicy``."""
    props = raw.properties
    name_property = "ManagedPolicyName" if raw.at.type == "AWS::IAM::ManagedPolicy" else "PolicyName"
    roles = tuple(r["Ref"] for r in props.get("Roles") or () if isinstance(r, dict) and "Ref" in r)
    return IamPolicy(
        raw.at,
        ctx.resolver.name(raw.at.logical_id, name_property),
        ctx.document(raw, "PolicyDocument", props.get("PolicyDocument", {})),
        roles,
    )
