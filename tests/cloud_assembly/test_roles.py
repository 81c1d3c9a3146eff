"""A policy's role is decided from what it grants (Compliance / Noncompliance per role)."""

from __future__ import annotations

from typing import Any

import pytest

from cloud_assembly.model import IotPolicy, Location, PolicyRole, ProvisioningTemplate, TemplatePolicy
from cloud_assembly.roles import role_of, with_roles

A = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}"
REGISTER = "$aws/provisioning-templates/t/provision/json"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def policy(name: str, document: dict[str, Any]) -> IotPolicy:
    return IotPolicy(Location("s", name, name, "AWS::IoT::Policy"), name, document)


@pytest.mark.parametrize(
    ("document", "role"),
    [
        (doc(allow("iot:Publish", f"{A}:topic/{REGISTER}")), PolicyRole.CLAIM),
        # key order and spelling do not matter: the statement is read, not searched
        (doc({"Resource": [f"{A}:topic/$aws/provisioning-templates/*"], "Action": ["iot:*"], "Effect": "Allow"}),
         PolicyRole.CLAIM),
        # a Deny on the topic, or Subscribe only, does not let it provision
        (doc({"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{A}:topic/{REGISTER}"}), PolicyRole.OTHER),
        (doc(allow("iot:Subscribe", f"{A}:topicfilter/{REGISTER}/accepted")), PolicyRole.OTHER),
        # the words in a Sid are not a grant
        (doc({**allow("iot:Connect", f"{A}:client/x"), "Sid": "provisioning-templates"}), PolicyRole.OTHER),
        (doc(allow(["greengrass:ResolveComponentCandidates"], "*")), PolicyRole.CORE_DEVICE),
        (doc(allow("iot:Publish", f"{A}:topic/$aws/things/core-1*/greengrassv2/health/json")), PolicyRole.CORE_DEVICE),
        (doc({"Effect": "Deny", "Action": "iot:*", "Resource": "*"}), PolicyRole.QUARANTINE),
        # a Deny of Connect alone leaves topics undenied; an Allow anywhere is not a quarantine
        (doc({"Effect": "Deny", "Action": "iot:Connect", "Resource": "*"}), PolicyRole.OTHER),
        (doc({"Effect": "Deny", "Action": "iot:*", "Resource": "*"}, allow("iot:Connect", "*")), PolicyRole.OTHER),
        (doc(), PolicyRole.OTHER),
    ],
    ids=["claim", "claim-any-spelling", "deny-is-not-claim", "subscribe-only", "sid-words", "greengrass-action",
         "greengrass-topic", "quarantine", "deny-connect-only", "deny-and-allow", "empty"],
)  # fmt: skip
def test_role_from_structure(document: dict[str, Any], role: PolicyRole) -> None:
    assert role_of(policy("p", document), set()) is role


def test_a_policy_a_template_attaches_is_a_device_policy_whatever_it_grants() -> None:
    template = ProvisioningTemplate(
        at=Location("s", "T", "T", "AWS::IoT::ProvisioningTemplate"), name="t", body_source="{}", body={},
        body_error=None, enabled=True, has_hook=True, hook_function=None,
        policies=(TemplatePolicy("policy", "dev", None),),
    )  # fmt: skip
    claim_like = doc(allow("iot:Publish", f"{A}:topic/$aws/provisioning-templates/t/provision/json"))
    roles = {p.name: p.role for p in with_roles([policy("dev", claim_like), policy("other", doc())], [template])}
    assert roles == {"dev": PolicyRole.DEVICE, "other": PolicyRole.OTHER}
