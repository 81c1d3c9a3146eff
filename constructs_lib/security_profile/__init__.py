from constructs_lib.security_profile.infrastructure import BehaviorDef, SecurityProfile

__all__ = ["BehaviorDef", "SecurityProfile"]
