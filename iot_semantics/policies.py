"""The IoT policy documents of the two roles every fleet has: its devices and its claim certificate.

**Device policy.** Each device may touch only topics under its own thing name. Every resource
ends either in an exact topic or in ``/*`` directly below a level that is the
``${iot:Connection.Thing.ThingName}`` policy variable, so the trailing ``*`` (which spans levels in
IoT policies) cannot reach another device: ``dt/dev-1/*`` does not match ``dt/dev-10/x``.

**Claim policy.** CreateCertificateFromCsr and one template's RegisterThing, nothing else. Only
the exact JSON request, accepted and rejected topics are granted (no ``create/*`` or
``provision/*``): a stolen claim certificate can request certificates for its own CSRs and call
RegisterThing on this template, which the pre-provisioning hook still has to allow.

Both are pure data over an ARN prefix: the stacks render them with CloudFormation's tokens, the
size checks (config and constructs) with ``arns.WORST_CASE_IOT_ARN_PREFIX``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iot_semantics import topics, variables
from iot_semantics.arns import iot_arn
from iot_semantics.variables import THING_NAME_VAR

#: How a config's topic namespace names the device's own level.
THING_NAME_PLACEHOLDER = "{thing_name}"


@dataclass(frozen=True)
class DeviceTopicAccess:
    """What one fleet's devices may use; namespaces hold ``{thing_name}`` as one whole level."""

    thing_type_name: str
    publish_namespaces: tuple[str, ...] = ()
    subscribe_namespaces: tuple[str, ...] = ()
    shadow: bool = True
    jobs: bool = True
    defender_metrics_format: topics.PayloadFormat | None = None
    tunnel_notify: bool = False


def _ns(namespace: str) -> str:
    if namespace.split("/").count(THING_NAME_PLACEHOLDER) != 1:
        raise ValueError(f"namespace {namespace!r} must hold {THING_NAME_PLACEHOLDER} as one whole level")
    return namespace.replace(THING_NAME_PLACEHOLDER, THING_NAME_VAR)


def device_policy_document(access: DeviceTopicAccess, arn_prefix: str) -> dict[str, Any]:
    me = THING_NAME_VAR
    # Every '/*' below sits directly under the device's own thing-name level (see module docstring).
    publish = [f"{_ns(ns)}/*" for ns in access.publish_namespaces]
    subscribe = [f"{_ns(ns)}/*" for ns in access.subscribe_namespaces]
    receive = list(subscribe)
    reserved: list[str] = []  # topic filters of the switched-on AWS services, for Subscribe
    if access.shadow:
        publish.append(f"{topics.shadow_prefix(me)}/*")  # get/update/delete of own classic and named shadows
        reserved.append(f"{topics.shadow_prefix(me)}/*")
    if access.jobs:
        publish.append(f"{topics.jobs_prefix(me)}/*")  # get/start-next/<jobId>/update of own job executions
        reserved.append(f"{topics.jobs_prefix(me)}/*")
    if access.defender_metrics_format:
        metrics = topics.defender_metrics_topic(me, access.defender_metrics_format)
        publish.append(metrics)
        reserved.append(f"{metrics}/*")  # its /accepted and /rejected
    if access.tunnel_notify:
        reserved.append(topics.tunnels_notify_topic(me))
    if reserved:
        # '*': Receive is checked on delivery to a subscription, which Subscribe above already limits
        # to the switched-on services; one resource for all of this thing's reserved topics keeps the
        # document under the 2048-character quota (AWS's audit treats this pattern as compliant).
        receive.append(f"{topics.thing_prefix(me)}/*")
    subscribe += reserved

    def arns(kind: str, names: list[str]) -> list[str]:
        return [iot_arn(arn_prefix, f"{kind}/{t}") for t in names]

    statements: list[dict[str, Any]] = [
        {
            "Sid": "ConnectAsOwnThing",
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": iot_arn(arn_prefix, f"client/{me}"),
            "Condition": {
                "Bool": {variables.IS_ATTACHED: "true"},
                "StringEquals": {variables.THING_TYPE_NAME: access.thing_type_name},
            },
        }
    ]
    for sid, action, kind, names in (
        ("PublishOwnTopics", "iot:Publish", "topic", publish),
        ("SubscribeOwnTopics", "iot:Subscribe", "topicfilter", subscribe),
        ("ReceiveOwnTopics", "iot:Receive", "topic", receive),
    ):
        if names:
            statements.append({"Sid": sid, "Effect": "Allow", "Action": action, "Resource": arns(kind, names)})
    return {"Version": "2012-10-17", "Statement": statements}


def claim_policy_document(*, template_name: str, client_id_prefix: str, arn_prefix: str) -> dict[str, Any]:
    requests = [
        topics.create_certificate_from_csr_topic("json"),
        topics.register_thing_topic(template_name, "json"),
    ]
    responses = [f(t) for t in requests for f in (topics.accepted, topics.rejected)]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectWithClaimClientId",
                "Effect": "Allow",
                "Action": "iot:Connect",
                # '*': each factory connection picks a unique suffix after the claim prefix; the
                # prefix holds a character no thing name can, so claims cannot take a device's ID.
                "Resource": iot_arn(arn_prefix, f"client/{client_id_prefix}*"),
            },
            {
                "Sid": "RequestCertificateAndRegisterThing",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [iot_arn(arn_prefix, f"topic/{t}") for t in requests],
            },
            {
                "Sid": "SubscribeToResponses",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [iot_arn(arn_prefix, f"topicfilter/{t}") for t in responses],
            },
            {
                "Sid": "ReceiveResponses",
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": [iot_arn(arn_prefix, f"topic/{t}") for t in responses],
            },
        ],
    }
