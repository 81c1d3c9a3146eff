"""The provisioning template body (the JSON inside ``TemplateBody``), generated from typed input.

Text values may hold ``{Parameter}`` placeholders; they become ``{"Ref": ...}`` or ``Fn::Join``
so the body uses only the documented intrinsics. OverrideSettings keep a re-provisioned device
working: its existing thing is kept (attributes and groups merged, type replaced) and the new
certificate is activated and gets the fleet's policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iot_semantics.template_eval import CERTIFICATE_ID as CERTIFICATE_ID_PARAMETER

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: Stands for the thing's name in a per-device policy document until the body is rendered.
THING_NAME_SENTINEL = "@@THING_NAME@@"


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


def _parts(value: Any) -> list[Any]:
    if isinstance(value, dict) and "Fn::Join" in value:
        return list(value["Fn::Join"][1])
    return [value] if value != "" else []


def per_device_policy(document: Mapping[str, Any], thing_name: str, parameters: Mapping[str, TemplateParameter]) -> Any:
    """``document`` (naming the thing as ``THING_NAME_SENTINEL``) as the JSON string AWS IoT creates
    the device's own policy from: ``Fn::Join`` of the document's text and the thing-name parameters."""
    text = json.dumps(document, separators=(",", ":"))
    pieces = text.split(THING_NAME_SENTINEL)
    name = _parts(expression(thing_name, parameters))
    joined: list[Any] = []
    for i, piece in enumerate(pieces):
        if i:
            joined += name
        if piece:
            if joined and isinstance(joined[-1], str):
                joined[-1] += piece
            else:
                joined.append(piece)
    merged: list[Any] = []
    for part in joined:
        if merged and isinstance(part, str) and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return {"Fn::Join": ["", merged]}


def template_body(
    *,
    parameters: Mapping[str, TemplateParameter],
    thing: ThingSpec,
    policy_name: str | None = None,
    policy_document: Mapping[str, Any] | None = None,
    device_configuration: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The body; the device gets the named policy, or ``policy_document`` as its own policy."""
    if (policy_name is None) == (policy_document is None):
        raise ValueError("give exactly one of policy_name and policy_document")
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
            "policy": {
                "Type": "AWS::IoT::Policy",
                "Properties": (
                    {"PolicyName": policy_name}
                    if policy_document is None
                    else {"PolicyDocument": per_device_policy(policy_document, thing.name, parameters)}
                ),
            },
        },
    }
    if device_configuration:
        body["DeviceConfiguration"] = {
            key: expression(value, parameters) for key, value in device_configuration.items()
        }
    return body
