"""IOT-SUBSCRIBE-RECEIVE-MISMATCH: a subscription whose messages the policy never lets the device receive."""

from __future__ import annotations

from collections.abc import Iterator

from iot_semantics.policy_eval import substitute_text
from iot_semantics.policy_match import resource_matches
from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, actions_of, matches_action, resources_of, statements

SAMPLE = {"iot:Connection.Thing.ThingName": "sample-thing", "iot:ClientId": "sample-thing"}


def _sample_topic(filter_arn: str) -> str:
    """A concrete topic the filter admits: variables filled in, every wildcard one level ``x``."""
    concrete = substitute_text(filter_arn, SAMPLE).replace(":topicfilter/", ":topic/", 1)
    for wildcard in ("+", "#", "*", "?"):
        concrete = concrete.replace(wildcard, "x")
    return concrete


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "iot":
            continue
        allows = [s for s in statements(policy) if s.get("Effect") == "Allow"]
        receive = [
            r for s in allows if any(matches_action(p, "iot:Receive") for p in actions_of(s)) for r in resources_of(s)
        ]
        for s in allows:
            if not any(matches_action(p, "iot:Subscribe") for p in actions_of(s)):
                continue
            for resource in resources_of(s):
                if ":topicfilter/" not in resource:
                    continue
                topic = _sample_topic(resource)
                if not any(resource_matches(r, topic, SAMPLE) for r in receive):
                    yield (
                        policy,
                        f"Subscribe on {resource} but no Receive covers e.g. {topic}: "
                        "the subscription succeeds and delivers nothing",
                    )


RULE = Rule(
    id="IOT-SUBSCRIBE-RECEIVE-MISMATCH",
    severity=Severity.LOW,
    title="Subscribe without the matching Receive",
    explanation="Subscribe is checked against the topic filter, Receive against each delivered topic; "
    "a filter without Receive on its topics fails silently on the device.",
    fix="Allow iot:Receive on topic/<same path> for every topicfilter/<path> the device subscribes to.",
    check=check,
)
