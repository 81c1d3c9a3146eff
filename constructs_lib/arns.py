"""ARN prefixes for IoT resources, as CloudFormation tokens or as worst-case text for size checks."""

from __future__ import annotations

from aws_cdk import Aws

#: Rendered by CloudFormation: ``arn:<partition>:iot:<region>:<account>``.
IOT_ARN_PREFIX = f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}"
#: The longest prefix a deployment can produce (longest partition, a 15-character region, 12-digit
#: account). Policy size checks render documents with it so they hold in every account and region.
WORST_CASE_IOT_ARN_PREFIX = "arn:aws-us-gov:iot:ap-southeast-15:123456789012"


def iot_arn(prefix: str, resource: str) -> str:
    """``<prefix>:<resource>``, e.g. ``iot_arn(IOT_ARN_PREFIX, "topic/dt/x")``."""
    return f"{prefix}:{resource}"
