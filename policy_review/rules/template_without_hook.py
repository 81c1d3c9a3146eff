"""IOT-TEMPLATE-NO-HOOK: a fleet provisioning template anyone holding the claim can use freely."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for template in inv.templates:
        if not template.has_hook:
            yield (
                template,
                f"template {template.name} has no pre-provisioning hook: every claim holder provisions any serial",
            )


RULE = Rule(
    id="IOT-TEMPLATE-NO-HOOK",
    severity=Severity.HIGH,
    title="Provisioning template without a pre-provisioning hook",
    explanation="A leaked claim certificate then provisions unlimited devices with any parameters.",
    fix="Add a hook that validates parameters and checks the serial against an allowlist.",
    check=check,
)
