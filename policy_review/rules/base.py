"""Rule shape: an explanation of evaluated facts, or a check of one document, yielding findings.

A rule never reads how a policy is spelled to decide: reach rules explain the simulation's facts
(``policy_review.simulate``), IAM rules ask the evaluator about probe requests (``probe``), and
document rules judge what AWS does with a document (its size, its variables, whether it can be read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from iot_semantics import policy_eval
from iot_semantics.arns import arn_prefix, resource_part, split_arn
from iot_semantics.policy_eval import action_matches, as_list
from iot_semantics.variables import THING_NAME_VAR
from policy_review.model import Identity, Inventory, LambdaPermission, Policy, RoleAlias, Severity, Template
from policy_review.rules.probe import Probe
from policy_review.simulate import Fact

Subject = Policy | Template | LambdaPermission | RoleAlias | Identity

__all__ = [
    "THING_NAME_VAR",
    "Check",
    "Found",
    "Review",
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
class Found:
    """One finding before the rule's metadata is attached."""

    subject: Subject
    message: str
    #: Granular ID for suppressions (``RULE[finding_id]``): what was granted, not how the run went.
    finding_id: str = ""
    witness: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Review:
    """What every check reads: the inventory and the simulation's facts."""

    inv: Inventory
    facts: list[Fact] = field(default_factory=list)

    @cached_property
    def probe(self) -> Probe:
        """Probe requests in the deployment the inventory's policies name (read once for every rule)."""
        return Probe.for_policies(self.inv.policies)

    def of(self, *kinds: str) -> list[Fact]:
        return [f for f in self.facts if f.kind in kinds]


Check = Callable[[Review], Iterator[Found]]


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
