"""Evaluate a fleet provisioning template body the way AWS IoT does for RegisterThing.

Grammar (fact sheet section 2): ``Parameters`` (type String, optional Default), ``Mappings``
(two levels, plain values), ``Resources`` of types ``AWS::IoT::Thing``, ``AWS::IoT::Certificate``
and ``AWS::IoT::Policy`` with optional ``OverrideSettings``, and ``DeviceConfiguration`` (flat).
Intrinsics: ``Ref``, ``Fn::Join``, ``Fn::Sub``, ``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``;
anything else (``Fn::If``, ``Conditions``) is undocumented for provisioning templates and refused.

The result is a plan the caller (the local double, the policy review) carries out or inspects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

CERTIFICATE_ID = "AWS::IoT::Certificate::Id"
RESOURCE_TYPES = ("AWS::IoT::Thing", "AWS::IoT::Certificate", "AWS::IoT::Policy")
OVERRIDE_VALUES = ("DO_NOTHING", "REPLACE", "FAIL", "MERGE")
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(Exception):
    """The template or the parameters cannot be evaluated; ``str()`` says where and why."""


@dataclass(frozen=True)
class ThingPlan:
    name: str
    thing_type: str | None = None
    groups: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    billing_group: str | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CertificatePlan:
    certificate_id: str
    status: str = "ACTIVE"
    overrides: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyPlan:
    name: str | None = None
    document: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ProvisioningPlan:
    parameters: Mapping[str, str]
    things: tuple[ThingPlan, ...]
    certificates: tuple[CertificatePlan, ...]
    policies: tuple[PolicyPlan, ...]
    device_configuration: Mapping[str, str]

    @property
    def thing(self) -> ThingPlan | None:
        return self.things[0] if self.things else None


def parse_body(body: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"template body is not JSON: {exc.msg} at line {exc.lineno}") from None
    elif isinstance(body, Mapping):
        parsed = dict(body)
    else:  # a TemplateBody read from a template may be any JSON value
        parsed = body
    if not isinstance(parsed, dict):
        raise TemplateError("template body must be a JSON object")
    unknown = set(parsed) - {"Parameters", "Mappings", "Resources", "DeviceConfiguration"}
    if unknown:
        raise TemplateError(f"unsupported template sections: {sorted(unknown)}")
    return parsed


def resolve_parameters(body: Mapping[str, Any], supplied: Mapping[str, str]) -> dict[str, str]:
    """Declared parameters with their values: supplied, else Default, else an error."""
    declared = body.get("Parameters", {})
    if not isinstance(declared, dict):
        raise TemplateError("Parameters must be an object")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if not isinstance(spec, dict) or spec.get("Type", "String") != "String":
            raise TemplateError(f"parameter {name}: only Type String is supported")
        if name in supplied:
            value = supplied[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no value and no Default")
        if not isinstance(value, str):
            raise TemplateError(f"parameter {name} must be a string")
        values[name] = value
    return values


class _Evaluator:
    def __init__(self, body: Mapping[str, Any], params: Mapping[str, str]) -> None:
        self.params = params
        mappings = body.get("Mappings", {})
        if not isinstance(mappings, dict):
            raise TemplateError("Mappings must be an object")
        self.mappings = mappings

    def value(self, node: Any, where: str) -> Any:
        if isinstance(node, str | int | float | bool) or node is None:
            return node
        if isinstance(node, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, dict):
            raise TemplateError(f"{where}: unsupported value")
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg, where)
            if key.startswith("Fn::"):
                return self._function(key, arg, where)
        return {k: self.value(v, f"{where}.{k}") for k, v in node.items()}

    def _ref(self, name: Any, where: str) -> str:
        if not isinstance(name, str) or name not in self.params:
            raise TemplateError(f"{where}: Ref to {name!r}, which is not a declared parameter")
        return self.params[name]

    def _function(self, key: str, arg: Any, where: str) -> Any:
        at = f"{where}.{key}"
        if key == "Fn::Join":
            if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
                raise TemplateError(f"{at}: expects [delimiter, [values]]")
            items = self.value(arg[1], at)
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise TemplateError(f"{at}: values must be a list of strings")
            return arg[0].join(items)
        if key == "Fn::Select":
            if not (isinstance(arg, list) and len(arg) == 2):
                raise TemplateError(f"{at}: expects [index, [values]]")
            index = self.value(arg[0], at)
            items = self.value(arg[1], at)
            try:
                return items[int(index)]
            except (ValueError, TypeError, IndexError):
                raise TemplateError(f"{at}: index {index!r} is out of range") from None
        if key == "Fn::Split":
            if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and arg[0]):
                raise TemplateError(f"{at}: expects [delimiter, string]")
            text = self.value(arg[1], at)
            if not isinstance(text, str):
                raise TemplateError(f"{at}: the value to split must be a string")
            return text.split(arg[0])
        if key == "Fn::FindInMap":
            if not (isinstance(arg, list) and len(arg) == 3):
                raise TemplateError(f"{at}: expects [map, top-level key, second-level key]")
            name, top, second = (self.value(a, at) for a in arg)
            try:
                found = self.mappings[name][top][second]
            except (KeyError, TypeError):
                raise TemplateError(f"{at}: no mapping {name}/{top}/{second}") from None
            return found
        if key == "Fn::Sub":
            return self._sub(arg, at)
        raise TemplateError(f"{at}: {key} is not supported in provisioning templates")

    def _sub(self, arg: Any, at: str) -> str:
        extra: dict[str, Any] = {}
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[0], str) or not isinstance(arg[1], dict):
                raise TemplateError(f"{at}: expects a string or [string, {{variables}}]")
            text = arg[0]
            extra = {k: self.value(v, at) for k, v in arg[1].items()}
        elif isinstance(arg, str):
            text = arg
        else:
            raise TemplateError(f"{at}: expects a string or [string, {{variables}}]")

        def replace(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in extra:
                return str(extra[name])
            if name in self.params:
                return self.params[name]
            raise TemplateError(f"{at}: ${{{name}}} is neither a parameter nor a Sub variable")

        # '${!Literal}' stands for the literal text '${Literal}'.
        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise TemplateError(f"{where} must be a string")
    return value


def _overrides(resource: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> dict[str, str]:
    settings = resource.get("OverrideSettings", {})
    if not isinstance(settings, dict):
        raise TemplateError(f"{where}.OverrideSettings must be an object")
    for key, value in settings.items():
        if key not in allowed:
            raise TemplateError(f"{where}.OverrideSettings: {key} cannot be overridden (allowed: {allowed})")
        if value not in OVERRIDE_VALUES:
            raise TemplateError(f"{where}.OverrideSettings.{key}: {value!r} not in {OVERRIDE_VALUES}")
        if value == "MERGE" and key not in ("AttributePayload", "ThingGroups"):
            raise TemplateError(
                f"{where}.OverrideSettings.{key}: MERGE applies only to AttributePayload and ThingGroups"
            )
    return dict(settings)


def _thing(props: dict[str, Any], resource: Mapping[str, Any], where: str) -> ThingPlan:
    attributes = props.get("AttributePayload", {}) or {}
    if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
        raise TemplateError(f"{where}.Properties.AttributePayload must map names to strings")
    groups = props.get("ThingGroups", []) or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise TemplateError(f"{where}.Properties.ThingGroups must be a list of names")
    return ThingPlan(
        name=_string(props.get("ThingName"), f"{where}.Properties.ThingName"),
        thing_type=props.get("ThingTypeName"),
        groups=tuple(groups),
        attributes=dict(attributes),
        billing_group=props.get("BillingGroup"),
        overrides=_overrides(resource, ("AttributePayload", "ThingTypeName", "ThingGroups", "BillingGroup"), where),
    )


def _certificate(props: dict[str, Any], resource: Mapping[str, Any], where: str) -> CertificatePlan:
    if "CertificateId" not in props:
        raise TemplateError(f"{where}: fleet provisioning templates identify the certificate by CertificateId")
    status = props.get("Status", "ACTIVE")
    if status not in ("ACTIVE", "INACTIVE"):
        raise TemplateError(f"{where}.Properties.Status must be ACTIVE or INACTIVE")
    return CertificatePlan(
        certificate_id=_string(props["CertificateId"], f"{where}.Properties.CertificateId"),
        status=status,
        overrides=_overrides(resource, ("Status",), where),
    )


def _policy(props: dict[str, Any], resource: Mapping[str, Any], where: str) -> PolicyPlan:
    if resource.get("OverrideSettings"):
        raise TemplateError(f"{where}: AWS::IoT::Policy takes no OverrideSettings")
    name, document = props.get("PolicyName"), props.get("PolicyDocument")
    if (name is None) == (document is None):
        raise TemplateError(f"{where}: give exactly one of PolicyName and PolicyDocument")
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            raise TemplateError(f"{where}.Properties.PolicyDocument is not JSON") from None
    return PolicyPlan(name=name, document=document)


#: What each resource type of a template body plans (the three types fleet provisioning accepts).
_PLANNERS: dict[str, Callable[[dict[str, Any], Mapping[str, Any], str], ThingPlan | CertificatePlan | PolicyPlan]] = {
    "AWS::IoT::Thing": _thing,
    "AWS::IoT::Certificate": _certificate,
    "AWS::IoT::Policy": _policy,
}


def _device_configuration(ev: _Evaluator, parsed: Mapping[str, Any]) -> dict[str, str]:
    config = ev.value(parsed.get("DeviceConfiguration", {}), "DeviceConfiguration")
    if not isinstance(config, dict):
        raise TemplateError("DeviceConfiguration must be an object")
    for key, value in config.items():
        if isinstance(value, dict | list):
            raise TemplateError(f"DeviceConfiguration.{key}: nested values are not supported")
    return {k: str(v) for k, v in config.items()}


def evaluate(body: str | Mapping[str, Any], parameters: Mapping[str, str]) -> ProvisioningPlan:
    """Evaluate ``body`` with the RegisterThing ``parameters`` (after hook overrides)."""
    parsed = parse_body(body)
    params = resolve_parameters(parsed, parameters)
    ev = _Evaluator(parsed, params)
    resources = parsed.get("Resources", {})
    if not isinstance(resources, dict):
        raise TemplateError("Resources must be an object")
    planned: list[ThingPlan | CertificatePlan | PolicyPlan] = []
    for logical, resource in resources.items():
        where = f"Resources.{logical}"
        if not isinstance(resource, dict) or resource.get("Type") not in RESOURCE_TYPES:
            raise TemplateError(f"{where}: Type must be one of {RESOURCE_TYPES}")
        props = ev.value(resource.get("Properties", {}), f"{where}.Properties")
        if not isinstance(props, dict):
            raise TemplateError(f"{where}.Properties must be an object")
        planned.append(_PLANNERS[resource["Type"]](props, resource, where))
    return ProvisioningPlan(
        parameters=params,
        things=tuple(p for p in planned if isinstance(p, ThingPlan)),
        certificates=tuple(p for p in planned if isinstance(p, CertificatePlan)),
        policies=tuple(p for p in planned if isinstance(p, PolicyPlan)),
        device_configuration=_device_configuration(ev, parsed),
    )
