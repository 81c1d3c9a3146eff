from constructs_lib.alarms.infrastructure import SecurityAlarms
from constructs_lib.alarms.provisioning import ProvisioningThresholds, add_provisioning_alarms

__all__ = ["ProvisioningThresholds", "SecurityAlarms", "add_provisioning_alarms"]
