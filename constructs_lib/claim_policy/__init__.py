from constructs_lib.claim_policy.document import claim_policy_document
from constructs_lib.claim_policy.infrastructure import ClaimPolicy

__all__ = ["ClaimPolicy", "claim_policy_document"]
