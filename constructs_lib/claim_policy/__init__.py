from constructs_lib.claim_policy.infrastructure import ClaimPolicy

__all__ = ["ClaimPolicy"]
