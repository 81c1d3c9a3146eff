"""IAM-NOTACTION-ALLOW: Allow with NotAction."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, statements


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        for s in statements(policy):
            if s.get("Effect") == "Allow" and "NotAction" in s:
                yield policy, "Allow with NotAction grants every action not listed, including new ones"


RULE = Rule(
    id="IAM-NOTACTION-ALLOW",
    severity=Severity.MEDIUM,
    title="Allow with NotAction",
    explanation="The grant grows whenever AWS adds actions.",
    fix="List the allowed actions.",
    check=check,
    see_also=("cfn_nag W15/W21", "Parliament"),
)
