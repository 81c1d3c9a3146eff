from constructs_lib.token_exchange_role.infrastructure import CREDENTIALS_THING_NAME, ArtifactGrant, TokenExchangeRole

__all__ = ["CREDENTIALS_THING_NAME", "ArtifactGrant", "TokenExchangeRole"]
