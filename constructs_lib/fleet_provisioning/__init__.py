from constructs_lib.fleet_provisioning.infrastructure import ClaimSpec, FleetProvisioning, FleetSpec

__all__ = ["ClaimSpec", "FleetProvisioning", "FleetSpec"]
