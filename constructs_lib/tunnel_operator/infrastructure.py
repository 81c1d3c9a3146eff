"""The secure tunneling operator role: open tunnels only to things in named groups, for named services.

``iot:OpenTunnel`` is allowed on ``tunnel/*`` only when the destination thing is in one of the
named thing groups (``iot:ThingGroupArn``) and every destination service is a named one
(``iot:TunnelDestinationService``), and only when the tunnel is tagged with this role's scope tag,
so that ``iot:DescribeTunnel`` and ``iot:CloseTunnel`` (which AWS conditions on
``aws:ResourceTag``) reach only tunnels opened this way; ``iot:RotateTunnelAccessToken`` carries
the same group and service conditions as OpenTunnel (the condition keys AWS documents for it).

There is no IAM condition key on OpenTunnel's ``maxLifetimeTimeoutMinutes``: the configured
lifetime is what the operator runbook opens tunnels with and is recorded as a tag on the role; the
role's own sessions last at most one hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib import nag
from constructs_lib.arns import IOT_ARN_PREFIX

#: The tag every tunnel this role opens must carry (value: the role's scope name).
TUNNEL_SCOPE_TAG = "tunnel-scope"
#: Tag on the role recording the configured tunnel lifetime.
MAX_LIFETIME_TAG = "tunnel-max-lifetime-minutes"


class TunnelOperatorRole(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        principals: Sequence[iam.IPrincipal],
        thing_group_names: Sequence[str],
        services: Sequence[str],
        scope_value: str,
        max_lifetime_minutes: int,
        external_id: str | None = None,
        require_mfa: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        if not thing_group_names or not services:
            raise ValueError("a tunnel operator role needs at least one thing group and one service")
        assumed_by: iam.IPrincipal = iam.CompositePrincipal(*principals) if len(principals) > 1 else principals[0]
        if require_mfa:
            assumed_by = iam.PrincipalWithConditions(assumed_by, {"Bool": {"aws:MultiFactorAuthPresent": "true"}})
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=assumed_by,
            external_ids=[external_id] if external_id else None,
            max_session_duration=Duration.hours(1),
            description=(
                f"Secure tunneling operator: open tunnels to things in {', '.join(thing_group_names)} "
                f"for {', '.join(services)} only"
            ),
        )
        Tags.of(self.role).add(MAX_LIFETIME_TAG, str(max_lifetime_minutes))
        self.thing_group_arns = [f"{IOT_ARN_PREFIX}:thinggroup/{g}" for g in thing_group_names]
        self.services = tuple(services)
        self.scope_value = scope_value
        self.max_lifetime_minutes = max_lifetime_minutes
        tunnels = f"{IOT_ARN_PREFIX}:tunnel/*"
        groups_and_services: dict[str, Any] = {
            "ForAnyValue:StringEquals": {"iot:ThingGroupArn": self.thing_group_arns},
            "ForAllValues:StringEquals": {"iot:TunnelDestinationService": list(services)},
            "Null": {"iot:TunnelDestinationService": "false", "iot:ThingGroupArn": "false"},
        }
        secure = {"Bool": {"aws:SecureTransport": "true"}}
        reach = {**groups_and_services, **secure}
        scope_tag = {f"aws:RequestTag/{TUNNEL_SCOPE_TAG}": scope_value}
        tagged_request: dict[str, Any] = {
            "StringEquals": scope_tag,
            "ForAllValues:StringEquals": {"aws:TagKeys": [TUNNEL_SCOPE_TAG]},
            **secure,
        }
        open_conditions: dict[str, Any] = {
            **reach,
            "StringEquals": scope_tag,
            "ForAllValues:StringEquals": {
                "iot:TunnelDestinationService": list(services),
                "aws:TagKeys": [TUNNEL_SCOPE_TAG],
            },
        }
        self.policy = iam.Policy(
            self,
            "Policy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="OpenTunnelsToNamedGroupsAndServices",
                    actions=["iot:OpenTunnel"],
                    resources=[tunnels],
                    conditions=open_conditions,
                ),
                iam.PolicyStatement(
                    sid="TagTunnelsWithThisScope",
                    actions=["iot:TagResource"],
                    resources=[tunnels],
                    conditions=tagged_request,
                ),
                iam.PolicyStatement(
                    sid="RotateTokensOfReachableTunnels",
                    actions=["iot:RotateTunnelAccessToken"],
                    resources=[tunnels],
                    conditions=reach,
                ),
                iam.PolicyStatement(
                    sid="DescribeAndCloseTunnelsOfThisScope",
                    actions=["iot:DescribeTunnel", "iot:CloseTunnel"],
                    resources=[tunnels],
                    conditions={
                        "StringEquals": {f"aws:ResourceTag/{TUNNEL_SCOPE_TAG}": scope_value},
                        "Bool": {"aws:SecureTransport": "true"},
                    },
                ),
            ],
        )
        nag.acknowledge(
            self.policy,
            "IAM5",
            nag.iot_resource_finding("tunnel/*"),
            "Tunnel IDs exist only once OpenTunnel returns them; every statement on tunnel/* is conditioned on "
            "the destination thing's groups and services (iot:ThingGroupArn, iot:TunnelDestinationService) or "
            "on this role's tunnel-scope tag.",
        )
