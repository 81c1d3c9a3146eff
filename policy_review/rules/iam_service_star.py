"""IAM-SERVICE-STAR: Allow <service>:*."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, actions_of, statements


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind not in ("iam", "iot"):
            continue
        for s in statements(policy):
            if s.get("Effect") != "Allow":
                continue
            for action in actions_of(s):
                if action.endswith(":*") and action != "greengrass:*":
                    yield policy, f"{action}: every action of the service"


RULE = Rule(
    id="IAM-SERVICE-STAR",
    severity=Severity.HIGH,
    title="Every action of a service",
    explanation="A service-wide wildcard includes the service's administrative and destructive actions.",
    fix="List the actions needed.",
    check=check,
    see_also=("cdk-nag AwsSolutions-IAM5[Action::<service>:*]", "Parliament", "Checkov CKV_AWS_109"),
)
