"""A small cloud assembly for the double's edge-access tests: a role alias, its role and device policies.

Built with CDK (no cdk-nag: it is a test input, not a deliverable), once per test session.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot

STACK = "EdgeFixture"
ALIAS = "edge-fixture-core-alias"
DURATION = 900
THING = "${iot:Connection.Thing.ThingName}"
#: policy name -> statements (resources relative to the account's IoT ARN prefix)
POLICIES: dict[str, list[dict[str, object]]] = {
    # a core: its own alias, connect as its thing, its own tunnel notify topic
    "edge-core": [
        {"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": f"rolealias/{ALIAS}"},
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"client/{THING}"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"topicfilter/$aws/things/{THING}/tunnels/notify"},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"topic/$aws/things/{THING}/tunnels/notify"},
    ],
    # a sensor: the same but no role alias
    "edge-sensor": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"client/{THING}"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"topicfilter/$aws/things/{THING}/tunnels/notify"},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"topic/$aws/things/{THING}/tunnels/notify"},
    ],
    # any role alias (to tell an unknown alias from an unauthorized one)
    "edge-any-alias": [{"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": "rolealias/*"}],
    # the alias only for things whose registry attribute site is plant-1
    "edge-site": [
        {
            "Effect": "Allow",
            "Action": "iot:AssumeRoleWithCertificate",
            "Resource": f"rolealias/{ALIAS}",
            "Condition": {"StringEquals": {"iot:Connection.Thing.Attributes[site]": "plant-1"}},
        }
    ],
}


def synth(outdir: Path) -> Path:
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, STACK, env=cdk.Environment(account="123456789012", region="eu-west-1"))
    role = iam.Role(
        stack,
        "TokenExchangeRole",
        assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"),
        max_session_duration=cdk.Duration.hours(1),
    )
    iot.CfnRoleAlias(stack, "CoreAlias", role_alias=ALIAS, role_arn=role.role_arn, credential_duration_seconds=DURATION)
    prefix = f"arn:aws:iot:{stack.region}:{stack.account}"
    for name, statements in POLICIES.items():
        document = {
            "Version": "2012-10-17",
            "Statement": [{**s, "Resource": f"{prefix}:{s['Resource']}"} for s in statements],
        }
        iot.CfnPolicy(stack, name, policy_name=name, policy_document=document)
    app.synth()
    return outdir
