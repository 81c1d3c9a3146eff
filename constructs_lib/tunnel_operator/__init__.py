from constructs_lib.tunnel_operator.infrastructure import TUNNEL_SCOPE_TAG, TunnelOperatorRole

__all__ = ["TUNNEL_SCOPE_TAG", "TunnelOperatorRole"]
