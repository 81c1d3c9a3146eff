"""A template's ``Conditions``: which assignments of them a deployment can take.

``Fn::If`` and a resource's ``Condition`` attribute depend on conditions, which depend on
parameters. ``assignments()`` returns every distinct truth assignment of the conditions the
template uses, found by evaluating the conditions (``Fn::Equals``, ``Fn::And``, ``Fn::Or``,
``Fn::Not``, ``Condition``) over candidate parameter values: each parameter's ``AllowedValues``,
else its ``Default``, every literal a condition compares it with, and one value none of them is.
A condition that cannot be evaluated that way (it reads something other than parameters and
literals) is free: both of its values are taken. ``default_assignment()`` is the one the
parameters' defaults give (what the local double deploys).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

#: More assignments than this are not enumerated (``assignments`` says it truncated).
MAX_ASSIGNMENTS = 16
_MAX_CANDIDATE_COMBINATIONS = 256
_OTHER = "\x00other"


class _Unevaluable(Exception):
    pass


def _section(template: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = template.get(name)
    return value if isinstance(value, dict) else {}


def used_conditions(template: Mapping[str, Any]) -> list[str]:
    """Conditions named by ``Fn::If`` or a resource's ``Condition``, in first-use order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if len(node) == 1 and "Fn::If" in node and isinstance(node["Fn::If"], list) and node["Fn::If"]:
                if isinstance(node["Fn::If"][0], str) and node["Fn::If"][0] not in found:
                    found.append(node["Fn::If"][0])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    resources = template.get("Resources")
    if isinstance(resources, dict):
        for resource in resources.values():
            if isinstance(resource, dict):
                condition = resource.get("Condition")
                if isinstance(condition, str) and condition not in found:
                    found.append(condition)
                walk(resource.get("Properties"))
    walk(template.get("Outputs"))
    return found


class _Evaluator:
    def __init__(self, conditions: Mapping[str, Any], parameters: Mapping[str, Any], values: Mapping[str, str]):
        self.conditions = conditions
        self.parameters = parameters
        self.values = values
        self._stack: list[str] = []

    def condition(self, name: str) -> bool:
        if name in self._stack or name not in self.conditions:
            raise _Unevaluable(name)
        self._stack.append(name)
        try:
            return self.truth(self.conditions[name])
        finally:
            self._stack.pop()

    def truth(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
                return not self.truth(arg[0])
            if key == "Fn::And" and isinstance(arg, list) and arg:
                return all(self.truth(a) for a in arg)
            if key == "Fn::Or" and isinstance(arg, list) and arg:
                return any(self.truth(a) for a in arg)
            if key == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
                return self.scalar(arg[0]) == self.scalar(arg[1])
        if isinstance(node, bool):
            return node
        raise _Unevaluable(str(node)[:40])

    def scalar(self, node: Any) -> str:
        if isinstance(node, str | int | float | bool):
            return str(node).lower() if isinstance(node, bool) else str(node)
        if isinstance(node, dict) and len(node) == 1 and isinstance(node.get("Ref"), str):
            name = node["Ref"]
            if name in self.values:
                return self.values[name]
        raise _Unevaluable(str(node)[:40])


def _compared_literals(node: Any, out: dict[str, set[str]]) -> None:
    if isinstance(node, dict):
        if len(node) == 1 and "Fn::Equals" in node and isinstance(node["Fn::Equals"], list):
            pair = node["Fn::Equals"]
            if len(pair) == 2:
                for a, b in (pair, pair[::-1]):
                    if isinstance(a, dict) and isinstance(a.get("Ref"), str) and isinstance(b, str | int | bool):
                        out.setdefault(a["Ref"], set()).add(str(b).lower() if isinstance(b, bool) else str(b))
        for v in node.values():
            _compared_literals(v, out)
    elif isinstance(node, list):
        for v in node:
            _compared_literals(v, out)


def _candidates(parameters: Mapping[str, Any], conditions: Mapping[str, Any]) -> dict[str, list[str]]:
    compared: dict[str, set[str]] = {}
    _compared_literals(dict(conditions), compared)
    out: dict[str, list[str]] = {}
    for name, literals in compared.items():
        spec = parameters.get(name) if isinstance(parameters.get(name), dict) else {}
        allowed = spec.get("AllowedValues") if isinstance(spec, dict) else None
        if isinstance(allowed, list) and allowed:
            out[name] = [str(v) for v in allowed]
            continue
        values = sorted(literals)
        if isinstance(spec, dict) and "Default" in spec:
            values.insert(0, str(spec["Default"]))
        out[name] = [*dict.fromkeys(values), _OTHER]
    return out


def _evaluate_all(
    names: list[str], conditions: Mapping[str, Any], parameters: Mapping[str, Any], values: Mapping[str, str]
) -> tuple[dict[str, bool], list[str]]:
    ev = _Evaluator(conditions, parameters, values)
    fixed: dict[str, bool] = {}
    free: list[str] = []
    for name in names:
        try:
            fixed[name] = ev.condition(name)
        except _Unevaluable:
            free.append(name)
    return fixed, free


def assignments(template: Mapping[str, Any]) -> tuple[list[dict[str, bool]], bool]:
    """Every distinct assignment of the used conditions (at most ``MAX_ASSIGNMENTS``), and whether
    more existed. A template that uses no condition has one empty assignment."""
    names = used_conditions(template)
    if not names:
        return [{}], False
    conditions = _section(template, "Conditions")
    parameters = _section(template, "Parameters")
    candidates = _candidates(parameters, conditions)
    keys = sorted(candidates)
    seen: list[dict[str, bool]] = []
    truncated = False
    for count, combo in enumerate(itertools.product(*(candidates[k] for k in keys))):
        if count >= _MAX_CANDIDATE_COMBINATIONS:
            truncated = True
            break
        fixed, free = _evaluate_all(names, conditions, parameters, dict(zip(keys, combo, strict=True)))
        for bits in itertools.product((True, False), repeat=len(free)):
            assignment = {**fixed, **dict(zip(free, bits, strict=True))}
            if assignment not in seen:
                seen.append(assignment)
            if len(seen) > MAX_ASSIGNMENTS:
                return seen[:MAX_ASSIGNMENTS], True
    return seen, truncated


def default_assignment(template: Mapping[str, Any]) -> dict[str, bool]:
    """The assignment the parameters' defaults give; a condition that cannot be evaluated is true."""
    names = used_conditions(template)
    conditions = _section(template, "Conditions")
    parameters = _section(template, "Parameters")
    values = {
        name: str(spec["Default"]) for name, spec in parameters.items() if isinstance(spec, dict) and "Default" in spec
    }
    fixed, free = _evaluate_all(names, conditions, parameters, values)
    return {**fixed, **dict.fromkeys(free, True)}


def label(assignment: Mapping[str, bool]) -> str:
    """``IsProd=true, UseKms=false`` (empty for a template without conditions)."""
    return ", ".join(f"{k}={'true' if v else 'false'}" for k, v in assignment.items())
