"""Rule shape: a pure function of the inventory yielding (subject, message) pairs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from iot_semantics.policy_eval import action_matches
from policy_review.model import Inventory, LambdaPermission, Policy, RoleAlias, Severity, Template

Subject = Policy | Template | LambdaPermission | RoleAlias
Check = Callable[[Inventory], Iterator[tuple[Subject, str]]]

IOT_DATA_ACTIONS = ("iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive", "iot:RetainPublish")
THING_VAR = "${iot:Connection.Thing.ThingName}"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    explanation: str
    fix: str
    check: Check
    #: The same check in other tools, so users see this review is a superset.
    see_also: tuple[str, ...] = ()


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def statements(policy: Policy) -> list[dict[str, Any]]:
    return [s for s in as_list(policy.document.get("Statement")) if isinstance(s, dict)]


def actions_of(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in as_list(statement.get("Action"))]


def resources_of(statement: dict[str, Any]) -> list[str]:
    return [str(r) for r in as_list(statement.get("Resource"))]


def split_arn(arn: str) -> list[str]:
    """ARN fields; placeholders such as ``${AWS::Region}`` hold colons and stay whole."""
    protected = re.sub(r"\$\{[^}]*\}", lambda m: m.group(0).replace(":", "\x00"), arn)
    return [part.replace("\x00", ":") for part in protected.split(":", 5)]


def resource_part(arn: str) -> str:
    """``arn:...:iot:region:account:topic/x`` -> ``topic/x``; ``*`` stays ``*``."""
    if arn == "*" or not arn.startswith("arn:"):
        return arn
    parts = split_arn(arn)
    return parts[5] if len(parts) == 6 else arn


def arn_prefix(arn: str) -> str | None:
    """``arn:<partition>:<service>:<region>:<account>`` of an ARN."""
    parts = split_arn(arn)
    return ":".join(parts[:5]) if arn.startswith("arn:") and len(parts) == 6 else None


#: Action wildcards match as the evaluator matches them (one home for IoT semantics).
matches_action = action_matches
