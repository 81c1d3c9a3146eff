"""IAM-ADMIN: Allow * on *."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, actions_of, resources_of, statements


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "iam":
            continue
        if "AdministratorAccess" in policy.name:
            yield policy, "AdministratorAccess attached"
        for s in statements(policy):
            if s.get("Effect") == "Allow" and "*" in actions_of(s) and "*" in resources_of(s):
                yield policy, "Allow * on *: full administrator"


RULE = Rule(
    id="IAM-ADMIN",
    severity=Severity.CRITICAL,
    title="Administrator access",
    explanation="Every action on every resource.",
    fix="Grant the actions and resources the role needs.",
    check=check,
    see_also=("cfn_nag F4/F39", "Checkov CKV_AWS_1", "cdk-nag AwsSolutions-IAM5"),
)
