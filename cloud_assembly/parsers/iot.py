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
from cloud_assembly.parsers.base import RawResource, StackContext
from cloud_assembly.resolve import get_att_logical_id, get_att_parts
from iot_semantics.template_eval import TemplateError, parse_body


def policy(raw: RawResource, ctx: StackContext) -> IotPolicy:
    document = ctx.document(raw, "PolicyDocument", raw.properties.get("PolicyDocument", {}))
    return IotPolicy(raw.at, ctx.resolver.name(raw.at.logical_id, "PolicyName"), document)


def _template_policies(raw: RawResource, ctx: StackContext, body: dict[str, Any]) -> tuple[TemplatePolicy, ...]:
    out: list[TemplatePolicy] = []
    resources = body.get("Resources", {})
    for logical, resource in resources.items() if isinstance(resources, dict) else ():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::IoT::Policy":
            continue
        props = resource.get("Properties", {})
        if "PolicyName" in props:
            out.append(TemplatePolicy(logical, str(props["PolicyName"]), None))
        elif "PolicyDocument" in props:
            document = props["PolicyDocument"]
            if isinstance(document, str):
                try:
                    document = json.loads(document)
                except json.JSONDecodeError as exc:
                    field = f"TemplateBody Resources.{logical}.PolicyDocument"
                    raise ctx.fail(raw, field, f"is not JSON ({exc.msg})") from None
            out.append(TemplatePolicy(logical, None, document if isinstance(document, dict) else {}))
    return tuple(out)


def provisioning_template(raw: RawResource, ctx: StackContext) -> ProvisioningTemplate:
    props = raw.properties
    source = ctx.resolver.value(props.get("TemplateBody", "{}"))
    try:
        body, error = parse_body(source or "{}"), None
    except TemplateError as exc:
        body, error = {}, str(exc)
    hook = props.get("PreProvisioningHook") or {}
    return ProvisioningTemplate(
        at=raw.at,
        name=ctx.resolver.name(raw.at.logical_id, "TemplateName"),
        body_source=source,
        body=body,
        body_error=error,
        enabled=bool(props.get("Enabled", False)),
        has_hook=bool(hook),
        hook_function=get_att_logical_id(hook.get("TargetArn")) if isinstance(hook, dict) else None,
        policies=_template_policies(raw, ctx, body),
    )


def role_alias(raw: RawResource, ctx: StackContext) -> RoleAlias:
    props = raw.properties
    duration = props.get("CredentialDurationSeconds")
    return RoleAlias(
        at=raw.at,
        name=ctx.resolver.name(raw.at.logical_id, "RoleAlias"),
        role_logical_id=get_att_logical_id(props.get("RoleArn")),
        role_arn=ctx.resolver.text(props.get("RoleArn")),
        credential_duration=int(duration) if isinstance(duration, int | str) and str(duration).isdigit() else None,
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
    csr = raw.properties.get("CertificateSigningRequest")
    return Certificate(raw.at, csr if isinstance(csr, str) else None)


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
