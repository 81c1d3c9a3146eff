"""IOT-HOOK-PERMISSION-UNSCOPED: lambda:InvokeFunction for iot.amazonaws.com without SourceArn."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for permission in inv.permissions:
        if permission.principal == "iot.amazonaws.com" and not permission.source_arn:
            yield (
                permission,
                f"{permission.function} may be invoked by any AWS IoT resource of any account (no SourceArn)",
            )


RULE = Rule(
    id="IOT-HOOK-PERMISSION-UNSCOPED",
    severity=Severity.HIGH,
    title="Lambda invoke permission for AWS IoT without SourceArn",
    explanation="Confused deputy: another account's template could invoke the hook.",
    fix="Set SourceArn to the provisioning template's ARN and SourceAccount to the account.",
    check=check,
)
