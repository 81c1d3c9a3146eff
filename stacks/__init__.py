"""Deployable units: stacks compose constructs and hold no logic of their own."""

from stacks.fleet_provisioning_stack import FleetProvisioningStack

__all__ = ["FleetProvisioningStack"]
