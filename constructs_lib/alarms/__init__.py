from constructs_lib.alarms.infrastructure import SecurityAlarms

__all__ = ["SecurityAlarms"]
