"""The provisioning template body (the JSON inside ``TemplateBody``), generated from typed input.

Text values may hold ``{Parameter}`` placeholders; they become ``{"Ref": ...}`` or ``Fn::Join``
so the body uses only the documented intrinsics. OverrideSettings keep a re-provisioned device
working: its existing thing is kept (attributes and groups merged, type replaced) and the new
certificate is activated and gets the fleet's policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iot_semantics.template_eval import CERTIFICATE_ID as CERTIFICATE_ID_PARAMETER

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class TemplateParameter:
    default: str | None = None


@dataclass(frozen=True)
class ThingSpec:
    name: str  # e.g. "sensor-{SerialNumber}"
    thing_type_name: str
    thing_group_names: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)


def expression(text: str, parameters: Mapping[str, TemplateParameter]) -> Any:
    """``"a-{P}"`` -> ``{"Fn::Join": ["", ["a-", {"Ref": "P"}]]}``; plain text stays text."""
    parts: list[Any] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.group(1) not in parameters:
            raise ValueError(f"{{{m.group(1)}}} in {text!r} is not a template parameter")
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        parts.append({"Ref": m.group(1)})
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return {"Fn::Join": ["", parts]}


def template_body(
    *,
    parameters: Mapping[str, TemplateParameter],
    thing: ThingSpec,
    policy_name: str,
    device_configuration: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in parameters.items():
        params[name] = {"Type": "String"} if spec.default is None else {"Type": "String", "Default": spec.default}
    params[CERTIFICATE_ID_PARAMETER] = {"Type": "String"}

    thing_properties: dict[str, Any] = {
        "ThingName": expression(thing.name, parameters),
        "ThingTypeName": thing.thing_type_name,
    }
    if thing.attributes:
        thing_properties["AttributePayload"] = {
            key: expression(value, parameters) for key, value in thing.attributes.items()
        }
    if thing.thing_group_names:
        thing_properties["ThingGroups"] = list(thing.thing_group_names)

    body: dict[str, Any] = {
        "Parameters": params,
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": thing_properties,
                "OverrideSettings": {
                    "AttributePayload": "MERGE",
                    "ThingTypeName": "REPLACE",
                    "ThingGroups": "MERGE",
                },
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": CERTIFICATE_ID_PARAMETER}, "Status": "ACTIVE"},
                "OverrideSettings": {"Status": "REPLACE"},
            },
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": policy_name}},
        },
    }
    if device_configuration:
        body["DeviceConfiguration"] = {
            key: expression(value, parameters) for key, value in device_configuration.items()
        }
    return body
