"""IAM-TRUST-STAR: a role anyone can assume."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, as_list, statements


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "trust":
            continue
        for s in statements(policy):
            principal = s.get("Principal")
            values = (
                [principal]
                if principal == "*"
                else as_list((principal or {}).get("AWS"))
                if isinstance(principal, dict)
                else []
            )
            if s.get("Effect") == "Allow" and "*" in values and not s.get("Condition"):
                yield policy, "the role trusts Principal * with no condition: any AWS account can assume it"


RULE = Rule(
    id="IAM-TRUST-STAR",
    severity=Severity.CRITICAL,
    title="Role assumable by anyone",
    explanation="A trust policy with Principal * and no condition.",
    fix="Name the trusted accounts or roles, or add aws:PrincipalOrgID / sts:ExternalId conditions.",
    check=check,
    see_also=("cfn_nag F2", "Checkov CKV_AWS_60"),
)
