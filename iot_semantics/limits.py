"""Documented AWS IoT limits (see docs/aws-facts.md for the source of each value)."""

from __future__ import annotations

import json
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


def non_whitespace_length(document: str | dict[str, Any]) -> int:
    """Length of a policy document as the IoT policy quota counts it (whitespace excluded)."""
    text = document if isinstance(document, str) else json.dumps(document)
    return sum(1 for ch in text if not ch.isspace())


def serialize_template_body(body: dict[str, Any]) -> str:
    """The compact JSON form used for ``TemplateBody`` (deterministic key order)."""
    return json.dumps(body, separators=(",", ":"), sort_keys=False)
