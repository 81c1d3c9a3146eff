"""The operations, as functions of a boto3 IoT client (injected, so tests use moto or a Stubber)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from contracts import outputs as contract
from iot_semantics import defender as dd


class OperationError(Exception):
    """A refused or impossible operation; the message says what to do."""


@dataclass(frozen=True)
class DefenderNames:
    """Resource names of one deployed Device Defender stack."""

    quarantine_group: str
    #: mitigation action type (e.g. ADD_THINGS_TO_THING_GROUP) -> action name
    actions: dict[str, str]


#: Outputs of DeviceDefenderStack (``contracts.outputs``): action name in the key -> mitigation action type.
ACTIONS = {
    "QuarantineThings": "ADD_THINGS_TO_THING_GROUP",
    "DeactivateDeviceCertificate": "UPDATE_DEVICE_CERTIFICATE",
    "ReplaceWithBlankPolicy": "REPLACE_DEFAULT_POLICY_VERSION",
    "EnableIotLogging": "ENABLE_IOT_LOGGING",
    "PublishFindingToSns": "PUBLISH_FINDING_TO_SNS",
}


def names_from_outputs(outputs: Mapping[str, Any], stack: str | None) -> DefenderNames:
    """Find the Defender stack's outputs in a ``cdk deploy --outputs-file`` document."""
    try:
        values = contract.find_stack(outputs, contract.QUARANTINE_GROUP_NAME, stack=stack, what="Device Defender")
    except contract.OutputsError as exc:
        raise OperationError(str(exc)) from None
    actions = {
        kind: values[key] for name, kind in ACTIONS.items() if (key := contract.mitigation_action_key(name)) in values
    }
    return DefenderNames(quarantine_group=values[contract.QUARANTINE_GROUP_NAME], actions=actions)


def _groups_of(client: Any, thing: str) -> list[str]:
    groups: list[str] = []
    for page in client.get_paginator("list_thing_groups_for_thing").paginate(thingName=thing):
        groups += [g["groupName"] for g in page.get("thingGroups", [])]
    return groups


def quarantine(client: Any, names: DefenderNames, thing: str) -> str:
    """Put ``thing`` into the quarantine group (its deny-all policy then applies); idempotent."""
    client.describe_thing(thingName=thing)  # a clear ResourceNotFound for a misspelled name
    if names.quarantine_group in _groups_of(client, thing):
        return f"{thing} is already in {names.quarantine_group}"
    client.add_thing_to_thing_group(thingGroupName=names.quarantine_group, thingName=thing)
    return (
        f"{thing} added to {names.quarantine_group}: every IoT action is denied once AWS IoT applies the policy "
        "(policy changes take up to 8 minutes); the device keeps its certificate and other groups"
    )


def release(client: Any, names: DefenderNames, thing: str) -> str:
    client.describe_thing(thingName=thing)
    if names.quarantine_group not in _groups_of(client, thing):
        return f"{thing} is not in {names.quarantine_group}"
    client.remove_thing_from_thing_group(thingGroupName=names.quarantine_group, thingName=thing)
    return f"{thing} removed from {names.quarantine_group}"


def mitigate_finding(client: Any, names: DefenderNames, finding_id: str, action_type: str | None) -> str:
    """Start an audit mitigation task applying one of our actions to one finding."""
    finding = client.describe_audit_finding(findingId=finding_id)["finding"]
    check_name = finding["checkName"]
    supported = (
        (*dd.AUDIT_CHECKS[check_name].mitigations, "PUBLISH_FINDING_TO_SNS") if check_name in dd.AUDIT_CHECKS else ()
    )
    if action_type is None:
        choices = [a for a in supported if a in names.actions]
        if not choices:
            raise OperationError(f"no deployed mitigation action applies to {check_name}")
        action_type = choices[0]
    if action_type not in supported:
        raise OperationError(
            f"{action_type} does not apply to {check_name}; it supports {', '.join(supported) or 'none'}"
        )
    if action_type not in names.actions:
        raise OperationError(f"the stack deploys no {action_type} action")
    task_id = f"mitigate-{uuid.uuid4().hex[:24]}"
    client.start_audit_mitigation_actions_task(
        taskId=task_id,
        target={"findingIds": [finding_id]},
        auditCheckToActionsMapping={check_name: [names.actions[action_type]]},
        clientRequestToken=uuid.uuid4().hex,
    )
    return f"started {task_id}: {names.actions[action_type]} ({action_type}) on finding {finding_id} ({check_name})"


def active_violations(client: Any, *, profile: str | None, thing: str | None) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {}
    if profile:
        kwargs["securityProfileName"] = profile
    if thing:
        kwargs["thingName"] = thing
    while True:
        page = client.list_active_violations(**kwargs)
        yield from page.get("activeViolations", [])
        token = page.get("nextToken")
        if not token:
            return
        kwargs["nextToken"] = token
