"""Deployable units: stacks compose constructs and hold no logic of their own.

``plans`` turns the frozen config into the specs the constructs take; each stack instantiates
them and writes its outputs through ``contracts.outputs``.
"""

from stacks.device_defender_stack import DeviceDefenderStack
from stacks.fleet_provisioning_stack import FleetProvisioningStack

__all__ = ["DeviceDefenderStack", "FleetProvisioningStack"]
