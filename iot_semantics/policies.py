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

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    #: Registry-based authorization: attribute name -> the values one of which it must hold to connect.
    required_attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Greengrass client devices: the fixed start of the fleet's thing names (``greengrass:Discover``
    #: is an HTTPS call, where thing policy variables are not set, so the fleet's names scope it).
    greengrass_discover_prefix: str | None = None


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
    reserved: list[str] = []  # topic filters of the switched-on AWS services, for Subscribe and Receive
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
        # Exactly this thing's notify topic: it carries the destination access token of its tunnels.
        reserved.append(topics.tunnels_notify_topic(me))
    if reserved:
        # '*' below this thing's own level only: Receive is checked on delivery to a subscription,
        # which Subscribe above already limits to the switched-on services; one resource for all of
        # this thing's reserved topics keeps the document under the 2048-character quota (AWS's
        # audit treats this pattern as compliant). No other thing's topics match it.
        receive.append(f"{topics.thing_prefix(me)}/*")
    subscribe += reserved

    def arns(kind: str, names: list[str]) -> list[str]:
        return [iot_arn(arn_prefix, f"{kind}/{t}") for t in names]

    equals: dict[str, Any] = {variables.THING_TYPE_NAME: access.thing_type_name}
    for name, values in sorted(access.required_attributes.items()):
        # The registry's value, set by the template from trusted parameters only (config checks).
        equals[variables.attribute(name)] = values[0] if len(values) == 1 else list(values)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ConnectAsOwnThing",
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": iot_arn(arn_prefix, f"client/{me}"),
            "Condition": {"Bool": {variables.IS_ATTACHED: "true"}, "StringEquals": equals},
        }
    ]
    for sid, action, kind, names in (
        ("PublishOwnTopics", "iot:Publish", "topic", publish),
        ("SubscribeOwnTopics", "iot:Subscribe", "topicfilter", subscribe),
        ("ReceiveOwnTopics", "iot:Receive", "topic", receive),
    ):
        if names:
            statements.append({"Sid": sid, "Effect": "Allow", "Action": action, "Resource": arns(kind, names)})
    if access.greengrass_discover_prefix is not None:
        statements.append(
            {
                "Sid": "DiscoverGreengrassCores",
                "Effect": "Allow",
                "Action": "greengrass:Discover",
                # '*' after the fleet's fixed name start: Discover is HTTPS, where thing policy
                # variables are not set; it returns only connectivity data of associated cores.
                "Resource": iot_arn(arn_prefix, f"thing/{access.greengrass_discover_prefix}*"),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


# Greengrass V2 core devices ------------------------------------------------------------------------

#: The client-ID separator of a core's extra connections (``<thing>#2``, ``<thing>#3``, ...); thing
#: names cannot hold '#', so ``<thing>#*`` never matches another thing's name or client IDs.
CORE_CLIENT_ID_SEPARATOR = "#"
#: The data-plane actions every core needs (fact sheet 7.3; AWS documents them on '*').
GREENGRASS_CORE_ACTIONS = (
    "greengrass:GetComponentVersionArtifact",
    "greengrass:ResolveComponentCandidates",
    "greengrass:GetDeploymentConfiguration",
)
#: A core serving client devices (fact sheet 7.3): on '*' ...
CLIENT_DEVICE_AUTH_ACTIONS = ("greengrass:PutCertificateAuthorities", "greengrass:VerifyClientDeviceIdentity")
#: ... and on the core's own thing.
CONNECTIVITY_ACTIONS = ("greengrass:GetConnectivityInfo", "greengrass:UpdateConnectivityInfo")


@dataclass(frozen=True)
class CoreAccess:
    """What one Greengrass core may use; built per core with its own thing name."""

    role_alias_name: str
    publish_namespaces: tuple[str, ...] = ()
    subscribe_namespaces: tuple[str, ...] = ()
    shadow: bool = True
    jobs: bool = True
    defender_metrics_format: topics.PayloadFormat | None = None
    tunnel_notify: bool = False
    #: Fixed starts of the thing names of the client devices the core serves (client device auth).
    client_device_prefixes: tuple[str, ...] = ()


def core_policy_document(access: CoreAccess, thing: str, arn_prefix: str) -> dict[str, Any]:
    """The IoT policy of the one core named ``thing`` (AWS's minimal core policy, fact sheet 7.3).

    Greengrass does not support thing policy variables for core devices, so the document names the
    core itself: each core gets its own policy from the provisioning template. Every resource is the
    exact thing name followed by '/', '#' or nothing; no thing name holds those characters, so
    ``gw-1`` reaches nothing of ``gw-10``. Statements carry no Sid: the document is repeated per core
    and must fit AWS IoT's 2048-character quota with the longest thing name.
    """
    ns = [n.replace(THING_NAME_PLACEHOLDER, thing) for n in access.publish_namespaces]
    sub_ns = [f"{n.replace(THING_NAME_PLACEHOLDER, thing)}/*" for n in access.subscribe_namespaces]
    own = topics.thing_prefix(thing)
    # 'greengrass*': the nucleus's health topics greengrass/health/json and greengrassv2/health/json.
    publish = [f"{own}/greengrass*/health/json", *(f"{n}/*" for n in ns)]
    subscribe = list(sub_ns)
    if access.shadow:
        publish.append(f"{topics.shadow_prefix(thing)}/*")
        subscribe.append(f"{topics.shadow_prefix(thing)}/*")
    if access.jobs:
        publish.append(f"{topics.jobs_prefix(thing)}/*")
        subscribe.append(f"{topics.jobs_prefix(thing)}/*")
    if access.defender_metrics_format:
        metrics = topics.defender_metrics_topic(thing, access.defender_metrics_format)
        publish.append(metrics)
        subscribe.append(f"{metrics}/*")
    if access.tunnel_notify:
        subscribe.append(topics.tunnels_notify_topic(thing))
    # '*' below this core's own '$aws/things/<thing>/' level: delivery needs a subscription, which
    # Subscribe limits; no other thing's topics match it.
    receive = [f"{own}/*", *sub_ns]

    def arns(kind: str, names: list[str]) -> list[str]:
        return [iot_arn(arn_prefix, f"{kind}/{t}") for t in names]

    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": "iot:Connect",
            # '*' after '#': the nucleus opens <thing>#2, <thing>#3, ... past 50 subscriptions.
            "Resource": arns("client", [thing, f"{thing}{CORE_CLIENT_ID_SEPARATOR}*"]),
        },
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": arns("topic", publish)},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arns("topicfilter", subscribe)},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": arns("topic", receive)},
        {
            "Effect": "Allow",
            "Action": "iot:AssumeRoleWithCertificate",
            "Resource": iot_arn(arn_prefix, f"rolealias/{access.role_alias_name}"),
        },
        {
            "Effect": "Allow",
            "Action": [
                *GREENGRASS_CORE_ACTIONS,
                *(CLIENT_DEVICE_AUTH_ACTIONS if access.client_device_prefixes else ()),
            ],
            # '*': AWS documents these data-plane actions on '*' (component and deployment ARNs are
            # chosen by deployments, not by the core; client device auth has no resource type).
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "greengrass:ListThingGroupsForCoreDevice",
                *(CONNECTIVITY_ACTIONS if access.client_device_prefixes else ()),
            ],
            "Resource": iot_arn(arn_prefix, f"thing/{thing}"),
        },
    ]
    if access.client_device_prefixes:
        statements.append(
            {
                "Effect": "Allow",
                "Action": "greengrass:VerifyClientDeviceIoTCertificateAssociation",
                "Resource": arns("thing", [f"{p}*" for p in access.client_device_prefixes]),
            }
        )
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
