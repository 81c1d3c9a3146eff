"""The review's rules in a stable order: reach explanations, documents, IAM, principals, role aliases, the unjudged.

Every rule has a stable ID, a severity, an explanation, a fix and the equivalent checks of other tools
(``see_also``); ``RULES_BY_ID`` finds one.
"""

from policy_review.rules import iam_identity, iot_documents, iot_reach, principals, role_alias, unjudged
from policy_review.rules.base import Found, Review, Rule

RULES: tuple[Rule, ...] = (
    *iot_reach.RULES,
    *iot_documents.RULES,
    *role_alias.RULES,
    *iam_identity.RULES,
    *principals.RULES,
    *unjudged.RULES,
)
RULES_BY_ID = {r.id: r for r in RULES}

__all__ = ["RULES", "RULES_BY_ID", "Found", "Review", "Rule"]
