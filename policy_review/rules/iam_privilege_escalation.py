"""IAM-PRIVILEGE-ESCALATION: actions that let the holder grant itself more (beyond iam:PassRole)."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, actions_of, matches_action, resource_part, resources_of, statements

#: Single actions that escalate on an unrestricted resource (Rhino Security Labs' list, as Cloudsplaining uses).
ESCALATING = (
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:AttachRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:PutRolePolicy",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
    "lambda:UpdateFunctionCode",
    "glue:UpdateDevEndpoint",
)
_UNBOUNDED = ("*", "role/*", "user/*", "group/*", "policy/*", "function:*")


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "iam":
            continue
        for s in statements(policy):
            if s.get("Effect") != "Allow" or "*" in actions_of(s):  # bare "*" is IAM-ADMIN's finding
                continue
            hits = [a for a in ESCALATING if any(matches_action(p, a) for p in actions_of(s))]
            unbounded = [r for r in resources_of(s) if resource_part(r) in _UNBOUNDED]
            if hits and unbounded:
                yield policy, f"{', '.join(hits)} on {', '.join(unbounded)}: the holder can grant itself any permission"


RULE = Rule(
    id="IAM-PRIVILEGE-ESCALATION",
    severity=Severity.HIGH,
    title="Privilege escalation path",
    explanation="Writing policies, policy versions, trust policies, access keys or function code on any "
    "principal lets the holder become an administrator.",
    fix="Drop the action or name the exact resources, and bound roles with a permissions boundary.",
    check=check,
    see_also=("Cloudsplaining PrivilegeEscalation", "Checkov CKV_AWS_286", "PMapper"),
)
