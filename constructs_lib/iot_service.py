"""Roles that AWS IoT assumes, with the documented confused-deputy conditions."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib.arns import IOT_ARN_PREFIX


def iot_service_principal() -> iam.ServicePrincipal:
    """``iot.amazonaws.com``, only on behalf of this account's AWS IoT resources in this region."""
    return iam.ServicePrincipal(
        "iot.amazonaws.com",
        conditions={
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            "ArnLike": {"aws:SourceArn": f"{IOT_ARN_PREFIX}:*"},
        },
    )


def iot_service_role(scope: Construct, id_: str, *, description: str) -> iam.Role:
    return iam.Role(scope, id_, assumed_by=iot_service_principal(), description=description)
