"""IOT-CONNECT-UNBOUND: a device policy's Connect not bound to the thing name with IsAttached."""

from __future__ import annotations

from collections.abc import Iterator

from iot_semantics.variables import IS_ATTACHED
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


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "iot" or policy.role != "device":
            continue
        for s in statements(policy):
            if s.get("Effect") != "Allow" or not any(matches_action(p, "iot:Connect") for p in actions_of(s)):
                continue
            attached = str((s.get("Condition") or {}).get("Bool", {}).get(IS_ATTACHED, "")).lower()
            for resource in resources_of(s):
                if resource_part(resource) != f"client/{THING_NAME_VAR}":
                    yield policy, f"Connect on {resource}: the client ID is not bound to the thing name"
                elif attached != "true":
                    yield policy, "Connect without the Bool iot:Connection.Thing.IsAttached = true condition"


RULE = Rule(
    id="IOT-CONNECT-UNBOUND",
    severity=Severity.HIGH,
    title="Device policy lets a certificate connect as another client ID",
    explanation="Without client/${iot:Connection.Thing.ThingName} and IsAttached, a device can connect with another "
    "device's client ID, disconnecting it and taking its thing-group policies.",
    fix="Resource client/${iot:Connection.Thing.ThingName} with Condition Bool iot:Connection.Thing.IsAttached true.",
    check=check,
)
