"""The Greengrass token exchange role: what a core's AWS credentials (from the IoT credentials provider) may do.

Trusted only by ``credentials.iot.amazonaws.com`` on behalf of this account's AWS IoT resources in
this region (``aws:SourceAccount`` / ``aws:SourceArn``, the confused-deputy conditions AWS IoT
documents). Permissions are AWS's minimal token exchange policy for nucleus 2.5.0 and later, scoped:
CloudWatch Logs only on Greengrass's own log groups (``/aws/greengrass/...``), and S3 only on the
artifact buckets and prefixes given, per core through ``${credentials-iot:ThingName}`` where the
prefix names the thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib import nag
from constructs_lib.arns import IOT_ARN_PREFIX

#: The credentials provider's IAM context key for the requesting thing (fact sheet 7.2).
CREDENTIALS_THING_NAME = "${credentials-iot:ThingName}"
#: Where the Greengrass log manager writes (``/aws/greengrass/GreengrassSystemComponent/...``,
#: ``/aws/greengrass/UserComponent/...``).
GREENGRASS_LOG_GROUP_PREFIX = "/aws/greengrass/"
#: How cdk-nag renders the logs ARN prefix in a finding.
_NAG_LOGS_PREFIX = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>"


@dataclass(frozen=True)
class ArtifactGrant:
    """Read access to ``s3://bucket/prefix*``; ``prefix`` may hold ``${credentials-iot:ThingName}``."""

    bucket: str
    prefix: str = ""


class TokenExchangeRole(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        fleet_name: str,
        max_session_duration_seconds: int,
        artifacts: Sequence[ArtifactGrant] = (),
    ) -> None:
        super().__init__(scope, id_)
        self.max_session_duration_seconds = max_session_duration_seconds
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "credentials.iot.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": f"{IOT_ARN_PREFIX}:*"},
                },
            ),
            max_session_duration=Duration.seconds(max_session_duration_seconds),
            description=f"Greengrass token exchange role of fleet {fleet_name}: its log groups and artifacts only",
        )
        logs_arn = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        log_groups = f"{logs_arn}:log-group:{GREENGRASS_LOG_GROUP_PREFIX}*"
        statements = [
            iam.PolicyStatement(
                sid="WriteGreengrassLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_groups, f"{log_groups}:log-stream:*"],
            )
        ]
        buckets = sorted({a.bucket for a in artifacts})
        if artifacts:
            statements += [
                iam.PolicyStatement(
                    sid="LocateArtifactBuckets",
                    actions=["s3:GetBucketLocation"],
                    resources=[f"arn:{Aws.PARTITION}:s3:::{b}" for b in buckets],
                ),
                iam.PolicyStatement(
                    sid="ReadComponentArtifacts",
                    actions=["s3:GetObject"],
                    resources=[f"arn:{Aws.PARTITION}:s3:::{a.bucket}/{a.prefix}*" for a in artifacts],
                ),
            ]
        self.policy = iam.Policy(self, "Policy", roles=[self.role], statements=statements)
        self.artifacts = tuple(artifacts)
        nag.acknowledge(
            self.policy,
            "IAM5",
            f"Resource::{_NAG_LOGS_PREFIX}:log-group:{GREENGRASS_LOG_GROUP_PREFIX}*",
            "The Greengrass log manager creates one log group per component under /aws/greengrass/; the "
            "'*' covers only Greengrass's own log groups.",
        )
        nag.acknowledge(
            self.policy,
            "IAM5",
            f"Resource::{_NAG_LOGS_PREFIX}:log-group:{GREENGRASS_LOG_GROUP_PREFIX}*:log-stream:*",
            "The log manager names streams by date and thing; they live only in Greengrass's log groups.",
        )
        for a in artifacts:
            shown = a.prefix.replace("${", "<").replace("}", ">")  # how cdk-nag renders a variable
            nag.acknowledge(
                self.policy,
                "IAM5",
                f"Resource::arn:<AWS::Partition>:s3:::{a.bucket}/{shown}*",
                f"Component artifacts are objects under s3://{a.bucket}/{a.prefix}, named by each component "
                "version; read-only (s3:GetObject) and only under the configured prefix.",
            )
