from constructs_lib.provisioning_template.body import (
    THING_NAME_SENTINEL,
    TemplateParameter,
    ThingSpec,
    per_device_policy,
    template_body,
)
from constructs_lib.provisioning_template.infrastructure import FleetProvisioningTemplate

__all__ = [
    "THING_NAME_SENTINEL",
    "FleetProvisioningTemplate",
    "TemplateParameter",
    "ThingSpec",
    "per_device_policy",
    "template_body",
]
