from constructs_lib.device_policy.infrastructure import DevicePolicy

__all__ = ["DevicePolicy"]
