"""IOT-RESOURCE-TYPE: an action paired with a resource type it never matches."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, actions_of, resource_part, resources_of, statements

EXPECTED = {
    "iot:connect": "client",
    "iot:publish": "topic",
    "iot:receive": "topic",
    "iot:retainpublish": "topic",
    "iot:subscribe": "topicfilter",
    "iot:getthingshadow": "thing",
    "iot:updatethingshadow": "thing",
    "iot:deletethingshadow": "thing",
    "iot:assumerolewithcertificate": "rolealias",
}


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "iot":
            continue
        for s in statements(policy):
            wanted = {EXPECTED[a.lower()] for a in actions_of(s) if a.lower() in EXPECTED}
            if len(wanted) != 1:
                continue
            (kind,) = wanted
            for resource in resources_of(s):
                part = resource_part(resource)
                if part != "*" and part.split("/", 1)[0] != kind:
                    yield policy, f"{', '.join(actions_of(s))} on {resource}: expects {kind}/ resources"


RULE = Rule(
    id="IOT-RESOURCE-TYPE",
    severity=Severity.MEDIUM,
    title="Action paired with the wrong resource type",
    explanation="Subscribe is checked against topicfilter/, Publish and Receive against topic/, "
    "Connect against client/: "
    "a statement with the wrong type never applies.",
    fix="Use topicfilter/ for iot:Subscribe and topic/ for iot:Publish and iot:Receive.",
    check=check,
)
