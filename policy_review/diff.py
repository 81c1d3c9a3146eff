"""``--baseline``: permissions added, removed and changed per policy, in words a reviewer can approve."""

from __future__ import annotations

import json
from collections.abc import Iterator

from iot_semantics.arns import resource_part
from policy_review.model import Inventory, Policy

Grant = tuple[str, str, str, str]  # effect, action, resource, condition


def _grants(policy: Policy) -> set[Grant]:
    out: set[Grant] = set()
    for s in policy.compiled.statements:
        condition = json.dumps(s.source.get("Condition"), sort_keys=True) if s.conditions else ""
        effect = s.effect.value if s.effect else str(s.source.get("Effect"))
        for action in s.actions:
            for resource in s.resources:
                out.add(
                    (
                        effect,
                        f"NOT {action}" if s.not_action else action,
                        f"NOT {resource_part(resource)}" if s.not_resource else resource_part(resource),
                        condition,
                    )
                )
    return out


def _key(policy: Policy) -> tuple[str, str, str, str]:
    return (policy.stack, policy.kind, policy.name, policy.variant)


def changes(baseline: Inventory, current: Inventory) -> Iterator[str]:
    before = {_key(p): p for p in baseline.policies}
    after = {_key(p): p for p in current.policies}
    for key in sorted(after.keys() - before.keys()):
        p = after[key]
        yield f"NEW {p.kind} policy {p.name} ({p.path}): " + "; ".join(_words(g) for g in sorted(_grants(p)))
    for key in sorted(before.keys() - after.keys()):
        yield f"REMOVED {before[key].kind} policy {before[key].name}"
    for key in sorted(before.keys() & after.keys()):
        old, new = _grants(before[key]), _grants(after[key])
        for grant in sorted(new - old):
            yield f"{after[key].name}: now {_words(grant)}"
        for grant in sorted(old - new):
            yield f"{after[key].name}: no longer {_words(grant)}"


def _words(grant: Grant) -> str:
    effect, action, resource, condition = grant
    verb = "allows" if effect == "Allow" else "denies"
    return f"{verb} {action} on {resource}" + (f" when {condition}" if condition else "")
