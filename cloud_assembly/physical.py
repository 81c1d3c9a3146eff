"""Physical names and ARNs of a stack's resources, for the concrete resolver.

CloudFormation generates a physical name for a resource that names none (roles, tables); a
synthesized template cannot know it, so the concrete resolver uses ``<stack>-<logical ID>``
(truncated to the type's name limit), stable across runs. A resource that names itself keeps its
name. The ARN formats are the services' documented ones; other types get a CloudFormation-shaped
stand-in ARN naming the stack and logical ID.
"""

from __future__ import annotations

from typing import Any

#: Properties that hold a resource's own name, checked in this order.
NAME_PROPERTIES = (
    "PolicyName",
    "TemplateName",
    "ThingGroupName",
    "ThingTypeName",
    "TableName",
    "FunctionName",
    "RoleName",
    "RoleAlias",
    "ManagedPolicyName",
    "UserName",
    "GroupName",
    "TopicName",
    "ActionName",
)
#: Name length limits of generated names (64 unless listed).
_NAME_LIMITS = {"AWS::DynamoDB::Table": 255}
_DEFAULT_LIMIT = 64
#: Types whose physical ID the service assigns at deployment (an IoT certificate's ID is the SHA-256
#: of the certificate it issues): their ``Ref`` is a placeholder naming the resource, untruncated,
#: that the deployment replaces (``deploy_placeholder``).
DEPLOY_ASSIGNED = frozenset({"AWS::IoT::Certificate"})
#: ARN format by type: fields partition, region, account and name.
ARN_FORMATS = {
    "AWS::Lambda::Function": "arn:{partition}:lambda:{region}:{account}:function:{name}",
    "AWS::IAM::Role": "arn:{partition}:iam::{account}:role/{name}",
    "AWS::DynamoDB::Table": "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
    "AWS::SNS::Topic": "arn:{partition}:sns:{region}:{account}:{name}",
    "AWS::IoT::Certificate": "arn:{partition}:iot:{region}:{account}:cert/{name}",
}
_STAND_IN_ARN = "arn:{partition}:cloudformation:{region}:{account}:{stack}/{logical}"


def name(stack: str, logical_id: str, resource: Any) -> str:
    """The resource's physical name; ``<logical ID>`` in angle brackets for a resource not in the stack."""
    if not isinstance(resource, dict):
        return f"<{logical_id}>"
    if resource.get("Type") in DEPLOY_ASSIGNED:
        return deploy_placeholder(stack, logical_id)
    props = resource.get("Properties") or {}
    for key in NAME_PROPERTIES:
        if isinstance(props.get(key), str):
            return str(props[key])
    return f"{stack}-{logical_id}"[: _NAME_LIMITS.get(str(resource.get("Type")), _DEFAULT_LIMIT)]


def arn(stack: str, logical_id: str, resource: Any, *, account: str, region: str, partition: str) -> str:
    kind = resource.get("Type", "") if isinstance(resource, dict) else ""
    fmt = ARN_FORMATS.get(kind, _STAND_IN_ARN)
    return fmt.format(
        partition=partition,
        region=region,
        account=account,
        name=name(stack, logical_id, resource),
        stack=stack,
        logical=logical_id,
    )


def deploy_placeholder(stack: str, logical_id: str) -> str:
    """The stand-in for a value assigned at deployment, unique per resource (never truncated)."""
    return f"{{deployed:{stack}/{logical_id}}}"
