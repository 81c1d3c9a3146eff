from constructs_lib.mitigation.infrastructure import MitigationActions

__all__ = ["MitigationActions"]
