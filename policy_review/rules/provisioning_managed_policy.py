"""IOT-PROVISIONING-MANAGED-POLICY: a role with AWSIoTThingsRegistration (every registry action on *)."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.source == "managed" and "AWSIoTThingsRegistration" in policy.name:
            yield policy, "AWSIoTThingsRegistration grants every registry action on every resource"


RULE = Rule(
    id="IOT-PROVISIONING-MANAGED-POLICY",
    severity=Severity.MEDIUM,
    title="Provisioning role with the broad managed policy",
    explanation="The template only needs to create things of one fleet, activate its certificates "
    "and attach one policy.",
    fix="A scoped inline policy on thing/<prefix>*, the thing type, the groups, the device policy and cert/*.",
    check=check,
)
