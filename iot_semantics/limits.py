"""Documented AWS IoT limits (docs/emulator.md and the shared fact sheet cite the source of each value)."""

from __future__ import annotations

import json
import re
from typing import Any

#: ``TemplateBody`` maximum length (CloudFormation schema and CreateProvisioningTemplate API).
TEMPLATE_BODY_MAX_CHARS = 10240
#: IoT policy document limit: characters excluding whitespace (CreatePolicy API).
POLICY_DOCUMENT_MAX_NON_WHITESPACE = 2048
#: Thing names: 1-128 characters.
THING_NAME_MAX = 128
#: Searchable attributes per thing type.
SEARCHABLE_ATTRIBUTES_MAX = 3
#: Attributes of a thing that has a thing type.
THING_ATTRIBUTES_WITH_TYPE_MAX = 50
#: Attribute value length.
ATTRIBUTE_VALUE_MAX = 800
#: A thing can be in at most 10 thing groups.
THING_GROUPS_PER_THING_MAX = 10
#: Thing group hierarchy depth.
THING_GROUP_DEPTH_MAX = 7
#: MQTT topic: at most 256 bytes and 7 forward slashes.
TOPIC_MAX_BYTES = 256
TOPIC_MAX_SLASHES = 7
#: Pre-provisioning hook: the Lambda must answer within 5 seconds.
PRE_PROVISIONING_HOOK_BUDGET_SECONDS = 5.0
#: The only documented pre-provisioning hook payload version.
PRE_PROVISIONING_HOOK_PAYLOAD_VERSION = "2020-04-01"
#: CSR length accepted by CreateCertificateFromCsr.
CSR_MAX_CHARS = 4096


#: ``str.isspace`` characters: ``\\s`` of a str pattern matches exactly the characters it accepts.
_WHITESPACE = re.compile(r"\s")


def non_whitespace_length(document: str | dict[str, Any]) -> int:
    """Length of a policy document as the IoT policy quota counts it (whitespace excluded)."""
    text = document if isinstance(document, str) else json.dumps(document)
    return len(text) - len(_WHITESPACE.findall(text))


def serialize_template_body(body: dict[str, Any]) -> str:
    """The compact JSON form used for ``TemplateBody`` (deterministic key order)."""
    return json.dumps(body, separators=(",", ":"), sort_keys=False)


# AWS IoT Core message broker quotas (AWS IoT Developer Guide "MQTT" and the AWS IoT Core
# quotas page; values the awsiotsdk MQTT 5 client also enforces with AWS_IOT_CORE_DEFAULTS).

#: Largest PUBLISH payload: 128 KB.
MQTT_PAYLOAD_MAX_BYTES = 128 * 1024
#: MQTT 5 CONNACK Maximum Packet Size ("Cannot exceed 128 KB").
MQTT_MAXIMUM_PACKET_SIZE = 128 * 1024
#: Client IDs: at most 128 bytes of UTF-8.
CLIENT_ID_MAX_BYTES = 128
#: Subscriptions one connection may hold.
SUBSCRIPTIONS_PER_CONNECTION_MAX = 50
#: Topic filters in one SUBSCRIBE packet.
SUBSCRIPTIONS_PER_SUBSCRIBE_MAX = 8
#: "a client can request a keep-alive interval between 30 - 1200 seconds".
KEEP_ALIVE_MIN_SECONDS = 30
KEEP_ALIVE_MAX_SECONDS = 1200
#: "AWS IoT Core has a default limit of 8 topic aliases" (MQTT 5 CONNACK Topic Alias Maximum).
TOPIC_ALIAS_MAX = 8
#: AWS IoT Core supports QoS 0 and 1 only (MQTT 5 CONNACK Maximum QoS).
MQTT_MAX_QOS = 1
#: Persistent-session expiry: default account quota one hour (can be raised to seven days).
SESSION_EXPIRY_MAX_SECONDS = 3600
#: Shared subscription names: at most 128 UTF-8 characters.
SHARE_NAME_MAX_CHARS = 128

# Device Shadow service (device-shadow-error-messages, diagnosing-shadows).

#: ``desired`` plus ``reported`` of one shadow (metadata excluded).
SHADOW_DOCUMENT_MAX_BYTES = 8 * 1024
#: "JSON contains too many levels of nesting; maximum is 6".
SHADOW_DEPTH_MAX = 6
#: "A client token that is longer than 64 bytes will cause this response" (400 Invalid clientToken).
SHADOW_CLIENT_TOKEN_MAX_BYTES = 64
#: Named shadow names: 1-64 characters of ``[$a-zA-Z0-9:_-]``.
SHADOW_NAME_MAX = 64
#: More in-flight shadow requests than this on one connection are answered 429.
SHADOW_IN_FLIGHT_MAX = 10
#: A deleted shadow keeps its version for 48 hours; a shadow re-created within that continues it.
SHADOW_VERSION_RETENTION_SECONDS = 48 * 3600
