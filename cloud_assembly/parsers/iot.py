"""AWS IoT resources: policies, provisioning templates, role aliases, thing types and groups, certificates."""

from __future__ import annotations

import json
from typing import Any

from cloud_assembly.model import (
    Certificate,
    IotPolicy,
    PolicyPrincipalAttachment,
    ProvisioningTemplate,
    RoleAlias,
    TemplatePolicy,
    ThingGroup,
    ThingType,
)
from cloud_assembly.parsers.base import RawResource, StackContext, prop_text
from cloud_assembly.resolve import get_att_logical_id, get_att_parts
from iot_semantics.template_eval import TemplateError, parse_body


def policy(raw: RawResource, ctx: StackContext) -> IotPolicy:
    document, problems = ctx.document(raw, "PolicyDocument", raw.properties.get("PolicyDocument", {}))
    return IotPolicy(raw.at, ctx.resolver.name(raw.at.logical_id, "PolicyName"), document, problems=problems)


def _embedded_document(raw: RawResource, ctx: StackContext, logical: str, document: Any) -> dict[str, Any] | None:
    """An inline policy of a template body: an object (body intrinsics kept) or a JSON string."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            if ctx.strict:
                where = f"TemplateBody Resources.{logical}.PolicyDocument"
                raise ctx.fail(raw, where, f"is not JSON ({exc.msg})") from None
            return None
    return document if isinstance(document, dict) else None


def _template_policies(raw: RawResource, ctx: StackContext, body: dict[str, Any]) -> tuple[TemplatePolicy, ...]:
    out: list[TemplatePolicy] = []
    resources = body.get("Resources", {})
    for logical, resource in resources.items() if isinstance(resources, dict) else ():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::IoT::Policy":
            continue
        props = resource.get("Properties", {})
        if not isinstance(props, dict):
            continue
        if isinstance(props.get("PolicyName"), str):
            out.append(TemplatePolicy(logical, props["PolicyName"], None))
        elif "PolicyDocument" in props:
            out.append(TemplatePolicy(logical, None, _embedded_document(raw, ctx, logical, props["PolicyDocument"])))
    return tuple(out)


def provisioning_template(raw: RawResource, ctx: StackContext) -> ProvisioningTemplate:
    props = raw.properties
    source = ctx.resolver.value(props.get("TemplateBody", "{}"))
    body: dict[str, Any] = {}
    error = None
    if isinstance(source, str | dict):
        try:
            body = parse_body(source or "{}")
        except TemplateError as exc:
            error = str(exc)
    else:
        error = f"TemplateBody is {type(source).__name__}, not a JSON string (an intrinsic not evaluated?)"
    hook = ctx.resolver.value(props.get("PreProvisioningHook")) or {}
    raw_hook = props.get("PreProvisioningHook")
    enabled = ctx.resolver.value(props.get("Enabled", False))
    return ProvisioningTemplate(
        at=raw.at,
        name=ctx.resolver.name(raw.at.logical_id, "TemplateName"),
        body_source=source if isinstance(source, str | dict) else json.dumps(source, default=str),
        body=body,
        body_error=error,
        enabled=enabled is True or str(enabled).lower() == "true",
        has_hook=isinstance(hook, dict) and bool(hook.get("TargetArn")),
        hook_function=get_att_logical_id(raw_hook.get("TargetArn")) if isinstance(raw_hook, dict) else None,
        policies=_template_policies(raw, ctx, body),
        role_logical_id=get_att_logical_id(props.get("ProvisioningRoleArn")),
    )


def role_alias(raw: RawResource, ctx: StackContext) -> RoleAlias:
    props = raw.properties
    duration = ctx.resolver.value(props.get("CredentialDurationSeconds"))
    text = str(duration) if isinstance(duration, int | str) and not isinstance(duration, bool) else ""
    return RoleAlias(
        at=raw.at,
        name=ctx.resolver.name(raw.at.logical_id, "RoleAlias"),
        role_logical_id=get_att_logical_id(props.get("RoleArn")),
        role_arn=ctx.resolver.text(props.get("RoleArn")),
        credential_duration=int(text) if text.isdigit() else None,
    )


def thing_type(raw: RawResource, ctx: StackContext) -> ThingType:
    return ThingType(raw.at, ctx.resolver.name(raw.at.logical_id, "ThingTypeName"))


def thing_group(raw: RawResource, ctx: StackContext) -> ThingGroup:
    parent = raw.properties.get("ParentGroupName")
    return ThingGroup(
        raw.at,
        ctx.resolver.name(raw.at.logical_id, "ThingGroupName"),
        None if parent is None else ctx.resolver.text(parent),
    )


def certificate(raw: RawResource, ctx: StackContext) -> Certificate:
    return Certificate(raw.at, prop_text(raw.properties, "CertificateSigningRequest"))


def policy_principal_attachment(raw: RawResource, ctx: StackContext) -> PolicyPrincipalAttachment:
    principal = raw.properties.get("Principal")
    parts = (
        get_att_parts(principal["Fn::GetAtt"]) if isinstance(principal, dict) and "Fn::GetAtt" in principal else None
    )
    return PolicyPrincipalAttachment(
        raw.at,
        ctx.resolver.text(raw.properties.get("PolicyName")),
        parts[0] if parts and parts[1] == "Arn" else None,
    )
