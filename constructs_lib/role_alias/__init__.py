from constructs_lib.role_alias.infrastructure import RoleAlias

__all__ = ["RoleAlias"]
