"""CloudFormation intrinsics, resolved in one of two modes; one evaluator per intrinsic.

- ``READABLE`` (the policy review): ``Ref``/``Fn::GetAtt`` become placeholders a reviewer reads,
  ``${AWS::Region}``, ``${Role.Arn}``, ``${Import:name}``; ``Fn::Join`` joins them; ``Fn::Sub``
  keeps its text (its ``${...}`` already read as placeholders).
- ``Concrete(account, region)`` (the local double): pseudo parameters take the deployment's values,
  a resource's ``Ref`` its physical name and ``Fn::GetAtt ... Arn`` its ARN, as CloudFormation
  would resolve them in that account and region (``cloud_assembly.physical``).

An intrinsic a mode does not evaluate stays as written (an object), so nothing is invented.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cloud_assembly import physical

#: ``${Name}`` or ``${Logical.Attribute}`` inside ``Fn::Sub``; ``${!Literal}`` is not one.
_SUB_REFERENCE = re.compile(r"\$\{([^}!][^}]*)\}")


def get_att_parts(arg: Any) -> tuple[str, str] | None:
    """``["Logical", "Attr"]`` or ``"Logical.Attr"`` as (logical ID, attribute)."""
    if isinstance(arg, list) and len(arg) == 2:
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


class Resolver:
    """Resolves the values of one stack's template; subclasses fill ``EVALUATORS``."""

    EVALUATORS: Mapping[str, Callable[[Resolver, Any], Any]] = {}

    def __init__(self, stack: str, resources: Mapping[str, Any]) -> None:
        self.stack = stack
        self.resources = resources

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            evaluator = self.EVALUATORS.get(key)
            if evaluator is not None:
                return evaluator(self, arg)
        return {k: self.value(v) for k, v in node.items()}

    def text(self, node: Any) -> str:
        return str(self.value(node))

    def name(self, logical_id: str, name_property: str | None) -> str:
        """The resource's name as this mode reports it."""
        raise NotImplementedError


def _join(resolver: Resolver, arg: Any) -> Any:
    if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
        return {"Fn::Join": resolver.value(arg)}
    return str(arg[0]).join(str(resolver.value(v)) for v in arg[1])


# Readable placeholders --------------------------------------------------------------------------


def _readable_ref(resolver: Resolver, arg: Any) -> str:
    return "${" + str(arg) + "}"


def _readable_get_att(resolver: Resolver, arg: Any) -> str:
    parts = get_att_parts(arg)
    return "${" + (".".join(parts) if parts else str(arg)) + "}"


def _readable_sub(resolver: Resolver, arg: Any) -> Any:
    return arg if isinstance(arg, str) else arg[0]


def _readable_import(resolver: Resolver, arg: Any) -> str:
    return "${Import:" + str(resolver.value(arg)) + "}"


class ReadableResolver(Resolver):
    EVALUATORS: Mapping[str, Callable[[Resolver, Any], Any]] = {
        "Ref": _readable_ref,
        "Fn::GetAtt": _readable_get_att,
        "Fn::Join": _join,
        "Fn::Sub": _readable_sub,
        "Fn::ImportValue": _readable_import,
    }

    def name(self, logical_id: str, name_property: str | None) -> str:
        props = self.resources.get(logical_id, {}).get("Properties", {})
        value = props.get(name_property) if name_property else None
        return self.text(value) if value else logical_id


# Concrete values ----------------------------------------------------------------------------------


class ConcreteResolver(Resolver):
    def __init__(self, stack: str, resources: Mapping[str, Any], mode: Concrete) -> None:
        super().__init__(stack, resources)
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
            self.stack, logical_id, resource, account=self.mode.account, region=self.mode.region,
            partition=self.mode.partition,
        )  # fmt: skip

    def name(self, logical_id: str, name_property: str | None) -> str:
        return self.physical(logical_id)


def _concrete_ref(resolver: Resolver, arg: Any) -> str:
    assert isinstance(resolver, ConcreteResolver)
    return resolver.pseudo(str(arg)) or resolver.physical(str(arg))


def _concrete_get_att(resolver: Resolver, arg: Any) -> Any:
    assert isinstance(resolver, ConcreteResolver)
    parts = get_att_parts(arg)
    if parts is None:
        return {"Fn::GetAtt": arg}
    logical, attribute = parts
    return resolver.arn(logical) if attribute.endswith("Arn") else resolver.physical(logical)


def _concrete_sub(resolver: Resolver, arg: Any) -> Any:
    assert isinstance(resolver, ConcreteResolver)
    if isinstance(arg, str):
        text, variables = arg, {}
    elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict):
        text, variables = arg[0], {k: resolver.value(v) for k, v in arg[1].items()}
    else:
        return {"Fn::Sub": arg}

    def replace(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in variables:
            return str(variables[name])
        if (pseudo := resolver.pseudo(name)) is not None:
            return pseudo
        logical, _, attribute = name.partition(".")
        if not attribute:
            return resolver.physical(logical)
        return resolver.arn(logical) if attribute.endswith("Arn") else resolver.physical(logical)

    return _SUB_REFERENCE.sub(replace, text).replace("${!", "${")


ConcreteResolver.EVALUATORS = {
    "Ref": _concrete_ref,
    "Fn::GetAtt": _concrete_get_att,
    "Fn::Join": _join,
    "Fn::Sub": _concrete_sub,
}


# Modes --------------------------------------------------------------------------------------------


class Readable:
    """Placeholders for review: nothing about the target account is assumed."""

    def resolver(self, stack: str, resources: Mapping[str, Any]) -> Resolver:
        return ReadableResolver(stack, resources)


@dataclass(frozen=True)
class Concrete:
    """Values as a deployment in ``account`` and ``region`` would have them."""

    account: str
    region: str
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    def resolver(self, stack: str, resources: Mapping[str, Any]) -> Resolver:
        return ConcreteResolver(stack, resources, self)


Mode = Readable | Concrete
READABLE = Readable()
