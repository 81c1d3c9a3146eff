from constructs_lib.fleet_provisioning.infrastructure import ClaimSpec, CoreSpec, FleetProvisioning, FleetSpec

__all__ = ["ClaimSpec", "CoreSpec", "FleetProvisioning", "FleetSpec"]
