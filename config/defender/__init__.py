"""The ``defender:`` section of the fleet config: detect, audit, alerting, mitigation, logging.

- ``models``: the section's typed, immutable models (what ``config.models`` embeds);
- ``catalogue``: the default behaviours, as data, and how a fleet's tuning combines with them;
- ``checks``: rules relating behaviours to the metric table and tuning to the fleets.

This package imports only ``models`` eagerly; ``checks`` needs ``config.models`` (which embeds
``models``), so ``config.models`` never imports ``checks`` and there is no import cycle.
"""

from config.defender.models import (
    Alerts,
    Audit,
    AuditSchedule,
    Behavior,
    CustomMetric,
    Defender,
    Dimension,
    FleetDetect,
    IotLogging,
    MlDetect,
    ProvisioningAlarms,
    Subscription,
)

__all__ = [
    "Alerts",
    "Audit",
    "AuditSchedule",
    "Behavior",
    "CustomMetric",
    "Defender",
    "Dimension",
    "FleetDetect",
    "IotLogging",
    "MlDetect",
    "ProvisioningAlarms",
    "Subscription",
]
