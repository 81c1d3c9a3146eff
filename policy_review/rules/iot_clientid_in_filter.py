"""IOT-CLIENTID-IN-FILTER: ${iot:ClientId} inside a topic filter."""

from __future__ import annotations

from collections.abc import Iterator

from iot_semantics.variables import CLIENT_ID_VAR
from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, resource_part, resources_of, statements


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "iot":
            continue
        for s in statements(policy):
            for resource in resources_of(s):
                if resource_part(resource).startswith("topicfilter/") and CLIENT_ID_VAR in resource:
                    yield policy, f"{resource}: a client connecting with client ID '+' or '#' widens this filter"


RULE = Rule(
    id="IOT-CLIENTID-IN-FILTER",
    severity=Severity.HIGH,
    title="${iot:ClientId} in a topic filter",
    explanation="Client IDs may contain + and #; substituted into a topicfilter they become MQTT wildcards.",
    fix="Use ${iot:Connection.Thing.ThingName} (thing names cannot hold + or #).",
    check=check,
)
