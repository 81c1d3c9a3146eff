"""The IoT ARN prefix as CloudFormation tokens (rendered at deploy time)."""

from __future__ import annotations

from aws_cdk import Aws

#: Rendered by CloudFormation: ``arn:<partition>:iot:<region>:<account>``.
IOT_ARN_PREFIX = f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}"
