"""Cross-device simulation: can one device reach another's client ID, topics, shadow or jobs?

For each device policy, two things whose names share a prefix (``dev-1`` and ``dev-10``, both
ways) are substituted into the policy variables (thing name, client ID, certificate ID, and every
thing attribute the policy names, which takes the device's name as its value). Every resource the
policy grants for the first is re-aimed at the second (a topic wildcard without the thing variable
is aimed at the second's name, ``vehicle/*`` -> ``vehicle/dev-10``), plus the second's reserved
shadow and jobs topics and client ID, and evaluated with the shared IoT policy evaluator. Any
allowed request is a witness.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iot_semantics import topics, variables
from iot_semantics.policy_eval import Context, evaluate, referenced_variables
from policy_review.model import Inventory, Policy
from policy_review.rules.base import THING_NAME_VAR, actions_of, arn_prefix, resource_part, resources_of, statements

PAIRS = (("dev-1", "dev-10"), ("dev-10", "dev-1"))
#: Thing attributes used as policy variables; each device's attributes take its own name as value.
ATTRIBUTE = variables.ATTRIBUTE_REFERENCE
ACTIONS = {
    "client": ("iot:Connect",),
    "topic": ("iot:Publish", "iot:Receive"),
    "topicfilter": ("iot:Subscribe",),
    "thing": ("iot:UpdateThingShadow", "iot:GetThingShadow"),
}


@dataclass(frozen=True)
class Witness:
    policy: Policy
    me: str
    other: str
    action: str
    resource: str


def _thing_type(policy: Policy) -> str | None:
    for s in statements(policy):
        value = (s.get("Condition") or {}).get("StringEquals", {}).get(variables.THING_TYPE_NAME)
        if isinstance(value, str):
            return value
    return None


def _attributes(policy: Policy) -> set[str]:
    """Names of the thing attributes the policy uses as variables."""
    found = (variables.ATTRIBUTE.fullmatch(v) for v in referenced_variables(policy.document))
    return {m.group(1) for m in found if m}


def _prefix(policy: Policy) -> str:
    for s in statements(policy):
        for r in resources_of(s):
            if (prefix := arn_prefix(r)) is not None:
                return prefix
    return "arn:aws:iot:region:account"


def _targets(policy: Policy, other: str) -> set[tuple[str, str]]:
    prefix = _prefix(policy)
    out: set[tuple[str, str]] = {("iot:Connect", f"{prefix}:client/{other}")}
    for reserved in (f"{topics.shadow_prefix(other)}/update", f"{topics.jobs_prefix(other)}/notify-next"):
        out |= {("iot:Publish", f"{prefix}:topic/{reserved}"), ("iot:Receive", f"{prefix}:topic/{reserved}")}
        out.add(("iot:Subscribe", f"{prefix}:topicfilter/{reserved}"))
    for s in statements(policy):
        for resource in resources_of(s):
            shared = False
            if THING_NAME_VAR in resource or ATTRIBUTE.search(resource):
                concrete = ATTRIBUTE.sub(other, resource.replace(THING_NAME_VAR, other))
            elif "*" in resource and resource_part(resource).startswith(("topic/", "topicfilter/")):
                # a shared namespace: aim its first wildcard at the other device's name
                concrete, shared = resource.replace("*", other, 1), True
            else:
                continue
            concrete = re.sub(r"\*", "x", concrete)
            kind = resource_part(concrete).split("/", 1)[0]
            for action in ACTIONS.get(kind, ()):
                # as AWS's audit: a broad Receive is gated by Subscribe, so alone it is no witness
                if not (shared and action == "iot:Receive"):
                    out.add((action, concrete))
    return out


def cross_device(inv: Inventory) -> list[Witness]:
    witnesses: list[Witness] = []
    for policy in inv.policies:
        if policy.kind != "iot" or policy.role != "device":
            continue
        thing_type = _thing_type(policy)
        attributes = {
            m.group(1) for v in referenced_variables(policy.document) if (m := variables.ATTRIBUTE.fullmatch(v))
        }
        for me, other in PAIRS:
            context = Context(
                client_id=me,
                thing_name=me,
                thing_type=thing_type,
                thing_attributes=dict.fromkeys(attributes, me),
                is_attached=True,
                certificate_id=f"cert-of-{me}",
            )
            for action, resource in sorted(_targets(policy, other)):
                if evaluate([policy.document], action, resource, context).allowed:
                    witnesses.append(Witness(policy, me, other, action, resource))
    return witnesses


def claim_can_only_provision(inv: Inventory) -> list[Witness]:
    """Claim policies: anything beyond the provisioning API is a witness."""
    witnesses: list[Witness] = []
    for policy in inv.policies:
        if policy.kind != "iot" or policy.role != "claim":
            continue
        prefix = _prefix(policy)
        context = Context(client_id="claim-probe")
        probes = [("iot:Publish", f"{prefix}:topic/dt/anything"), ("iot:Subscribe", f"{prefix}:topicfilter/#")]
        probes += [("iot:Publish", f"{prefix}:topic/{topics.shadow_prefix('dev-1')}/update")]
        probes += [("iot:Connect", f"{prefix}:client/dev-1")]
        for action, resource in probes:
            if evaluate([policy.document], action, resource, context).allowed:
                witnesses.append(Witness(policy, "claim", "dev-1", action, resource))
        for s in statements(policy):
            if s.get("Effect") == "Allow" and "iot:*" in actions_of(s):
                witnesses.append(Witness(policy, "claim", "*", "iot:*", ", ".join(resources_of(s))))
    return witnesses
