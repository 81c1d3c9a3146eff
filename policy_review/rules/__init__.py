"""The review's rules in a stable order: reach, documents, role aliases, IAM, tunnels, principals, the unjudged.

Every rule has a stable ID, a severity, an explanation, a fix and the equivalent checks of other tools
(``see_also``); ``RULES_BY_ID`` finds one.
"""

from policy_review.rules import (
    iam_identity,
    iot_documents,
    iot_reach,
    principals,
    role_alias,
    role_alias_s3,
    tunnel_operator,
    unjudged,
)
from policy_review.rules.base import Found, Review, Rule

RULES: tuple[Rule, ...] = (
    *iot_reach.RULES,
    *iot_documents.RULES,
    *role_alias.RULES,
    *role_alias_s3.RULES,
    *iam_identity.RULES,
    *tunnel_operator.RULES,
    *principals.RULES,
    *unjudged.RULES,
)
RULES_BY_ID = {r.id: r for r in RULES}

__all__ = ["RULES", "RULES_BY_ID", "Found", "Review", "Rule"]
