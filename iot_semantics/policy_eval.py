"""Evaluate AWS IoT Core policies for one request, as the broker does at CONNECT/PUBLISH/SUBSCRIBE/delivery.

Semantics (fact sheet section 5): all policies of the principal (certificate and the thing's
groups) are evaluated together; an explicit Deny wins, else an Allow allows, else the request is
implicitly denied. Actions match case-insensitively with ``*``/``?``; resources match with IoT's
rules (``*`` spans levels, ``+``/``#`` are literal, policy variables are substituted, see
``policy_match``). ``NotAction``/``NotResource`` invert the match. Conditions support the
operators device policies use; an unknown operator makes the statement not apply (and is reported
by ``unknown_operators`` so a review can flag it).
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from iot_semantics import variables as var
from iot_semantics.policy_match import resource_matches, substitute


class Effect(Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    IMPLICIT_DENY = "ImplicitDeny"


@dataclass(frozen=True)
class Context:
    """What AWS IoT knows about the connection making the request."""

    client_id: str
    certificate_id: str | None = None
    #: Set only when the client ID is the name of an existing thing (thing policy variables).
    thing_name: str | None = None
    thing_type: str | None = None
    thing_attributes: Mapping[str, str] = field(default_factory=dict)
    #: Whether the connecting certificate is attached to ``thing_name``.
    is_attached: bool = False
    source_ip: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def variables(self) -> dict[str, str]:
        values: dict[str, str] = {var.CLIENT_ID: self.client_id, **self.extra}
        if self.certificate_id:
            values[var.CERTIFICATE_ID] = self.certificate_id
        if self.source_ip:
            values[var.SOURCE_IP] = self.source_ip
        if self.thing_name is not None:
            values[var.THING_NAME] = self.thing_name
            values[var.IS_ATTACHED] = "true" if self.is_attached else "false"
            if self.thing_type:
                values[var.THING_TYPE_NAME] = self.thing_type
            for key, value in self.thing_attributes.items():
                values[var.attribute(key)] = value
        return values


@dataclass(frozen=True)
class Decision:
    effect: Effect
    #: (policy index, statement index, Sid) of the deciding statement(s)
    statements: tuple[tuple[int, int, str | None], ...] = ()

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW


def as_list(value: Any) -> list[Any]:
    """A policy field that holds one value or a list of them, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy document; a lone statement object counts as a list of one."""
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


def actions(statement: Mapping[str, Any]) -> list[str]:
    """The statement's ``Action`` values (not ``NotAction``)."""
    return [str(a) for a in as_list(statement.get("Action"))]


def resources(statement: Mapping[str, Any]) -> list[str]:
    """The statement's ``Resource`` values (not ``NotResource``)."""
    return [str(r) for r in as_list(statement.get("Resource"))]


def action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _string_like(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _condition_holds(op: str, key: str, expected: Sequence[Any], variables: Mapping[str, str]) -> bool | None:
    """True/False, or None when the operator is unknown."""
    qualifier, _, base = op.rpartition(":") if op.startswith(("ForAnyValue:", "ForAllValues:")) else ("", "", op)
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base == "Null":
        present = key in variables
        return any((str(e).lower() == "true") != present for e in expected)
    if key not in variables:
        return if_exists
    raw = variables[key]
    actual_values = raw.split(",") if qualifier else [raw]
    expected_text = [str(substitute_text(str(e), variables)) for e in expected]

    def one(actual: str) -> bool | None:
        if base == "StringEquals":
            return actual in expected_text
        if base == "StringNotEquals":
            return actual not in expected_text
        if base == "StringEqualsIgnoreCase":
            return actual.lower() in [e.lower() for e in expected_text]
        if base == "StringLike":
            return any(_string_like(e, actual) for e in expected_text)
        if base == "StringNotLike":
            return not any(_string_like(e, actual) for e in expected_text)
        if base == "Bool":
            return actual.lower() in [e.lower() for e in expected_text]
        if base in ("ArnEquals", "ArnLike"):
            return any(resource_matches(e, actual) for e in expected_text)
        if base in ("IpAddress", "NotIpAddress"):
            try:
                address = ipaddress.ip_address(actual)
                inside = any(address in ipaddress.ip_network(e, strict=False) for e in expected_text)
            except ValueError:
                return False
            return inside if base == "IpAddress" else not inside
        return None

    results = [one(a) for a in actual_values]
    if any(r is None for r in results):
        return None
    if qualifier == "ForAllValues":
        return all(bool(r) for r in results)
    return any(bool(r) for r in results)


def substitute_text(text: str, variables: Mapping[str, str]) -> str:
    return "".join(piece for piece, _ in substitute(text, variables))


def statement_applies(statement: Mapping[str, Any], action: str, resource: str, variables: Mapping[str, str]) -> bool:
    if "Action" in statement:
        if not any(action_matches(p, action) for p in as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(action_matches(p, action) for p in as_list(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(resource_matches(p, resource, variables) for p in as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(resource_matches(p, resource, variables) for p in as_list(statement["NotResource"])):
            return False
    else:
        return False
    for op, clauses in (statement.get("Condition") or {}).items():
        for key, expected in clauses.items():
            if _condition_holds(op, key, as_list(expected), variables) is not True:
                return False
    return True


def evaluate(policies: Iterable[Mapping[str, Any]], action: str, resource: str, context: Context) -> Decision:
    variables = context.variables()
    allows: list[tuple[int, int, str | None]] = []
    denies: list[tuple[int, int, str | None]] = []
    for p, policy in enumerate(policies):
        for s, statement in enumerate(as_list(policy.get("Statement"))):
            if not isinstance(statement, Mapping) or not statement_applies(statement, action, resource, variables):
                continue
            ref = (p, s, statement.get("Sid"))
            (denies if statement.get("Effect") == "Deny" else allows).append(ref)
    if denies:
        return Decision(Effect.DENY, tuple(denies))
    if allows:
        return Decision(Effect.ALLOW, tuple(allows))
    return Decision(Effect.IMPLICIT_DENY)


def referenced_variables(document: Mapping[str, Any]) -> list[str]:
    """Every ``${...}`` variable the document's statements reference (resources, conditions, keys)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.extend(var.references(node))
        elif isinstance(node, Mapping):
            for k, v in node.items():
                walk(k)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(document.get("Statement"))
    return found


def unknown_variables(document: Mapping[str, Any]) -> list[str]:
    """Policy variables in ``document`` that AWS IoT does not define (they never substitute)."""
    return sorted({v for v in referenced_variables(document) if not var.is_known(v)})
