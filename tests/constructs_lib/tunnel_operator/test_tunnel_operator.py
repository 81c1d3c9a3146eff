"""The tunnel operator role's trust: configured principals, external ID and MFA when configured."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from constructs_lib.tunnel_operator import TunnelOperatorRole


def _role(**kwargs: object) -> Template:
    stack = cdk.Stack()
    TunnelOperatorRole(
        stack,
        "Op",
        principals=[iam.ArnPrincipal("arn:aws:iam::123456789012:role/ops")],
        thing_group_names=["g"],
        services=["SSH", "VNC"],
        scope_value="s",
        max_lifetime_minutes=30,
        **kwargs,  # type: ignore[arg-type]
    )
    return Template.from_stack(stack)


def test_external_id_and_mfa_both_required_when_configured() -> None:
    template = _role(external_id="ext-1", require_mfa=True)
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Principal": {"AWS": "arn:aws:iam::123456789012:role/ops"},
                            "Condition": {
                                "StringEquals": {"sts:ExternalId": "ext-1"},
                                "Bool": {"aws:MultiFactorAuthPresent": "true"},
                            },
                        }
                    )
                ]
            },
            "MaxSessionDuration": 3600,
            "Tags": Match.array_with([{"Key": "tunnel-max-lifetime-minutes", "Value": "30"}]),
        },
    )


def test_no_conditions_when_neither_is_configured() -> None:
    template = _role()
    role = next(iter(template.find_resources("AWS::IAM::Role").values()))
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert "Condition" not in statement
