"""IAM-PASSROLE-STAR: iam:PassRole on *."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, actions_of, matches_action, resources_of, statements


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "iam":
            continue
        for s in statements(policy):
            if s.get("Effect") == "Allow" and any(matches_action(p, "iam:PassRole") for p in actions_of(s)):
                if "*" in resources_of(s):
                    yield policy, "iam:PassRole on *: the holder can hand any role, an admin one included, to a service"


RULE = Rule(
    id="IAM-PASSROLE-STAR",
    severity=Severity.HIGH,
    title="iam:PassRole on every role",
    explanation="Privilege escalation: pass a more powerful role to a service you control.",
    fix="Name the role ARNs and add the iam:PassedToService condition.",
    check=check,
    see_also=("Cloudsplaining PrivilegeEscalation", "Checkov CKV_AWS_110"),
)
