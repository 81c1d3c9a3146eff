from constructs_lib.provisioning_hook.infrastructure import PreProvisioningHook

__all__ = ["PreProvisioningHook"]
