"""An IAM identity opens (or rotates the tokens of) secure tunnels to any thing, or for any service.

``iot:OpenTunnel`` and ``iot:RotateTunnelAccessToken`` support ``iot:ThingGroupArn`` and
``iot:TunnelDestinationService`` (AWS IoT "Controlling access to tunnels"); an operator role
should name both, so its holder reaches only the intended devices and services. Judged by asking
the evaluator whether an Allow statement for the action on a fresh tunnel still applies when the
destination thing is in a group no policy names, or when the service is one no policy names.
RotateTunnelAccessToken without them is worse than OpenTunnel: it re-issues the tokens of tunnels
someone else opened.
"""

from __future__ import annotations

from collections.abc import Iterator

from iot_semantics.policy_eval import Effect, Statement, clause_holds
from policy_review.model import Policy, Severity
from policy_review.rules.base import Found, Review, Rule
from policy_review.rules.iam_identity import _identity_policies
from policy_review.rules.probe import FRESH, Probe

_ACTIONS = ("iot:OpenTunnel", "iot:RotateTunnelAccessToken")
GROUP_KEY, SERVICE_KEY = "iot:ThingGroupArn", "iot:TunnelDestinationService"


def _unscoped(st: Statement, key: str, fresh: str) -> bool:
    """The statement's clauses on ``key`` let a value no policy names through (or there are none)."""
    clauses = [c for c in st.conditions if c.key.lower() == key.lower()]
    return all(clause_holds(c, {key: fresh}) for c in clauses)


def _grants(probe: Probe, policy: Policy, action: str) -> list[Statement]:
    tunnel = probe.arn("iot", f"tunnel/{FRESH}")
    thing = probe.arn("iot", f"thing/{FRESH}")
    out = []
    for st in policy.compiled.statements:
        if not st.valid or st.effect is not Effect.ALLOW or not st.matches_action(action):
            continue
        if probe.grant(policy, action, tunnel) is st or probe.grant(policy, action, thing) is st:
            out.append(st)
    return out


def _check(review: Review) -> Iterator[Found]:
    probe = review.probe
    group = probe.arn("iot", f"thinggroup/{FRESH}")
    for policy in _identity_policies(review, except_admin=True):  # IAM-ADMIN already says it all
        for action in _ACTIONS:
            for st in _grants(probe, policy, action):
                missing = [
                    what
                    for what, key, fresh in (("thing group", GROUP_KEY, group), ("service", SERVICE_KEY, FRESH))
                    if _unscoped(st, key, fresh)
                ]
                if missing:
                    reach = "any device" if "thing group" in missing else "its devices through any service"
                    yield Found(
                        policy,
                        f"allows {action} (statement {st.label()}) whatever the destination's "
                        f"{' and '.join(missing)}: the holder reaches {reach}"
                        f"{' through any service' if len(missing) == 2 else ''}",
                        f"tunnel::{action}::{st.label()}",
                        {"action": action, "unscoped": missing},
                    )
                    break


TUNNEL_OPERATOR_UNSCOPED = Rule(
    id="IAM-TUNNEL-UNSCOPED",
    severity=Severity.MEDIUM,
    title="Secure tunnels to any device or for any service",
    explanation="iot:OpenTunnel (or iot:RotateTunnelAccessToken) without iot:ThingGroupArn and "
    "iot:TunnelDestinationService conditions lets the holder open a shell to every device of the account, or "
    "re-issue the access tokens of tunnels others opened.",
    fix='Condition both actions on "ForAnyValue:StringEquals": {"iot:ThingGroupArn": [<groups>]} and '
    '"ForAllValues:StringEquals": {"iot:TunnelDestinationService": [<services>]} with a Null check on each key; '
    "scope DescribeTunnel/CloseTunnel with aws:ResourceTag.",
    check=_check,
    see_also=("AWS IoT Developer Guide, Controlling access to tunnels (tunnel-access.html)",),
)

RULES = (TUNNEL_OPERATOR_UNSCOPED,)
