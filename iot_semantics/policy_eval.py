"""Evaluate AWS IoT Core policies for one request, as the broker does at CONNECT/PUBLISH/SUBSCRIBE/delivery.

Semantics (fact sheet section 5): all policies of the principal (certificate and the thing's
groups) are evaluated together; an explicit Deny wins, else an Allow allows, else the request is
implicitly denied. Actions match case-insensitively with ``*``/``?``; resources match with IoT's
rules (``*`` spans levels, ``+``/``#`` are literal, policy variables are substituted, see
``policy_match``). ``NotAction``/``NotResource`` invert the match. Conditions follow IAM's
operators (``ForAnyValue:``/``ForAllValues:`` qualifiers, ``...IfExists``, ``Null``; an absent key
makes a positive operator false and a negated one true); condition keys are case-insensitive.

A document is compiled once (``compile_policy``), which never raises: a statement that AWS would
reject (no Effect, an Action that is not a string, an unknown condition operator) is kept with its
``problems`` and never applies, so a review can say what it could not judge. ``evaluate`` accepts
documents or compiled policies.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

from iot_semantics import variables as var
from iot_semantics.policy_match import pattern_regex, substitute


class Effect(Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    IMPLICIT_DENY = "ImplicitDeny"


#: Data-plane actions of AWS IoT policies and the resource type each is evaluated against (fact
#: sheet 5.2, 7.3); ``*`` means the action takes only ``*``; None means any resource.
ACTION_RESOURCE_TYPES: dict[str, str | None] = {
    "iot:Connect": "client",
    "iot:Publish": "topic",
    "iot:Receive": "topic",
    "iot:RetainPublish": "topic",
    "iot:Subscribe": "topicfilter",
    "iot:GetRetainedMessage": "topic",
    "iot:ListRetainedMessages": "*",
    "iot:GetThingShadow": "thing",
    "iot:UpdateThingShadow": "thing",
    "iot:DeleteThingShadow": "thing",
    "iot:ListNamedShadowsForThing": "*",
    "iot:DescribeJobExecution": "thing",
    "iot:GetPendingJobExecutions": "thing",
    "iot:StartNextPendingJobExecution": "thing",
    "iot:UpdateJobExecution": "thing",
    "iot:AssumeRoleWithCertificate": "rolealias",
    "greengrass:Discover": "thing",
    "greengrass:GetComponentVersionArtifact": None,
    "greengrass:ResolveComponentCandidates": None,
    "greengrass:GetDeploymentConfiguration": None,
    "greengrass:ListThingGroupsForCoreDevice": None,
    "greengrass:VerifyClientDeviceIdentity": None,
    "greengrass:VerifyClientDeviceIoTCertificateAssociation": None,
    "greengrass:PutCertificateAuthorities": None,
    "greengrass:GetConnectivityInfo": None,
    "greengrass:UpdateConnectivityInfo": None,
}
_CANONICAL_ACTIONS = {a.lower(): a for a in ACTION_RESOURCE_TYPES}


def canonical_action(action: str) -> str | None:
    """The documented spelling of a data-plane action (``IOT:publish`` -> ``iot:Publish``), or None."""
    return _CANONICAL_ACTIONS.get(action.lower())


@dataclass(frozen=True)
class Context:
    """What AWS IoT knows about the connection making the request."""

    #: None for a request without an MQTT connection (the HTTPS data plane).
    client_id: str | None
    certificate_id: str | None = None
    #: Set only when the client ID is the name of an existing thing (thing policy variables).
    thing_name: str | None = None
    thing_type: str | None = None
    thing_attributes: Mapping[str, str] = field(default_factory=dict)
    #: Whether the connecting certificate is attached to ``thing_name``.
    is_attached: bool = False
    source_ip: str | None = None
    #: Further keys and variables (``iot:ConnectAttributes`` as a comma-separated list, CloudFormation
    #: pseudo parameters bound for a review, ...).
    extra: Mapping[str, str] = field(default_factory=dict)

    def variables(self) -> dict[str, str]:
        values: dict[str, str] = dict(self.extra)
        if self.client_id is not None:
            values[var.CLIENT_ID] = self.client_id
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


StatementRef = tuple[int, int, "str | None"]


@dataclass(frozen=True)
class Decision:
    effect: Effect
    #: (policy index, statement index, Sid) of the deciding statement(s)
    statements: tuple[StatementRef, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW


# Compiling documents ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """One condition test: ``operator`` on ``key`` against ``values``."""

    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    index: int
    sid: str | None
    #: None when the statement has no valid Effect (it never applies).
    effect: Effect | None
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditions: tuple[Clause, ...]
    #: What AWS would reject or this evaluator cannot judge; a statement with problems never applies.
    problems: tuple[str, ...] = ()
    #: The statement as written (for reports).
    source: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def valid(self) -> bool:
        return not self.problems

    def matches_action(self, action: str) -> bool:
        return _names_action(self.actions, self.not_action, action)

    def label(self) -> str:
        return f"{self.sid} (#{self.index})" if self.sid else f"#{self.index}"


@dataclass(frozen=True)
class CompiledPolicy:
    statements: tuple[Statement, ...]
    #: Problems of the document as a whole (not an object, no statements, ...).
    problems: tuple[str, ...] = ()
    document: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def all_problems(self) -> list[str]:
        return list(self.problems) + [f"statement {s.label()}: {p}" for s in self.statements for p in s.problems]


def as_list(value: Any) -> list[Any]:
    """A policy field that holds one value or a list of them, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _strings(value: Any, name: str, problems: list[str]) -> tuple[str, ...]:
    items = as_list(value)
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        else:
            problems.append(f"{name} holds {type(item).__name__} {str(item)[:60]!r}, not a string")
    if not items:
        problems.append(f"{name} is empty")
    return tuple(out)


_QUALIFIERS = ("ForAnyValue:", "ForAllValues:")
_BASE_OPERATORS = frozenset(
    {
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "Bool",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "Null",
    }
)
_NEGATED = frozenset(
    {
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "NotIpAddress",
        "ArnNotEquals",
        "ArnNotLike",
        "NumericNotEquals",
    }
)


def _split_operator(op: str) -> tuple[str, str, bool]:
    """(qualifier, base operator, IfExists)."""
    qualifier = next((q[:-1] for q in _QUALIFIERS if op.startswith(q)), "")
    base = op[len(qualifier) + 1 :] if qualifier else op
    if_exists = base.endswith("IfExists") and base != "IfExists"
    return qualifier, base.removesuffix("IfExists") if if_exists else base, if_exists


def _condition_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _conditions(node: Any, problems: list[str]) -> tuple[Clause, ...]:
    if node is None:
        return ()
    if not isinstance(node, Mapping):
        problems.append("Condition is not an object")
        return ()
    out = []
    for op, clauses in node.items():
        _, base, _ = _split_operator(str(op))
        if base not in _BASE_OPERATORS:
            problems.append(f"condition operator {op} is not one this review evaluates")
            continue
        if not isinstance(clauses, Mapping):
            problems.append(f"Condition {op} is not an object of keys")
            continue
        for key, expected in clauses.items():
            values = as_list(expected)
            if any(isinstance(v, Mapping | list) for v in values):
                problems.append(f"Condition {op} {key} holds a nested value")
                continue
            out.append(Clause(str(op), str(key), tuple(_condition_value(v) for v in values)))
    return tuple(out)


def _statement(index: int, node: Any, *, resource_optional: bool = False) -> Statement:
    problems: list[str] = []
    if not isinstance(node, Mapping):
        return Statement(index, None, None, (), False, (), False, (), (f"is {type(node).__name__}, not an object",))
    sid = node.get("Sid")
    effect = {"Allow": Effect.ALLOW, "Deny": Effect.DENY}.get(node.get("Effect"))  # type: ignore[arg-type]
    if effect is None:
        problems.append(f"Effect {node.get('Effect')!r} is neither Allow nor Deny")
    if ("Action" in node) == ("NotAction" in node):
        problems.append("needs exactly one of Action and NotAction")
    not_action = "NotAction" in node and "Action" not in node
    actions = _strings(node.get("NotAction" if not_action else "Action"), "Action", problems)
    resources: tuple[str, ...]
    if resource_optional and "Resource" not in node and "NotResource" not in node:
        not_resource, resources = False, ("*",)  # a trust policy: the role itself
    else:
        if ("Resource" in node) == ("NotResource" in node):
            problems.append("needs exactly one of Resource and NotResource")
        not_resource = "NotResource" in node and "Resource" not in node
        resources = _strings(node.get("NotResource" if not_resource else "Resource"), "Resource", problems)
    conditions = _conditions(node.get("Condition"), problems)
    return Statement(
        index,
        sid if isinstance(sid, str) else None,
        effect,
        actions,
        not_action,
        resources,
        not_resource,
        conditions,
        tuple(problems),
        node,
    )


def compile_policy(document: Any, *, resource_optional: bool = False) -> CompiledPolicy:
    """A policy document (an object, as CloudFormation or a JSON string gives it) compiled; never raises.

    ``resource_optional``: a trust policy's statements name no Resource (the role is the resource).
    """
    if isinstance(document, CompiledPolicy):
        return document
    if not isinstance(document, Mapping):
        return CompiledPolicy((), (f"the document is {type(document).__name__}, not a JSON object",))
    problems = []
    raw = document.get("Statement")
    if raw is None:
        problems.append("the document has no Statement")
    elif not isinstance(raw, Mapping | list):
        problems.append("Statement is neither an object nor a list")
    elif isinstance(raw, list) and not raw:
        problems.append("Statement is an empty list")
    version = document.get("Version")
    if version is not None and version not in ("2012-10-17", "2008-10-17"):
        problems.append(f"Version {version!r} is not a policy language version")
    nodes = as_list(raw) if isinstance(raw, Mapping | list) else []
    compiled = tuple(_statement(i, s, resource_optional=resource_optional) for i, s in enumerate(nodes))
    return CompiledPolicy(compiled, tuple(problems), document)


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy document as written; a lone statement object counts as a list of one."""
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


def actions(statement: Mapping[str, Any]) -> list[str]:
    """The statement's ``Action`` values (not ``NotAction``)."""
    return [str(a) for a in as_list(statement.get("Action"))]


def resources(statement: Mapping[str, Any]) -> list[str]:
    """The statement's ``Resource`` values (not ``NotResource``)."""
    return [str(r) for r in as_list(statement.get("Resource"))]


@lru_cache(maxsize=4096)
def _action_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.lower()), re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    return _action_regex(pattern).match(action.lower()) is not None


@lru_cache(maxsize=65536)
def _names_action(actions: tuple[str, ...], not_action: bool, action: str) -> bool:
    """A statement's ``Action`` (or ``NotAction``) list covers ``action`` (statements share lists)."""
    hit = any(action_matches(p, action) for p in actions)
    return hit != not_action


# Conditions -------------------------------------------------------------------------------------


def _arn_like(pattern: str, value: str, variables: Mapping[str, str]) -> bool:
    """ArnLike: each of the six colon-separated fields matched on its own (IAM)."""
    p_fields, v_fields = pattern.split(":", 5), value.split(":", 5)
    if len(p_fields) != len(v_fields):
        return pattern_regex(pattern, variables).fullmatch(value) is not None
    return all(pattern_regex(p, variables).fullmatch(v) is not None for p, v in zip(p_fields, v_fields, strict=True))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


_NUMERIC = {
    "NumericEquals": lambda a, b: a == b,
    "NumericNotEquals": lambda a, b: a != b,
    "NumericLessThan": lambda a, b: a < b,
    "NumericLessThanEquals": lambda a, b: a <= b,
    "NumericGreaterThan": lambda a, b: a > b,
    "NumericGreaterThanEquals": lambda a, b: a >= b,
}


def _ip_in(actual: str, networks: Sequence[str]) -> bool | None:
    try:
        address = ipaddress.ip_address(actual)
    except ValueError:
        return None
    inside = False
    for e in networks:
        try:
            inside = inside or address in ipaddress.ip_network(e, strict=False)
        except ValueError:
            continue
    return inside


def _one(positive: str, actual: str, expected: Sequence[str], variables: Mapping[str, str]) -> bool:
    """One actual value against the expected ones, for a positive operator."""
    if positive == "StringEquals":
        return actual in expected
    if positive in ("StringEqualsIgnoreCase", "Bool"):
        return actual.lower() in [e.lower() for e in expected]
    if positive == "StringLike":
        return any(pattern_regex(e, variables).fullmatch(actual) is not None for e in expected)
    if positive in ("ArnLike", "ArnEquals"):  # IAM: both take * and ? in each ARN field
        return any(_arn_like(e, actual, variables) for e in expected)
    if positive == "IpAddress":
        return bool(_ip_in(actual, expected))
    compare = _NUMERIC.get(positive)
    number = _number(actual)
    if compare is None or number is None:
        return False
    return any(compare(number, w) for e in expected if (w := _number(e)) is not None)


def lowered(variables: Mapping[str, str]) -> dict[str, str]:
    """Condition keys are case-insensitive: the request's values keyed by lower-case name."""
    return {k.lower(): v for k, v in variables.items()}


def clause_holds(clause: Clause, variables: Mapping[str, str], by_key: Mapping[str, str] | None = None) -> bool:
    """IAM semantics of one condition clause against the request's ``variables``."""
    qualifier, base, if_exists = _split_operator(clause.operator)
    by_key = lowered(variables) if by_key is None else by_key
    key = clause.key.lower()
    present = key in by_key
    if base == "Null":
        return any((e.lower() == "true") != present for e in clause.values)
    negated = base in _NEGATED
    if not present:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return negated
    raw = by_key[key]
    actual_values = [v for v in raw.split(",") if v] if qualifier else [raw]
    expected = [_substitute_text(e, variables) for e in clause.values]
    positive = base.replace("Not", "", 1) if negated else base
    results = [_one(positive, a, expected, variables) != negated for a in actual_values]
    if qualifier == "ForAllValues":
        return all(results)
    return any(results)


def conditions_hold(
    statement: Statement, variables: Mapping[str, str], by_key: Mapping[str, str] | None = None
) -> bool:
    if not statement.conditions:
        return True
    by_key = lowered(variables) if by_key is None else by_key
    return all(clause_holds(c, variables, by_key) for c in statement.conditions)


def _substitute_text(text: str, variables: Mapping[str, str]) -> str:
    return "".join(piece for piece, _ in substitute(text, variables))


def substitute_text(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with its policy variables replaced (unknown ones stay as written)."""
    return _substitute_text(text, variables)


# Evaluation -------------------------------------------------------------------------------------


def resource_in(statement: Statement, resource: str, variables: Mapping[str, str]) -> bool:
    hit = any(pattern_regex(p, variables).fullmatch(resource) is not None for p in statement.resources)
    return hit != statement.not_resource


def statement_applies(
    statement: Statement | Mapping[str, Any],
    action: str,
    resource: str,
    variables: Mapping[str, str],
    by_key: Mapping[str, str] | None = None,
) -> bool:
    if not isinstance(statement, Statement):
        statement = _statement(0, statement)
    if not statement.valid or not statement.matches_action(action):
        return False
    return resource_in(statement, resource, variables) and conditions_hold(statement, variables, by_key)


def evaluate(
    policies: Iterable[Mapping[str, Any] | CompiledPolicy], action: str, resource: str, context: Context
) -> Decision:
    variables = context.variables()
    by_key = lowered(variables)
    allows: list[StatementRef] = []
    denies: list[StatementRef] = []
    for p, policy in enumerate(policies):
        for s in compile_policy(policy).statements:
            if statement_applies(s, action, resource, variables, by_key):
                (denies if s.effect is Effect.DENY else allows).append((p, s.index, s.sid))
    if denies:
        return Decision(Effect.DENY, tuple(denies))
    if allows:
        return Decision(Effect.ALLOW, tuple(allows))
    return Decision(Effect.IMPLICIT_DENY)


def referenced_variables(document: Mapping[str, Any]) -> list[str]:
    """Every ``${...}`` variable the document's statements reference (resources, conditions, keys)."""
    try:
        text = json.dumps(document.get("Statement"), ensure_ascii=False)
    except (TypeError, ValueError):
        return walked_variables(document)
    if "\\" in text:  # an escaped character: the JSON text is not the strings' own text
        return walked_variables(document)
    names = var.references(text)
    if any('"' in n for n in names):  # a match across two strings
        return walked_variables(document)
    return names


def walked_variables(document: Mapping[str, Any]) -> list[str]:
    """``referenced_variables`` string by string (what the one pass over the JSON text must equal)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            if "${" in node:  # every reference starts with it
                found.extend(var.references(node))
        elif isinstance(node, Mapping):
            for k, v in node.items():
                walk(k)
                walk(v)
        elif isinstance(node, list | tuple):
            for v in node:
                walk(v)

    walk(document.get("Statement"))
    return found


def unknown_variables(document: Mapping[str, Any]) -> list[str]:
    """Policy variables in ``document`` that AWS IoT does not define (they never substitute)."""
    return sorted({v for v in referenced_variables(document) if not var.is_known(v)})
