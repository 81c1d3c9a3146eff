"""Every IoT and IAM policy of a cloud assembly (or one template), as the review sees them.

The cloud assembly is read by ``cloud_assembly`` with readable placeholders (``${AWS::Region}``,
``${Role.Arn}``); this module turns its records into the review's subjects: policies (IoT, IAM,
trust, managed), provisioning templates, Lambda permissions and role aliases.
"""

from __future__ import annotations

from pathlib import Path

import cloud_assembly as ca
from policy_review.model import Inventory, Policy, Template


def _iot(policy: ca.IotPolicy) -> Policy:
    at = policy.at
    return Policy("iot", policy.name, at.stack, at.logical_id, at.path, policy.document, at.type, role=policy.role)


def _role(role: ca.IamRole) -> list[Policy]:
    at = role.at
    out = [Policy("trust", f"{at.logical_id} trust", at.stack, at.logical_id, at.path, role.trust, at.type)]
    out += [
        Policy("iam", p.name, at.stack, at.logical_id, at.path, p.document, at.type, roles=(at.logical_id,))
        for p in role.inline
    ]
    out += [
        Policy(
            "iam", arn, at.stack, at.logical_id, at.path, {"Statement": [], "ManagedPolicyArn": arn}, "managed",
            roles=(at.logical_id,),
        )
        for arn in role.managed_policy_arns
    ]  # fmt: skip
    return out


def _iam(policy: ca.IamPolicy) -> Policy:
    at = policy.at
    return Policy("iam", policy.name, at.stack, at.logical_id, at.path, policy.document, at.type, roles=policy.roles)


def _template(template: ca.ProvisioningTemplate) -> tuple[Template, list[Policy]]:
    """The template and the policies embedded in its body (attached to every device it provisions)."""
    at = template.at
    embedded = [
        Policy(
            "iot", f"{template.name}/{p.logical_id}", at.stack, at.logical_id, at.path, p.document or {},
            "template-body", role=ca.PolicyRole.DEVICE,
        )
        for p in template.policies
        if p.name is None
    ]  # fmt: skip
    names = [p.name if p.name is not None else f"{template.name}/{p.logical_id}" for p in template.policies]
    subject = Template(
        template.name, at.stack, at.logical_id, at.path, template.body, template.has_hook, template.hook_function,
        tuple(names),
    )  # fmt: skip
    return subject, embedded


def _stack(inv: Inventory, stack: ca.Stack) -> None:
    for record in stack.records:
        if isinstance(record, ca.IotPolicy):
            inv.policies.append(_iot(record))
        elif isinstance(record, ca.IamRole):
            inv.policies += _role(record)
        elif isinstance(record, ca.IamPolicy):
            inv.policies.append(_iam(record))
        elif isinstance(record, ca.RoleAlias):
            inv.role_aliases.append(record)
        elif isinstance(record, ca.LambdaPermission):
            inv.permissions.append(record)
    for template in stack.of(ca.ProvisioningTemplate):
        subject, embedded = _template(template)
        inv.templates.append(subject)
        inv.policies += embedded


def load(target: Path) -> Inventory:
    """The inventory of a ``cdk.out`` directory or one template file; raises ``cloud_assembly.AssemblyError``."""
    inv = Inventory()
    for stack in ca.load(target, ca.READABLE):
        _stack(inv, stack)
    return inv
