"""What an IoT policy is for, decided from what it grants, never from how its JSON is spelled.

In order (the first that holds wins):

1. **device**: a provisioning template of the assembly attaches it (by name in its body).
2. **claim**: an Allow statement lets it publish to a RegisterThing topic
   (``$aws/provisioning-templates/<template>/...``, the template level may be a wildcard).
3. **core-device**: it allows Greengrass actions, or publishing to a thing's reserved
   ``greengrass``/``greengrassv2`` topics (a Greengrass core device's policy).
4. **quarantine**: it allows nothing and explicitly denies every data-plane action on any client
   and topic (evaluated with the shared IoT policy evaluator).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from cloud_assembly.model import IotPolicy, PolicyRole, ProvisioningTemplate
from iot_semantics.arns import arn_prefix, resource_part
from iot_semantics.policy_eval import Context, Effect, action_matches, actions, evaluate, resources, statements
from iot_semantics.topics import ReservedApi, parse_reserved

_DATA_PLANE_PROBES = (
    ("iot:Connect", "client/probe"),
    ("iot:Publish", "topic/probe"),
    ("iot:Subscribe", "topicfilter/probe"),
    ("iot:Receive", "topic/probe"),
)


def _allows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in statements(document) if s.get("Effect") == "Allow"]


def _published_apis(allows: list[dict[str, Any]]) -> set[ReservedApi]:
    """The reserved APIs whose topics some Allow statement covers for iot:Publish."""
    out: set[ReservedApi] = set()
    for s in allows:
        reserved_resources = [r for r in resources(s) if "$aws" in r]  # a reserved topic starts with it
        if not reserved_resources or not any(action_matches(p, "iot:Publish") for p in actions(s)):
            continue
        for resource in reserved_resources:
            kind, _, topic = resource_part(resource).partition("/")
            reserved = parse_reserved(topic) if kind == "topic" else None
            if reserved is not None:
                out.add(reserved.api)
    return out


def denies_everything(document: Mapping[str, Any]) -> bool:
    if not statements(document) or _allows(document):
        return False
    prefix = next((p for s in statements(document) for r in resources(s) if (p := arn_prefix(r))), None)
    prefix = prefix or "arn:aws:iot:region:account"
    context = Context(client_id="probe", thing_name="probe", is_attached=True)
    return all(
        evaluate([document], action, f"{prefix}:{resource}", context).effect is Effect.DENY
        for action, resource in _DATA_PLANE_PROBES
    )


def role_of(policy: IotPolicy, device_policy_names: set[str]) -> PolicyRole:
    if policy.name in device_policy_names:
        return PolicyRole.DEVICE
    allows = _allows(policy.document)
    apis = _published_apis(allows)
    if ReservedApi.REGISTER_THING in apis:
        return PolicyRole.CLAIM
    if ReservedApi.GREENGRASS in apis or any(a.lower().startswith("greengrass:") for s in allows for a in actions(s)):
        return PolicyRole.CORE_DEVICE
    if denies_everything(policy.document):
        return PolicyRole.QUARANTINE
    return PolicyRole.OTHER


def device_policy_names(templates: Iterable[ProvisioningTemplate]) -> set[str]:
    """Names of the policies the templates attach to the devices they provision."""
    return {p.name for t in templates for p in t.policies if p.name is not None}


def with_roles(policies: Iterable[IotPolicy], templates: Iterable[ProvisioningTemplate]) -> list[IotPolicy]:
    names = device_policy_names(templates)
    return [dataclasses.replace(p, role=role_of(p, names)) for p in policies]
