"""Probe requests for IAM and resource policies: what a holder can do in the worst case.

An identity policy is judged for whoever holds it, and that holder chooses what it can of the
request (the source IP, the time, tags it sets...): an Allow applies whatever its conditions say,
and only a Deny without conditions is sure to apply. A *fresh* resource (``zz-probe``) is one the
policy cannot have meant by name; being allowed on it means being allowed on anything of its kind.
Resources match with the same automata as IoT policies (``*`` spans ``/``), pseudo parameters bound
to the deployment the policies name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from iot_semantics.policy_eval import Effect, Statement
from iot_semantics.policy_match import Glob
from policy_review.devices import Deployment, deployment_of
from policy_review.model import Policy

FRESH = "zz-probe"


@dataclass(frozen=True)
class Probe:
    deployment: Deployment

    @staticmethod
    def for_policies(policies: Iterable[Policy]) -> Probe:
        return Probe(deployment_of(policies))

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        d = self.deployment
        region = d.region if regional and service not in ("iam", "s3", "sts") else ""
        account = "" if service == "s3" else d.account
        return f"arn:{d.partition}:{service}:{region}:{account}:{resource}"

    def grant(self, policy: Policy, action: str, resource: str) -> Statement | None:
        """The Allow statement that grants ``action`` on ``resource`` in the worst case, if any."""
        bindings = self.deployment.bindings()
        allowing = None
        for st in policy.compiled.statements:
            if not st.valid or not st.matches_action(action):
                continue
            hit = any(Glob.of(r, bindings).matches(resource) for r in st.resources) != st.not_resource
            if not hit:
                continue
            if st.effect is Effect.DENY and not st.conditions:
                return None
            if st.effect is Effect.ALLOW and allowing is None:
                allowing = st
        return allowing

    def action_grant(self, policy: Policy, action: str) -> Statement | None:
        """An Allow statement naming ``action`` whatever its resources."""
        for st in policy.compiled.statements:
            if st.valid and st.effect is Effect.ALLOW and st.matches_action(action):
                return st
        return None


#: The fresh resource each escalation or policy-management action is probed on.
def fresh(probe: Probe, action: str) -> list[str]:
    service, _, name = action.partition(":")
    lowered = name.lower()
    if service == "iam":
        kinds = [k for k in ("role", "user", "group", "policy") if k in lowered] or ["role"]
        return [probe.arn("iam", f"{k}/{FRESH}") for k in kinds]
    if service == "iot":
        if "certificate" in lowered or "thingprincipal" in lowered:
            return [probe.arn("iot", f"cert/{FRESH}")]
        if "principalpolicy" in lowered or lowered in ("attachpolicy", "detachpolicy"):
            return [
                probe.arn("iot", f"cert/{FRESH}"),
                probe.arn("iot", f"policy/{FRESH}"),
                probe.arn("iot", f"thinggroup/{FRESH}"),
            ]
        return [probe.arn("iot", f"policy/{FRESH}")]
    if service == "lambda":
        return [probe.arn("lambda", f"function:{FRESH}")]
    if service == "sts":
        return [probe.arn("iam", f"role/{FRESH}")]
    return [probe.arn(service, f"{FRESH}/{FRESH}")]
