"""Deployable units: stacks compose constructs and hold no logic of their own."""

from stacks.device_defender_stack import DeviceDefenderStack
from stacks.fleet_provisioning_stack import FleetProvisioningStack

__all__ = ["DeviceDefenderStack", "FleetProvisioningStack"]
