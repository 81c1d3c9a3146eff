"""cdk-nag acknowledgments (3.x API): each names one exact granular finding and says why."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

#: How cdk-nag renders ``constructs_lib.arns.IOT_ARN_PREFIX`` inside a finding ID.
NAG_IOT_ARN_PREFIX = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>"


def acknowledge(scope: IConstruct, rule: str, finding: str | None, reason: str) -> None:
    """Acknowledge ``AwsSolutions-<rule>[<finding>]`` on ``scope`` (and its children)."""
    if len(reason) < 20:
        raise ValueError("an acknowledgment needs a real reason")
    rule_id = f"AwsSolutions-{rule}" + (f"[{finding}]" if finding else "")
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule_id}", reason=reason))


def iot_resource_finding(resource: str) -> str:
    """The IAM5 finding ID of an IoT ARN built from IOT_ARN_PREFIX, e.g. ``cert/*``."""
    return f"Resource::{NAG_IOT_ARN_PREFIX}:{resource}"
