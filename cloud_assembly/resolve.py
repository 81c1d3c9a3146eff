"""CloudFormation intrinsics, resolved in one of two modes; one evaluator per intrinsic.

- ``READABLE`` (the policy review): ``Ref``/``Fn::GetAtt`` of resources become placeholders a
  reviewer reads, ``${AWS::Region}``, ``${Role.Arn}``, ``${Import:name}``; a parameter takes its
  ``Default`` (else ``${Name}``). ``Fn::Join``, ``Fn::Sub`` (both forms; ``${!Literal}`` is the
  literal ``${Literal}``), ``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``, ``Fn::Base64``,
  ``Fn::ToJsonString`` and ``Fn::Length`` are evaluated over those values.
- ``Concrete(account, region)`` (the local double): pseudo parameters take the deployment's values,
  a resource's ``Ref`` its physical name and ``Fn::GetAtt ... Arn`` its ARN, as CloudFormation
  would resolve them in that account and region (``cloud_assembly.physical``).

``Fn::If`` picks the branch its condition takes in the resolver's ``conditions`` (one assignment of
the template's conditions, see ``cloud_assembly.conditions``; the review reads every assignment, the
double the one its parameter defaults give). ``AWS::NoValue`` removes the key or list item holding
it. An intrinsic a mode does not evaluate stays as written (an object), so nothing is invented.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloud_assembly import physical

#: ``${Name}``, ``${Logical.Attribute}`` or ``${!Literal}`` inside ``Fn::Sub``.
_SUB_REFERENCE = re.compile(r"\$\{(!?)([^}]*)\}")
PSEUDO_PARAMETERS = (
    "AWS::AccountId",
    "AWS::Region",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::NotificationARNs",
)


class _NoValue:
    """``{"Ref": "AWS::NoValue"}``: the key or list item holding it is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def get_att_parts(arg: Any) -> tuple[str, str] | None:
    """``["Logical", "Attr"]`` or ``"Logical.Attr"`` as (logical ID, attribute)."""
    if isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg):
        return str(arg[0]), str(arg[1])
    if isinstance(arg, str) and "." in arg:
        logical, attribute = arg.split(".", 1)
        return logical, attribute
    return None


def get_att_logical_id(node: Any) -> str | None:
    """The logical ID a ``{"Fn::GetAtt": ...}`` node points at, else None."""
    if isinstance(node, dict) and len(node) == 1 and "Fn::GetAtt" in node:
        parts = get_att_parts(node["Fn::GetAtt"])
        return parts[0] if parts else None
    return None


def ref_logical_id(node: Any) -> str | None:
    """The logical ID a ``{"Ref": ...}`` node names, else None."""
    if isinstance(node, dict) and len(node) == 1 and isinstance(node.get("Ref"), str):
        return str(node["Ref"])
    return None


class Resolver:
    """Resolves the values of one stack's template; subclasses fill ``EVALUATORS``."""

    EVALUATORS: Mapping[str, Callable[[Resolver, Any], Any]] = {}

    def __init__(
        self,
        stack: str,
        resources: Mapping[str, Any],
        *,
        parameters: Mapping[str, Any] | None = None,
        mappings: Mapping[str, Any] | None = None,
        conditions: Mapping[str, bool] | None = None,
    ) -> None:
        self.stack = stack
        self.resources = resources
        self.parameters = parameters if isinstance(parameters, Mapping) else {}
        self.mappings = mappings if isinstance(mappings, Mapping) else {}
        self.conditions = dict(conditions or {})
        self._depth = 0

    def value(self, node: Any) -> Any:
        """``node`` resolved; ``AWS::NoValue`` removes the keys and list items holding it, and a
        value that is ``AWS::NoValue`` itself reads as None (never the marker)."""
        found = self._value(node)
        return None if found is NO_VALUE else found

    def _value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self._value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            evaluator = self.EVALUATORS.get(key)
            if evaluator is not None:
                self._depth += 1
                try:
                    if self._depth > 64:  # a pathological nesting stays as written
                        return node
                    return evaluator(self, arg)
                finally:
                    self._depth -= 1
        out = {}
        for k, v in node.items():
            resolved = self._value(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    def text(self, node: Any) -> str:
        value = self.value(node)
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)

    def name(self, logical_id: str, name_property: str | None) -> str:
        """The resource's name as this mode reports it."""
        raise NotImplementedError

    def pseudo(self, name: str) -> str | None:
        raise NotImplementedError

    def reference(self, name: str) -> Any:
        """``Ref`` of a pseudo parameter, a parameter or a resource."""
        raise NotImplementedError

    def attribute(self, logical: str, attribute: str) -> Any:
        raise NotImplementedError

    def parameter_default(self, name: str) -> Any:
        spec = self.parameters.get(name)
        if isinstance(spec, Mapping) and "Default" in spec:
            default = spec["Default"]
            if str(spec.get("Type", "")).startswith("List<") or spec.get("Type") == "CommaDelimitedList":
                return [s.strip() for s in str(default).split(",")] if isinstance(default, str) else default
            return default if isinstance(default, str) else str(default)
        return None


# Shared evaluators --------------------------------------------------------------------------------


def _ref(resolver: Resolver, arg: Any) -> Any:
    if not isinstance(arg, str):
        return {"Ref": resolver.value(arg)}
    if arg == "AWS::NoValue":
        return NO_VALUE
    return resolver.reference(arg)


def _get_att(resolver: Resolver, arg: Any) -> Any:
    parts = get_att_parts(resolver.value(arg) if isinstance(arg, list) else arg)
    if parts is None:
        return {"Fn::GetAtt": arg}
    return resolver.attribute(*parts)


def _join(resolver: Resolver, arg: Any) -> Any:
    if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
        return {"Fn::Join": resolver.value(arg)}
    items = resolver.value(arg[1])
    if not isinstance(items, list) or not all(isinstance(i, str | int | float) for i in items):
        return {"Fn::Join": [arg[0], items]}
    return arg[0].join(str(i) for i in items)


def _sub(resolver: Resolver, arg: Any) -> Any:
    if isinstance(arg, str):
        text, variables = arg, {}
    elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict):
        text, variables = arg[0], {k: resolver.value(v) for k, v in arg[1].items()}
    else:
        return {"Fn::Sub": resolver.value(arg)}

    def replace(m: re.Match[str]) -> str:
        bang, name = m.group(1), m.group(2)
        if bang:
            return "${" + name + "}"  # '${!Literal}' is the literal '${Literal}'
        if name in variables:
            value = variables[name]
            return value if isinstance(value, str) else json.dumps(value, default=str)
        logical, _, attribute = name.partition(".")
        value = resolver.attribute(logical, attribute) if attribute else resolver.reference(name)
        return value if isinstance(value, str) else "${" + name + "}"

    return _SUB_REFERENCE.sub(replace, text)


def _if(resolver: Resolver, arg: Any) -> Any:
    if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
        return {"Fn::If": resolver.value(arg)}
    branch = arg[1] if resolver.conditions.get(arg[0], True) else arg[2]
    return resolver._value(branch)  # AWS::NoValue in a branch removes what holds the Fn::If


def _select(resolver: Resolver, arg: Any) -> Any:
    if not (isinstance(arg, list) and len(arg) == 2):
        return {"Fn::Select": resolver.value(arg)}
    index, items = resolver.value(arg[0]), resolver.value(arg[1])
    try:
        return items[int(index)] if isinstance(items, list) and int(index) >= 0 else {"Fn::Select": [index, items]}
    except (ValueError, TypeError, IndexError):
        return {"Fn::Select": [index, items]}


def _split(resolver: Resolver, arg: Any) -> Any:
    if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and arg[0]):
        return {"Fn::Split": resolver.value(arg)}
    text = resolver.value(arg[1])
    return text.split(arg[0]) if isinstance(text, str) else {"Fn::Split": [arg[0], text]}


def _find_in_map(resolver: Resolver, arg: Any) -> Any:
    if not (isinstance(arg, list) and len(arg) in (3, 4)):
        return {"Fn::FindInMap": resolver.value(arg)}
    keys = [resolver.value(a) for a in arg[:3]]
    try:
        found = resolver.mappings[keys[0]][keys[1]][keys[2]]
    except (KeyError, TypeError):
        if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
            return resolver.value(arg[3]["DefaultValue"])
        return {"Fn::FindInMap": keys}
    return resolver.value(found)


def _base64(resolver: Resolver, arg: Any) -> Any:
    value = resolver.value(arg)
    return base64.b64encode(value.encode()).decode() if isinstance(value, str) else {"Fn::Base64": value}


def _to_json_string(resolver: Resolver, arg: Any) -> Any:
    return json.dumps(resolver.value(arg), separators=(",", ":"), default=str)


def _length(resolver: Resolver, arg: Any) -> Any:
    value = resolver.value(arg)
    return len(value) if isinstance(value, list) else {"Fn::Length": value}


_SHARED: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Join": _join,
    "Fn::Sub": _sub,
    "Fn::If": _if,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::FindInMap": _find_in_map,
    "Fn::Base64": _base64,
    "Fn::ToJsonString": _to_json_string,
    "Fn::Length": _length,
}


# Readable placeholders --------------------------------------------------------------------------


def _readable_import(resolver: Resolver, arg: Any) -> str:
    return "${Import:" + resolver.text(arg) + "}"


class ReadableResolver(Resolver):
    EVALUATORS: Mapping[str, Callable[[Resolver, Any], Any]] = {**_SHARED, "Fn::ImportValue": _readable_import}

    def pseudo(self, name: str) -> str | None:
        return "${" + name + "}" if name in PSEUDO_PARAMETERS else None

    def reference(self, name: str) -> Any:
        if name in PSEUDO_PARAMETERS:
            return "${" + name + "}"
        default = self.parameter_default(name)
        return default if default is not None else "${" + name + "}"

    def attribute(self, logical: str, attribute: str) -> Any:
        return "${" + logical + "." + attribute + "}"

    def name(self, logical_id: str, name_property: str | None) -> str:
        resource = self.resources.get(logical_id)
        props = resource.get("Properties") if isinstance(resource, dict) else None
        value = props.get(name_property) if isinstance(props, dict) and name_property else None
        if value is None or value == "":
            return logical_id
        text = self.text(value)
        return text or logical_id


# Concrete values ----------------------------------------------------------------------------------


class ConcreteResolver(Resolver):
    def __init__(self, stack: str, resources: Mapping[str, Any], mode: Concrete, **kwargs: Any) -> None:
        super().__init__(stack, resources, **kwargs)
        self.mode = mode

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::AccountId": self.mode.account,
            "AWS::Region": self.mode.region,
            "AWS::Partition": self.mode.partition,
            "AWS::URLSuffix": self.mode.url_suffix,
            "AWS::StackName": self.stack,
        }.get(name)

    def physical(self, logical_id: str) -> str:
        return physical.name(self.stack, logical_id, self.resources.get(logical_id))

    def arn(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        return physical.arn(
            self.stack,
            logical_id,
            resource,
            account=self.mode.account,
            region=self.mode.region,
            partition=self.mode.partition,
        )

    def reference(self, name: str) -> Any:
        if (pseudo := self.pseudo(name)) is not None:
            return pseudo
        if name not in self.resources and (default := self.parameter_default(name)) is not None:
            return default
        return self.physical(name)

    def attribute(self, logical: str, attribute: str) -> Any:
        return self.arn(logical) if attribute.endswith("Arn") else self.physical(logical)

    def name(self, logical_id: str, name_property: str | None) -> str:
        return self.physical(logical_id)


ConcreteResolver.EVALUATORS = dict(_SHARED)


# Modes --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readable:
    """Placeholders for review: nothing about the target account is assumed."""

    #: Strict parsing raises on a malformed policy document; the review records the problem instead.
    strict: bool = field(default=False)

    def resolver(self, stack: str, resources: Mapping[str, Any], **kwargs: Any) -> Resolver:
        return ReadableResolver(stack, resources, **kwargs)


@dataclass(frozen=True)
class Concrete:
    """Values as a deployment in ``account`` and ``region`` would have them."""

    account: str
    region: str
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"
    strict: bool = True

    def resolver(self, stack: str, resources: Mapping[str, Any], **kwargs: Any) -> Resolver:
        return ConcreteResolver(stack, resources, self, **kwargs)


Mode = Readable | Concrete
READABLE = Readable()
