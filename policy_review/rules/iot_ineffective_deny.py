"""IOT-INEFFECTIVE-DENY: Deny statements that do not deny (MQTT wildcards; Subscribe without Receive)."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, actions_of, matches_action, resources_of, statements


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "iot":
            continue
        denies = [s for s in statements(policy) if s.get("Effect") == "Deny"]
        receive_denied = {
            r.replace(":topicfilter/", ":topic/")
            for s in denies
            if any(matches_action(p, "iot:Receive") for p in actions_of(s))
            for r in resources_of(s)
        }
        for s in denies:
            for resource in resources_of(s):
                if "+" in resource or "#" in resource:
                    yield policy, f"Deny on {resource}: + and # are literal in policies, so this denies almost nothing"
            if any(matches_action(p, "iot:Subscribe") for p in actions_of(s)) and not any(
                matches_action(p, "iot:Receive") for p in actions_of(s)
            ):
                for resource in resources_of(s):
                    if resource.replace(":topicfilter/", ":topic/") not in receive_denied:
                        yield (
                            policy,
                            f"Deny Subscribe on {resource} without Deny Receive: a broader filter still delivers it",
                        )


RULE = Rule(
    id="IOT-INEFFECTIVE-DENY",
    severity=Severity.MEDIUM,
    title="Deny that can be bypassed",
    explanation="AWS audit IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK: wildcards in Deny are literal, and a Deny on "
    "a topic filter is bypassed by subscribing to a broader filter unless Receive is denied too.",
    fix="Deny iot:Receive on the matching topic/ resources, with policy wildcards (*), not MQTT ones.",
    check=check,
    see_also=("Device Defender IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK",),
)
