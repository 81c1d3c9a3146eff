from constructs_lib.device_policy.document import DeviceTopicAccess, device_policy_document
from constructs_lib.device_policy.infrastructure import DevicePolicy

__all__ = ["DevicePolicy", "DeviceTopicAccess", "device_policy_document"]
