from constructs_lib.quarantine.infrastructure import Quarantine, deny_all_policy_document

__all__ = ["Quarantine", "deny_all_policy_document"]
