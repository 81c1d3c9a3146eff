"""IOT-POLICY-SIZE: over AWS IoT's 2048 non-whitespace characters."""

from __future__ import annotations

from collections.abc import Iterator

from iot_semantics import limits
from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind == "iot":
            size = limits.non_whitespace_length(policy.document)
            if size > limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE:
                yield (
                    policy,
                    f"{size} non-whitespace characters; AWS IoT accepts {limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE}",
                )


RULE = Rule(
    id="IOT-POLICY-SIZE",
    severity=Severity.HIGH,
    title="IoT policy over 2048 characters",
    explanation="CreatePolicy rejects it at deploy time (the CloudFormation schema's larger limit is misleading).",
    fix="Merge resources under the thing-name prefix or split features into fewer namespaces.",
    check=check,
)
