"""Rule shape: a pure function of the inventory yielding (subject, message) pairs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from iot_semantics import policy_eval
from iot_semantics.arns import arn_prefix, resource_part, split_arn
from iot_semantics.policy_eval import action_matches, as_list
from iot_semantics.variables import THING_NAME_VAR
from policy_review.model import Inventory, LambdaPermission, Policy, RoleAlias, Severity, Template

Subject = Policy | Template | LambdaPermission | RoleAlias
Check = Callable[[Inventory], Iterator[tuple[Subject, str]]]

__all__ = [
    "THING_NAME_VAR",
    "Check",
    "Rule",
    "Subject",
    "actions_of",
    "arn_prefix",
    "as_list",
    "matches_action",
    "resource_part",
    "resources_of",
    "split_arn",
    "statements",
]


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


def statements(policy: Policy) -> list[dict[str, Any]]:
    return policy_eval.statements(policy.document)


actions_of = policy_eval.actions
resources_of = policy_eval.resources


#: Action wildcards match as the evaluator matches them (one home for IoT semantics).
matches_action = action_matches
