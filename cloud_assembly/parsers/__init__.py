"""One parser per resource type, in a dispatch table (the shape of cfn-policy-validator's parsers).

A parser turns one template resource into its typed record (``cloud_assembly.model``) with values
resolved by the stack's resolver. Types without a parser are not read.
"""

from __future__ import annotations

from cloud_assembly.model import Record
from cloud_assembly.parsers import dynamodb, iam, iot, lambda_, resource_policies
from cloud_assembly.parsers.base import Parser, RawResource, StackContext

PARSERS: dict[str, Parser] = {
    "AWS::IoT::Policy": iot.policy,
    "AWS::IoT::ProvisioningTemplate": iot.provisioning_template,
    "AWS::IoT::RoleAlias": iot.role_alias,
    "AWS::IoT::ThingType": iot.thing_type,
    "AWS::IoT::ThingGroup": iot.thing_group,
    "AWS::IoT::Certificate": iot.certificate,
    "AWS::IoT::PolicyPrincipalAttachment": iot.policy_principal_attachment,
    "AWS::IAM::Role": iam.identity,
    "AWS::IAM::User": iam.identity,
    "AWS::IAM::Group": iam.identity,
    "AWS::IAM::Policy": iam.policy,
    "AWS::IAM::ManagedPolicy": iam.policy,
    "AWS::IAM::RolePolicy": iam.policy,
    "AWS::IAM::UserPolicy": iam.policy,
    "AWS::IAM::GroupPolicy": iam.policy,
    "AWS::Lambda::Function": lambda_.function,
    "AWS::Lambda::Permission": lambda_.permission,
    "AWS::DynamoDB::Table": dynamodb.table,
    **dict.fromkeys(resource_policies.SHAPES, resource_policies.resource_policy),
}


def parse(raw: RawResource, ctx: StackContext) -> Record | None:
    parser = PARSERS.get(raw.at.type)
    return parser(raw, ctx) if parser is not None else None


__all__ = ["PARSERS", "Parser", "RawResource", "StackContext", "parse"]
