from constructs_lib.provisioning_role.infrastructure import ProvisioningRole

__all__ = ["ProvisioningRole"]
