"""IOT-OVERLY-PERMISSIVE: data-plane access for a broad set of devices (Device Defender's criteria)."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import (
    THING_NAME_VAR,
    Rule,
    Subject,
    actions_of,
    matches_action,
    resource_part,
    resources_of,
    statements,
)

_ACTIONS = (
    "iot:Connect",
    "iot:Publish",
    "iot:Subscribe",
    "iot:GetThingShadow",
    "iot:UpdateThingShadow",
    "iot:DeleteThingShadow",
)


def _broad(resource: str) -> bool:
    part = resource_part(resource)
    if part == "*":
        return True
    kind, _, name = part.partition("/")
    if "*" not in name and "?" not in name:
        return False
    head = name.split("*")[0].split("?")[0]
    if THING_NAME_VAR in head:
        return False  # the wildcard sits under the device's own name
    if kind == "client" and head and not head.endswith("/"):
        return False  # a fixed client-ID prefix (e.g. factory claim connections)
    return True


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "iot":
            continue
        for s in statements(policy):
            if s.get("Effect") != "Allow":
                continue
            granted = [a for a in _ACTIONS if any(matches_action(p, a) for p in actions_of(s))]
            for action in granted:
                for resource in resources_of(s):
                    if _broad(resource):
                        yield (
                            policy,
                            f"{action} on {resource} reaches every device's {resource_part(resource).split('/')[0]}",
                        )


RULE = Rule(
    id="IOT-OVERLY-PERMISSIVE",
    severity=Severity.CRITICAL,
    title="IoT policy grants data-plane access for a broad set of devices",
    explanation="A wildcard that is not under the device's own thing name lets one device connect as, "
    "publish to, subscribe to or change the shadows of others (AWS audit IOT_POLICY_OVERLY_PERMISSIVE_CHECK).",
    fix="Bind resources to ${iot:Connection.Thing.ThingName} as a whole level, "
    "e.g. topic/dt/${iot:Connection.Thing.ThingName}/*.",
    check=check,
    see_also=("Device Defender IOT_POLICY_OVERLY_PERMISSIVE_CHECK", "cfn_nag W? (bare * only)"),
)
