from constructs_lib.provisioning_template.body import TemplateParameter, ThingSpec, template_body
from constructs_lib.provisioning_template.infrastructure import FleetProvisioningTemplate

__all__ = ["FleetProvisioningTemplate", "TemplateParameter", "ThingSpec", "template_body"]
