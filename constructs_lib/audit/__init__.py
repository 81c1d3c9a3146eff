from constructs_lib.audit.infrastructure import AccountAudit, AuditScheduleDef, ScheduledAudits

__all__ = ["AccountAudit", "AuditScheduleDef", "ScheduledAudits"]
