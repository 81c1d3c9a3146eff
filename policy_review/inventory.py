"""Every IoT and IAM policy of a cloud assembly (or one template), and who holds them together.

The cloud assembly is read by ``cloud_assembly`` with readable placeholders (``${AWS::Region}``,
``${Role.Arn}``), every assignment of its conditions (each a *variant*). This module turns the
records into the review's subjects:

- IoT policies: standalone ``AWS::IoT::Policy`` resources and the policies a provisioning template
  body embeds (its parameters shown as ``${Name}``);
- IAM: roles, users and groups (``Identity``), their trust policies, inline, attached and managed
  policies (``AWS::IAM::Policy``/``ManagedPolicy`` by ``Ref`` or role name, ``RolePolicy``...);
- resource policies (KMS keys, SNS topics, SQS queues, S3 buckets, secrets), Lambda permissions,
  role aliases;
- ``Holder``: IoT policies that act together, a template's devices, a certificate's attachments,
  or a policy alone, so that a Deny in one policy neutralises an Allow in another as AWS evaluates it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cloud_assembly as ca
from cloud_assembly.conditions import MAX_ASSIGNMENTS
from iot_semantics.template_eval import CERTIFICATE_ID, TemplateError, evaluate, resolve_parameters
from policy_review.model import Holder, Identity, Inventory, Policy, Template

#: AWS managed policies whose content the review knows without reading them (IAM reference).
MANAGED_POLICY_HINT = "ManagedPolicyArn"


def _placeholder_parameters(body: dict[str, Any]) -> dict[str, str]:
    """Body parameters shown as ``${Name}`` (their defaults when they have one)."""
    declared = body.get("Parameters")
    out = {}
    for name, spec in declared.items() if isinstance(declared, dict) else ():
        if not (isinstance(spec, dict) and "Default" in spec):
            out[name] = "${" + name + "}"
    return out


def embedded_documents(template: ca.ProvisioningTemplate, parameters: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The body's inline policy documents with the body's intrinsics evaluated for ``parameters``.

    Raises TemplateError when the body cannot be evaluated (AWS would refuse the RegisterThing).
    """
    plan = evaluate(template.body, {**parameters, CERTIFICATE_ID: parameters.get(CERTIFICATE_ID, "cert")})
    documents = [p.document for p in plan.policies if p.name is None]
    embedded = [p for p in template.policies if p.name is None]
    return {p.logical_id: d for p, d in zip(embedded, documents, strict=False) if isinstance(d, dict)}


def _template(template: ca.ProvisioningTemplate, variant: str) -> tuple[Template, list[Policy], str | None]:
    at = template.at
    error = template.body_error
    documents: dict[str, dict[str, Any]] = {}
    if error is None:
        try:
            params = _placeholder_parameters(template.body)
            resolve_parameters(template.body, {**params, CERTIFICATE_ID: "${AWS::IoT::Certificate::Id}"})
            documents = embedded_documents(template, {**params, CERTIFICATE_ID: "${AWS::IoT::Certificate::Id}"})
        except TemplateError as exc:
            error = str(exc)
    embedded = [
        Policy(
            "iot",
            f"{template.name}/{p.logical_id}",
            at.stack,
            at.logical_id,
            at.path,
            documents.get(p.logical_id, p.document or {}),
            "template-body",
            role=ca.PolicyRole.DEVICE.value,
            variant=variant,
            problems=() if p.document is not None else (f"TemplateBody {p.logical_id}.PolicyDocument cannot be read",),
        )
        for p in template.policies
        if p.name is None
    ]
    names = [p.name if p.name is not None else f"{template.name}/{p.logical_id}" for p in template.policies]
    subject = Template(
        template.name,
        at.stack,
        at.logical_id,
        at.path,
        template.body,
        template.has_hook,
        template.hook_function,
        tuple(names),
        error,
        variant,
        template.role_logical_id,
    )
    return subject, embedded, error


def _identity_policies(record: ca.IamRole, variant: str) -> list[Policy]:
    at = record.at
    out = []
    if record.kind == "role":
        out.append(
            Policy(
                "trust",
                f"{record.name} trust",
                at.stack,
                at.logical_id,
                at.path,
                record.trust,
                at.type,
                roles=(at.logical_id,),
                variant=variant,
                problems=record.trust_problems,
            )
        )
    out += [
        Policy(
            "iam",
            p.name,
            at.stack,
            at.logical_id,
            at.path,
            p.document,
            at.type,
            roles=(at.logical_id,),
            variant=variant,
            problems=p.problems,
        )
        for p in record.inline
    ]
    refs = {f"${{{r}}}" for r in record.managed_policy_refs}
    out += [
        Policy(
            "iam",
            arn,
            at.stack,
            at.logical_id,
            at.path,
            {"Statement": [], MANAGED_POLICY_HINT: arn},
            "managed",
            roles=(at.logical_id,),
            variant=variant,
        )
        for arn in record.managed_policy_arns
        if arn not in refs
    ]
    return out


def _iam_policy(record: ca.IamPolicy, stack: ca.Variant, variant: str) -> Policy:
    at = record.at
    holders = list(record.roles) + list(record.users) + list(record.groups)
    identities = stack.of(ca.IamRole)
    holders += [
        i.at.logical_id for i in identities if i.name in record.role_names or i.at.logical_id in record.role_names
    ]
    holders += [i.at.logical_id for i in identities if at.logical_id in i.managed_policy_refs]
    return Policy(
        "iam",
        record.name,
        at.stack,
        at.logical_id,
        at.path,
        record.document,
        at.type,
        roles=tuple(dict.fromkeys(holders)),
        variant=variant,
        problems=record.problems,
    )


def _logical(text: str) -> str | None:
    return text[2:-1] if text.startswith("${") and text.endswith("}") and "." not in text else None


def _records(inv: Inventory, variant: ca.Variant) -> None:
    label = variant.label
    inv.hook_functions |= {(t.stack, t.hook_function) for t in variant.of(ca.ProvisioningTemplate) if t.hook_function}
    for record in variant.records:
        at = record.at
        if isinstance(record, ca.IotPolicy):
            inv.policies.append(
                Policy(
                    "iot",
                    record.name,
                    at.stack,
                    at.logical_id,
                    at.path,
                    record.document,
                    at.type,
                    role=record.role.value,
                    variant=label,
                    problems=record.problems,
                )
            )
        elif isinstance(record, ca.IamRole):
            inv.identities.append(Identity(record.kind, record.name, at.stack, at.logical_id, at.path, record.trust))
            inv.policies += _identity_policies(record, label)
        elif isinstance(record, ca.IamPolicy):
            inv.policies.append(_iam_policy(record, variant, label))
        elif isinstance(record, ca.ResourcePolicy):
            name = f"{record.service} policy of {', '.join(record.targets) or at.logical_id}"
            inv.policies.append(
                Policy(
                    "resource",
                    name,
                    at.stack,
                    at.logical_id,
                    at.path,
                    record.document,
                    at.type,
                    variant=label,
                    problems=record.problems,
                )
            )
        elif isinstance(record, ca.RoleAlias) and record not in inv.role_aliases:
            inv.role_aliases.append(record)
        elif isinstance(record, ca.LambdaPermission) and record not in inv.permissions:
            inv.permissions.append(record)


def _find_policy(policies: Iterable[Policy], name: str, stack: str) -> Policy | None:
    candidates = [p for p in policies if p.kind == "iot" and (p.name == name or p.logical_id == _logical(name))]
    return next((p for p in candidates if p.stack == stack), candidates[0] if candidates else None)


def _holders(inv: Inventory, stacks: list[tuple[ca.Stack, ca.Variant]]) -> None:
    held: set[int] = set()
    for stack, variant in stacks:
        iot = [p for p in inv.policies if p.kind == "iot" and p.variant == variant.label]
        for template in [t for t in inv.templates if t.stack == stack.name and t.variant == variant.label]:
            members: list[Policy] = []
            missing: list[str] = []
            for name in template.policy_names:
                found = next((p for p in iot if p.name == name and p.source == "template-body"), None)
                found = found or _find_policy(iot, name, stack.name)
                if found is not None:
                    members.append(found)
                else:
                    missing.append(name)
            held.update(id(p) for p in members)
            role = "core-device" if any(p.role == "core-device" for p in members) else "device"
            inv.holders.append(
                Holder(
                    "template", template.name, stack.name, tuple(members), role, template, tuple(missing), variant.label
                )
            )
        attachments = variant.of(ca.PolicyPrincipalAttachment)
        by_principal: dict[str, list[Policy]] = {}
        for a in attachments:
            found = _find_policy(iot, a.policy_name, stack.name)
            if found is not None:
                by_principal.setdefault(a.principal_logical_id or a.at.logical_id, []).append(found)
        for principal, members in by_principal.items():
            held.update(id(p) for p in members)
            roles = {p.role for p in members}
            role = (
                "claim" if "claim" in roles else "core-device" if "core-device" in roles else members[0].role or "other"
            )
            inv.holders.append(
                Holder("certificate", principal, stack.name, tuple(members), role, variant=variant.label)
            )
    for p in inv.policies:
        if p.kind == "iot" and id(p) not in held and p.source != "template-body":
            inv.holders.append(Holder("standalone", p.name, p.stack, (p,), p.role or "other", variant=p.variant))


def _stack(inv: Inventory, stack: ca.Stack) -> list[tuple[ca.Stack, ca.Variant]]:
    resources = stack.template.get("Resources", {})
    for logical, resource in resources.items():
        metadata = resource.get("Metadata") if isinstance(resource, dict) else None
        if isinstance(metadata, dict):
            inv.metadata[(stack.name, str(logical))] = metadata
    if stack.variants_truncated:
        inv.notes.append(
            (
                stack.name,
                stack.name,
                f"the template's conditions allow more than {MAX_ASSIGNMENTS} assignments; "
                f"the first {MAX_ASSIGNMENTS} were reviewed",
            )
        )
    variants = stack.variants or (ca.Variant("", {}, stack.records),)
    for variant in variants:
        _records(inv, variant)
        for template in variant.of(ca.ProvisioningTemplate):
            subject, embedded, _ = _template(template, variant.label)
            inv.templates.append(subject)
            inv.policies += embedded
    return [(stack, v) for v in variants]


def from_assembly(assembly: ca.Assembly) -> Inventory:
    inv = Inventory()
    pairs: list[tuple[ca.Stack, ca.Variant]] = []
    for stack in assembly:
        pairs += _stack(inv, stack)
    _holders(inv, pairs)
    return inv


def load(target: Path) -> Inventory:
    """The inventory of a ``cdk.out`` directory or one template file; raises ``cloud_assembly.AssemblyError``."""
    return from_assembly(ca.load(target, ca.READABLE))
