"""CloudFormation custom resource: attach an IoT policy to a static thing group.

CloudFormation cannot express this (AWS::IoT::PolicyPrincipalAttachment accepts certificates
only). Request types:

- Create: AttachPolicy(policy, group ARN); "already attached" counts as success.
- Update: attach the new pair; when the pair changed, the physical ID changes and CloudFormation
  then sends Delete for the old pair, which detaches it.
- Delete: DetachPolicy; a group or policy that is already gone counts as success, as does a
  physical ID that never became an attachment (a failed Create).

Every path answers CloudFormation (PUT to ResponseURL), also on errors, so a stack never hangs.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

LOG = logging.getLogger("quarantine_attachment")
LOG.setLevel(logging.INFO)
SEPARATOR = "|"
_client: Any = None


def iot() -> Any:
    global _client
    if _client is None:
        _client = boto3.client("iot", config=Config(retries={"max_attempts": 5, "mode": "standard"}))
    return _client


def physical_id(policy: str, target: str) -> str:
    return f"{policy}{SEPARATOR}{target}"


def parse_physical_id(value: str | None) -> tuple[str, str] | None:
    if not value or SEPARATOR not in value:
        return None
    policy, target = value.split(SEPARATOR, 1)
    if not target.startswith("arn:") or ":thinggroup/" not in target:
        return None
    return policy, target


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def attach(client: Any, policy: str, target: str) -> None:
    try:
        client.attach_policy(policyName=policy, target=target)
    except ClientError as exc:
        if _code(exc) != "ResourceAlreadyExistsException":
            raise
        LOG.info(json.dumps({"event": "already_attached", "policy": policy, "target": target}))


def detach(client: Any, policy: str, target: str) -> None:
    try:
        client.detach_policy(policyName=policy, target=target)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        LOG.info(json.dumps({"event": "already_gone", "policy": policy, "target": target}))


def apply(event: dict[str, Any], client: Any) -> str:
    """Carry out the request; return the physical resource ID."""
    request = event["RequestType"]
    if request == "Delete":
        pair = parse_physical_id(event.get("PhysicalResourceId"))
        if pair is not None:
            detach(client, *pair)
        return str(event.get("PhysicalResourceId") or "none")
    props = event["ResourceProperties"]
    policy, target = str(props["PolicyName"]), str(props["ThingGroupArn"])
    attach(client, policy, target)
    return physical_id(policy, target)


def respond(event: dict[str, Any], status: str, physical: str, reason: str = "") -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000] or "see the function's log group",
            "PhysicalResourceId": physical,
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
            "NoEcho": False,
            "Data": {},
        }
    ).encode()
    url = str(event["ResponseURL"])
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ValueError("ResponseURL must be https")
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - scheme checked above
        resp.read()


def handler(event: dict[str, Any], context: Any) -> None:
    physical = str(event.get("PhysicalResourceId") or event.get("LogicalResourceId") or "none")
    try:
        physical = apply(event, iot())
        status, reason = "SUCCESS", ""
    except Exception as exc:  # answer CloudFormation whatever happened
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
    LOG.info(json.dumps({"event": event.get("RequestType"), "status": status, "physical": physical, "reason": reason}))
    respond(event, status, physical, reason)
