"""IOT-UNKNOWN-VARIABLE: a policy variable AWS IoT does not define (it never substitutes)."""

from __future__ import annotations

from collections.abc import Iterator

from iot_semantics.policy_eval import unknown_variables
from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind == "iot":
            for name in unknown_variables(policy.document):
                if not name.startswith("AWS::") and "." not in name.split(":")[0]:
                    yield policy, f"${{{name}}} is not an AWS IoT policy variable; the resource never matches"


RULE = Rule(
    id="IOT-UNKNOWN-VARIABLE",
    severity=Severity.HIGH,
    title="Unknown IoT policy variable",
    explanation="An unknown variable stays literal, so the statement silently grants nothing "
    "(or a Deny silently denies nothing).",
    fix="Use a documented variable, e.g. ${iot:Connection.Thing.ThingName} instead of ${iot:ThingName}.",
    check=check,
)
