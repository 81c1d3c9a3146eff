from constructs_lib.allowlist.infrastructure import SerialAllowlist

__all__ = ["SerialAllowlist"]
