"""IOT-GREENGRASS-STAR: greengrass:* in a policy."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, actions_of, statements


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        for s in statements(policy):
            if s.get("Effect") == "Allow" and any(a.lower() == "greengrass:*" for a in actions_of(s)):
                yield policy, "greengrass:* grants every Greengrass action, deployments included"


RULE = Rule(
    id="IOT-GREENGRASS-STAR",
    severity=Severity.HIGH,
    title="greengrass:* granted",
    explanation="A core device needs a handful of Greengrass data-plane actions, not the whole service.",
    fix="List the actions the nucleus version needs (GetComponentVersionArtifact, ResolveComponentCandidates, ...).",
    check=check,
)
