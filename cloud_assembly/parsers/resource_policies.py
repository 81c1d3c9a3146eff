"""Resource-based policies an IoT deployment carries: KMS keys, SNS topics, SQS queues, S3 buckets, secrets."""

from __future__ import annotations

from cloud_assembly.model import ResourcePolicy
from cloud_assembly.parsers.base import RawResource, StackContext

#: Resource type -> (service, the property holding the document, the property naming the governed resources).
SHAPES: dict[str, tuple[str, str, str | None]] = {
    "AWS::KMS::Key": ("kms", "KeyPolicy", None),
    "AWS::SNS::TopicPolicy": ("sns", "PolicyDocument", "Topics"),
    "AWS::SQS::QueuePolicy": ("sqs", "PolicyDocument", "Queues"),
    "AWS::S3::BucketPolicy": ("s3", "PolicyDocument", "Bucket"),
    "AWS::SecretsManager::ResourcePolicy": ("secretsmanager", "ResourcePolicy", "SecretId"),
}


def resource_policy(raw: RawResource, ctx: StackContext) -> ResourcePolicy:
    service, document_property, targets_property = SHAPES[raw.at.type]
    node = raw.properties.get(document_property)
    document: dict[str, object]
    problems: tuple[str, ...]
    if node is None and raw.at.type == "AWS::KMS::Key":
        document, problems = {}, ()  # no KeyPolicy: KMS's default policy (the account root), nothing to judge
    else:
        document, problems = ctx.document(raw, document_property, node if node is not None else {})
    targets = ctx.texts(raw.properties.get(targets_property)) if targets_property else (f"${{{raw.at.logical_id}}}",)
    return ResourcePolicy(raw.at, service, document, targets, problems)
