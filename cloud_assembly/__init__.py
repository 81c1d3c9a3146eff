"""The one reader of a cloud assembly (``cdk synth``'s ``cdk.out``), for the review, the double and tools.

- ``manifest``: the manifest, stacks, templates, metadata (``additionalMetadataFile`` included)
  and asset manifests;
- ``resolve``: intrinsics in two modes, readable placeholders (``READABLE``) for review or
  concrete values for one account and region (``Concrete``);
- ``parsers``: one parser per resource type in a dispatch table, each returning a typed record
  (``model``);
- ``roles``: what an IoT policy is for (device, claim, core device, quarantine), from its structure.

It sits on the bottom floor beside ``iot_semantics`` and knows nothing of CDK, the stacks, the
review or the double.
"""

from cloud_assembly.errors import AssemblyError
from cloud_assembly.model import (
    Assembly,
    Certificate,
    IamPolicy,
    IamRole,
    InlinePolicy,
    IotPolicy,
    LambdaFunction,
    LambdaPermission,
    Location,
    PolicyPrincipalAttachment,
    PolicyRole,
    ProvisioningTemplate,
    ResourcePolicy,
    RoleAlias,
    Stack,
    Table,
    TemplatePolicy,
    ThingGroup,
    ThingType,
    Variant,
)
from cloud_assembly.reader import load
from cloud_assembly.resolve import READABLE, Concrete, Readable

__all__ = [
    "READABLE",
    "Assembly",
    "AssemblyError",
    "Certificate",
    "Concrete",
    "IamPolicy",
    "IamRole",
    "InlinePolicy",
    "IotPolicy",
    "LambdaFunction",
    "LambdaPermission",
    "Location",
    "PolicyPrincipalAttachment",
    "PolicyRole",
    "ProvisioningTemplate",
    "Readable",
    "ResourcePolicy",
    "RoleAlias",
    "Stack",
    "Table",
    "TemplatePolicy",
    "ThingGroup",
    "ThingType",
    "Variant",
    "load",
]
