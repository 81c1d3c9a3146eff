"""Hypothesis strategies: IoT policies from a small vocabulary, and whole templates with arbitrary JSON.

The vocabulary is small on purpose: the differential test checks the simulation against brute-force
evaluation over every probe resource built from the same words, so what the generated policies name
must be what the probes can hit (device names, reserved-topic words, MQTT wildcards, variables).
Templates mix well-formed resources of every type the review reads with arbitrary JSON in any
property, intrinsics included: whatever CloudFormation's schema would accept, the review must judge.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

THING = "${iot:Connection.Thing.ThingName}"
CLIENT = "${iot:ClientId}"
ARN_PREFIXES = (
    "arn:aws:iot:us-east-1:123456789012:",
    "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:",
    "arn:aws:iot:*:*:",
    "arn:aws:iot:us-east-1:999999999999:",
)
LEVELS = (
    "dt",
    "cmd",
    "dev-1",
    "dev-10",
    "dev-2",
    "x",
    "$aws",
    "things",
    "shadow",
    "update",
    "jobs",
    "get",
    THING,
    CLIENT,
    f"{THING}*",
    "*",
    "?",
    "+",
    "#",
    "dev-*",
    "*1",
)
DATA_ACTIONS = (
    "iot:Connect",
    "iot:Publish",
    "iot:Subscribe",
    "iot:Receive",
    "iot:RetainPublish",
    "iot:GetRetainedMessage",
    "iot:UpdateThingShadow",
    "iot:GetThingShadow",
)
ACTIONS = (*DATA_ACTIONS, "iot:*", "*", "iot:Pub*", "IOT:publish", "iot:?onnect", "iot:AssumeRoleWithCertificate")
TYPES = ("client/", "topic/", "topicfilter/", "thing/", "topic*", "rolealias/")


@st.composite
def resources(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 15)) == 0:
        return "*"
    prefix = draw(st.sampled_from(ARN_PREFIXES))
    rtype = draw(st.sampled_from(TYPES))
    levels = draw(st.lists(st.sampled_from(LEVELS), min_size=0 if rtype == "topic*" else 1, max_size=4))
    tail = "/".join(levels)
    if draw(st.booleans()) and tail and not tail.endswith("*"):
        tail += draw(st.sampled_from(("/*", "*", "/#")))
    return prefix + rtype + tail


CONDITIONS = (
    {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
    {"Bool": {"iot:Connection.Thing.IsAttached": "false"}},
    {"StringEquals": {"iot:ClientId": THING}},
    {"StringLike": {"iot:ClientId": "dev-*"}},
    {"StringNotEquals": {"iot:ClientId": "dev-10"}},
    {"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}},
    {"Null": {"iot:Connection.Thing.ThingName": "false"}},
    {"StringEqualsIfExists": {"iot:Connection.Thing.ThingTypeName": "sensor"}},
)


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(("Allow", "Allow", "Allow", "Deny")))}
    actions = draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3))
    statement["NotAction" if draw(st.integers(0, 9)) == 0 else "Action"] = actions if len(actions) > 1 else actions[0]
    res = draw(st.lists(resources(), min_size=1, max_size=3))
    statement["NotResource" if draw(st.integers(0, 9)) == 0 else "Resource"] = res if len(res) > 1 else res[0]
    if draw(st.integers(0, 3)) == 0:
        statement["Condition"] = draw(st.sampled_from(CONDITIONS))
    if draw(st.booleans()):
        statement["Sid"] = f"S{draw(st.integers(0, 99))}"
    return statement


@st.composite
def iot_policies(draw: st.DrawFn, *, max_statements: int = 4) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": draw(st.lists(statements(), min_size=1, max_size=max_statements))}


# Templates ---------------------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5000),
    st.text(max_size=12),
    st.sampled_from(("*", "${AWS::Region}", "iot.amazonaws.com", "{not json", "[]")),
)
LOGICAL_IDS = (
    "Policy",
    "Role",
    "Alias",
    "Template",
    "Hook",
    "Perm",
    "Key",
    "Topic",
    "Queue",
    "Managed",
    "Inline",
    "Param",
    "Cert",
    "Attach",
)


def intrinsics(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    ids = st.sampled_from(LOGICAL_IDS)
    return st.one_of(
        st.builds(lambda x: {"Ref": x}, st.one_of(ids, st.sampled_from(("AWS::Region", "AWS::NoValue")), inner)),
        st.builds(lambda x, a: {"Fn::GetAtt": [x, a]}, ids, st.sampled_from(("Arn", "Id", "x"))),
        st.builds(lambda d, xs: {"Fn::Join": [d, xs]}, st.sampled_from(("", ":", "/")), st.lists(inner, max_size=4)),
        st.builds(
            lambda s: {"Fn::Sub": s},
            st.sampled_from(
                ("arn:${AWS::Partition}:iot:${AWS::Region}:x", "${!Literal}/${Hook.Arn}", "${Missing}", "${")
            ),
        ),
        st.builds(
            lambda s, m: {"Fn::Sub": [s, m]},
            st.text(max_size=10),
            st.dictionaries(st.text(max_size=4), inner, max_size=2),
        ),
        st.builds(lambda c, a, b: {"Fn::If": [c, a, b]}, st.sampled_from(("IsProd", "Nope")), inner, inner),
        st.builds(
            lambda i, xs: {"Fn::Select": [i, xs]}, st.integers(-1, 3), st.one_of(st.lists(inner, max_size=3), inner)
        ),
        st.builds(lambda d, s: {"Fn::Split": [d, s]}, st.sampled_from((",", "/")), inner),
        st.builds(lambda x: {"Fn::Base64": x}, inner),
        st.builds(lambda x: {"Fn::FindInMap": x}, st.lists(inner, max_size=3)),
    )


ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3), intrinsics(inner)
    ),
    max_leaves=12,
)


def document_forms(doc: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """A policy document as an object, as a JSON string, or broken in one of the ways templates break."""
    return st.one_of(doc, doc.map(json.dumps), doc.map(lambda d: {"Fn::Sub": json.dumps(d)}), ANY_JSON)


TRUST = st.fixed_dictionaries(
    {
        "Statement": st.lists(
            st.fixed_dictionaries(
                {
                    "Effect": st.sampled_from(("Allow", "Deny")),
                    "Principal": st.one_of(
                        st.just("*"),
                        st.fixed_dictionaries(
                            {
                                "Service": st.sampled_from(
                                    ("iot.amazonaws.com", "credentials.iot.amazonaws.com", "lambda.amazonaws.com", "*")
                                )
                            }
                        ),
                        st.fixed_dictionaries({"AWS": st.sampled_from(("*", "arn:aws:iam::123456789012:root"))}),
                    ),
                    "Action": st.sampled_from(("sts:AssumeRole", "sts:*", "*")),
                },
                optional={
                    "Condition": st.sampled_from(
                        (
                            {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                            {"Bool": {"aws:SecureTransport": "true"}},
                        )
                    )
                },
            ),
            max_size=2,
        )
    },
)

IAM_DOC = st.fixed_dictionaries(
    {
        "Statement": st.lists(
            st.fixed_dictionaries(
                {
                    "Effect": st.sampled_from(("Allow", "Deny")),
                    "Action": st.sampled_from(
                        (
                            "*",
                            "iot:*",
                            "iam:PassRole",
                            "iot:Publish",
                            "s3:GetObject",
                            "iam:Put*Policy",
                            "iot:AttachPolicy",
                            ["iot:Connect", "iot:Publish"],
                        )
                    ),
                    "Resource": st.sampled_from(
                        ("*", "arn:aws:iot:*:*:topic/*", "arn:aws:iam::123456789012:role/x", "arn:aws:s3:::b/*")
                    ),
                }
            ),
            min_size=1,
            max_size=3,
        )
    }
)


def _props(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Properties with each field sometimes missing and sometimes replaced by arbitrary JSON."""
    return st.fixed_dictionaries({}, optional={k: st.one_of(v, v, v, ANY_JSON) for k, v in fields.items()})


def _body(policy: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    resources_ = st.fixed_dictionaries(
        {
            "thing": st.just({"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "SerialNumber"}}}),
            "policy": st.one_of(
                st.just({"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "Policy"}}),
                policy.map(lambda d: {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": json.dumps(d)}}),
            ),
            "certificate": st.just(
                {
                    "Type": "AWS::IoT::Certificate",
                    "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"},
                }
            ),
        }
    )
    body = st.fixed_dictionaries({"Parameters": st.just({"SerialNumber": {"Type": "String"}}), "Resources": resources_})
    return st.one_of(
        body.map(json.dumps), body.map(lambda b: {"Fn::Sub": json.dumps(b).replace("${", "${!")}), ANY_JSON
    )


@st.composite
def templates(draw: st.DrawFn) -> dict[str, Any]:
    policy = iot_policies(max_statements=3)
    kinds = {
        "AWS::IoT::Policy": _props(PolicyName=st.sampled_from(("Policy", "p")), PolicyDocument=document_forms(policy)),
        "AWS::IAM::Role": _props(
            AssumeRolePolicyDocument=document_forms(TRUST),
            Policies=st.lists(
                st.fixed_dictionaries({"PolicyName": st.just("inline"), "PolicyDocument": IAM_DOC}), max_size=2
            ),
            ManagedPolicyArns=st.lists(
                st.one_of(st.just("arn:aws:iam::aws:policy/AdministratorAccess"), st.just({"Ref": "Managed"})),
                max_size=2,
            ),
        ),
        "AWS::IAM::ManagedPolicy": _props(PolicyDocument=document_forms(IAM_DOC), Roles=st.just([{"Ref": "Role"}])),
        "AWS::IAM::Policy": _props(
            PolicyName=st.just("attached"), PolicyDocument=document_forms(IAM_DOC), Roles=st.just([{"Ref": "Role"}])
        ),
        "AWS::IAM::RolePolicy": _props(
            PolicyName=st.just("rp"), RoleName=st.just({"Ref": "Role"}), PolicyDocument=document_forms(IAM_DOC)
        ),
        "AWS::IoT::RoleAlias": _props(
            RoleAlias=st.just("alias"),
            RoleArn=st.just({"Fn::GetAtt": ["Role", "Arn"]}),
            CredentialDurationSeconds=st.sampled_from((900, 3600, 43200, "7200")),
        ),
        "AWS::IoT::ProvisioningTemplate": _props(
            TemplateName=st.just("t"),
            TemplateBody=_body(policy),
            Enabled=st.booleans(),
            ProvisioningRoleArn=st.just({"Fn::GetAtt": ["Role", "Arn"]}),
            PreProvisioningHook=st.fixed_dictionaries({"TargetArn": st.just({"Fn::GetAtt": ["Hook", "Arn"]})}),
        ),
        "AWS::Lambda::Function": _props(Handler=st.just("h.main"), Role=st.just({"Fn::GetAtt": ["Role", "Arn"]})),
        "AWS::Lambda::Permission": _props(
            FunctionName=st.sampled_from(({"Ref": "Hook"}, {"Fn::GetAtt": ["Hook", "Arn"]})),
            Action=st.just("lambda:InvokeFunction"),
            Principal=st.sampled_from(
                ("iot.amazonaws.com", "*", {"Fn::Sub": "iot.${AWS::URLSuffix}"}, {"Ref": "Param"})
            ),
            SourceArn=st.sampled_from(
                (
                    "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/t",
                    "*",
                    {"Fn::Sub": "arn:${AWS::Partition}:iot:*:*:*"},
                )
            ),
            SourceAccount=st.sampled_from(({"Ref": "AWS::AccountId"}, "123456789012")),
        ),
        "AWS::KMS::Key": _props(KeyPolicy=document_forms(TRUST)),
        "AWS::SNS::TopicPolicy": _props(PolicyDocument=document_forms(TRUST), Topics=st.just([{"Ref": "Topic"}])),
        "AWS::SQS::QueuePolicy": _props(PolicyDocument=document_forms(TRUST), Queues=st.just([{"Ref": "Queue"}])),
        "AWS::IoT::PolicyPrincipalAttachment": _props(
            PolicyName=st.sampled_from(("Policy", {"Ref": "Policy"})),
            Principal=st.just({"Fn::GetAtt": ["Cert", "Arn"]}),
        ),
        "AWS::IoT::Certificate": _props(Status=st.just("ACTIVE"), CertificateSigningRequest=st.text(max_size=5)),
        "Custom::Thing": _props(ServiceToken=st.just({"Fn::GetAtt": ["Hook", "Arn"]})),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(kinds)), min_size=1, max_size=6))
    resources_: dict[str, Any] = {}
    for i, kind in enumerate(chosen):
        logical = LOGICAL_IDS[i % len(LOGICAL_IDS)] if draw(st.booleans()) else f"{kind.split('::')[-1]}{i}"
        resource: dict[str, Any] = {"Type": kind, "Properties": draw(kinds[kind])}
        if draw(st.integers(0, 5)) == 0:
            resource["Condition"] = draw(st.sampled_from(("IsProd", "Nope")))
        if draw(st.integers(0, 5)) == 0:
            resource["Metadata"] = draw(st.one_of(ANY_JSON, st.just({"aws:cdk:path": f"stk/{logical}/Resource"})))
        resources_[logical] = resource
    template: dict[str, Any] = {"Resources": resources_}
    if draw(st.booleans()):
        template["Conditions"] = {
            "IsProd": draw(st.one_of(st.just({"Fn::Equals": [{"Ref": "Env"}, "prod"]}), ANY_JSON))
        }
        template["Parameters"] = {"Env": {"Type": "String", "Default": "dev"}, "Param": {"Type": "String"}}
    if draw(st.integers(0, 4)) == 0:
        template["Mappings"] = draw(ANY_JSON)
    return template
