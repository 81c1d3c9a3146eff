"""Reserved MQTT topics of AWS IoT: building them, parsing them, and MQTT topic-filter matching.

Topic strings follow the AWS IoT reserved-topics reference exactly; ``<fmt>`` is ``json`` or
``cbor``. Builders take the thing name (or a policy variable such as
``variables.THING_NAME_VAR``) so the same builders serve policies, the double and the factory CLI;
``parse_reserved`` turns a topic (or a policy's topic pattern) back into what it is and for which
thing or template, so nobody re-writes these topics as regular expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal, get_args

from iot_semantics import limits
from iot_semantics.names import TEMPLATE_NAME, THING_NAME

PayloadFormat = Literal["json", "cbor"]
PAYLOAD_FORMATS: tuple[PayloadFormat, ...] = get_args(PayloadFormat)
Response = Literal["accepted", "rejected"]
RESPONSES: tuple[Response, ...] = get_args(Response)

#: MQTT topic-filter wildcards: one level, and every level below.
SINGLE_LEVEL, MULTI_LEVEL = "+", "#"
MQTT_WILDCARDS = (SINGLE_LEVEL, MULTI_LEVEL)
#: IoT policy resource wildcards (in a policy, ``+`` and ``#`` are literal characters).
POLICY_WILDCARDS = ("*", "?")
RESERVED_PREFIX = "$aws"


def thing_prefix(thing: str) -> str:
    return f"$aws/things/{thing}"


def shadow_prefix(thing: str) -> str:
    """Prefix of the classic and named shadows of ``thing`` (``.../shadow/name/<n>/...``)."""
    return f"{thing_prefix(thing)}/shadow"


def named_shadow_prefix(thing: str, shadow: str) -> str:
    return f"{shadow_prefix(thing)}/name/{shadow}"


def shadow_topic(thing: str, shadow: str | None, operation: str, response: str | None = None) -> str:
    """``$aws/things/<thing>/shadow[/name/<shadow>]/<operation>[/<response>]``."""
    prefix = shadow_prefix(thing) if shadow is None else named_shadow_prefix(thing, shadow)
    return f"{prefix}/{operation}" + (f"/{response}" if response else "")


def jobs_prefix(thing: str) -> str:
    return f"{thing_prefix(thing)}/jobs"


def defender_metrics_topic(thing: str, fmt: PayloadFormat = "json") -> str:
    return f"{thing_prefix(thing)}/defender/metrics/{fmt}"


def tunnels_notify_topic(thing: str) -> str:
    return f"{thing_prefix(thing)}/tunnels/notify"


def create_certificate_from_csr_topic(fmt: PayloadFormat = "json") -> str:
    return f"$aws/certificates/create-from-csr/{fmt}"


def create_keys_and_certificate_topic(fmt: PayloadFormat = "json") -> str:
    return f"$aws/certificates/create/{fmt}"


def register_thing_topic(template_name: str, fmt: PayloadFormat = "json") -> str:
    return f"$aws/provisioning-templates/{template_name}/provision/{fmt}"


def accepted(topic: str) -> str:
    return f"{topic}/accepted"


def rejected(topic: str) -> str:
    return f"{topic}/rejected"


# Parsing ----------------------------------------------------------------------------------------


class ReservedApi(Enum):
    """What a reserved ``$aws/...`` topic belongs to."""

    CREATE_CERTIFICATE_FROM_CSR = "CreateCertificateFromCsr"
    CREATE_KEYS_AND_CERTIFICATE = "CreateKeysAndCertificate"
    REGISTER_THING = "RegisterThing"
    SHADOW = "Shadow"
    JOBS = "Jobs"
    DEFENDER_METRICS = "DefenderMetrics"
    TUNNELS_NOTIFY = "TunnelsNotify"
    GREENGRASS = "Greengrass"
    #: Another topic under ``$aws/things/<thing>/``.
    THING = "Thing"
    #: Any other ``$aws/...`` topic (rules, events, ...).
    OTHER = "Other"


#: The fleet provisioning MQTT API (fact sheet sections 1 and 2).
PROVISIONING_APIS = (
    ReservedApi.CREATE_CERTIFICATE_FROM_CSR,
    ReservedApi.CREATE_KEYS_AND_CERTIFICATE,
    ReservedApi.REGISTER_THING,
)
_THING_APIS = {
    "shadow": ReservedApi.SHADOW,
    "jobs": ReservedApi.JOBS,
    "defender": ReservedApi.DEFENDER_METRICS,
    "tunnels": ReservedApi.TUNNELS_NOTIFY,
    "greengrass": ReservedApi.GREENGRASS,
    "greengrassv2": ReservedApi.GREENGRASS,
}


@dataclass(frozen=True)
class ReservedTopic:
    """A reserved topic as written: levels are kept as text, policy wildcards included.

    ``exact`` is True when the topic is one AWS IoT serves to the letter: a provisioning API
    request (``response`` None) or response topic with a valid template name, a payload format and
    nothing after it.
    """

    api: ReservedApi
    thing: str | None = None
    template: str | None = None
    payload_format: str | None = None
    response: str | None = None
    exact: bool = False

    @property
    def is_provisioning_request(self) -> bool:
        return self.exact and self.api in PROVISIONING_APIS and self.response is None

    @property
    def is_provisioning_response(self) -> bool:
        return self.exact and self.api in PROVISIONING_APIS and self.response is not None


def _api_tail(tail: list[str]) -> tuple[str | None, str | None, bool]:
    """(payload format, response, exact) of ``<fmt>[/accepted|/rejected]`` after an API's fixed levels."""
    fmt = tail[0] if tail else None
    response = tail[1] if len(tail) > 1 else None
    exact = fmt in PAYLOAD_FORMATS and len(tail) <= 2 and (response is None or response in RESPONSES)
    return fmt, response, exact


def parse_reserved(topic: str) -> ReservedTopic | None:
    """What the reserved topic (or topic pattern) ``topic`` is, or None when it is not ``$aws/...``."""
    levels = topic.split("/")
    if levels[0] != RESERVED_PREFIX or len(levels) < 2:
        return None
    service, rest = levels[1], levels[2:]
    if service == "certificates" and rest[:1] in (["create-from-csr"], ["create"]):
        api = (
            ReservedApi.CREATE_CERTIFICATE_FROM_CSR
            if rest[0] == "create-from-csr"
            else ReservedApi.CREATE_KEYS_AND_CERTIFICATE
        )
        fmt, response, exact = _api_tail(rest[1:])
        return ReservedTopic(api, payload_format=fmt, response=response, exact=exact)
    if service == "provisioning-templates" and rest:
        # Every topic under a template is its RegisterThing API (the only one documented there).
        template, fmt, response, exact = rest[0], None, None, False
        if rest[1:2] == ["provision"]:
            fmt, response, exact = _api_tail(rest[2:])
            exact = exact and TEMPLATE_NAME.fullmatch(template) is not None
        return ReservedTopic(
            ReservedApi.REGISTER_THING, template=template, payload_format=fmt, response=response, exact=exact
        )
    if service == "things" and rest:
        api = _THING_APIS.get(rest[1], ReservedApi.THING) if len(rest) > 1 else ReservedApi.THING
        return ReservedTopic(api, thing=rest[0])
    return ReservedTopic(ReservedApi.OTHER)


def provisioning_request(topic: str) -> ReservedTopic | None:
    """The provisioning API request published to ``topic``, or None when ``topic`` is not one."""
    parsed = parse_reserved(topic)
    return parsed if parsed is not None and parsed.is_provisioning_request else None


# MQTT topic filters -----------------------------------------------------------------------------


def filter_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic-filter matching (``+`` one level, ``#`` the rest, MQTT 3.1.1 4.7 and 5.0 4.7).

    Topics starting with ``$`` are not matched by a filter whose first level is a wildcard.
    """
    f_levels, t_levels = topic_filter.split("/"), topic.split("/")
    if topic.startswith("$") and f_levels[0] in MQTT_WILDCARDS:
        return False
    for i, level in enumerate(f_levels):
        if level == MULTI_LEVEL:
            return True
        if i >= len(t_levels) or (level != SINGLE_LEVEL and level != t_levels[i]):
            return False
    return len(f_levels) == len(t_levels)


# Device shadow topics ----------------------------------------------------------------------------

#: Named shadow names (iot-data ``ShadowName``): 1-64 characters.
SHADOW_NAME = re.compile(r"^[$a-zA-Z0-9:_-]{1,64}$")
ShadowOperation = Literal["get", "update", "delete"]
SHADOW_OPERATIONS: tuple[ShadowOperation, ...] = get_args(ShadowOperation)
#: What the shadow service publishes under each operation (``update`` also has delta and documents).
SHADOW_RESPONSES = {"get": RESPONSES, "delete": RESPONSES, "update": (*RESPONSES, "delta", "documents")}


@dataclass(frozen=True)
class ShadowTopic:
    """A device shadow topic: classic (``shadow`` None) or named; ``response`` None for a request."""

    thing: str
    shadow: str | None
    operation: ShadowOperation
    response: str | None = None

    @property
    def is_request(self) -> bool:
        return self.response is None

    def reply(self, response: str) -> str:
        return shadow_topic(self.thing, self.shadow, self.operation, response)


def parse_shadow(topic: str) -> ShadowTopic | None:
    """The shadow topic ``topic`` is (request or service response), or None (wildcards are not topics)."""
    levels = topic.split("/")
    if len(levels) < 5 or levels[0] != RESERVED_PREFIX or levels[1] != "things" or levels[3] != "shadow":
        return None
    thing, rest = levels[2], levels[4:]
    if not THING_NAME.fullmatch(thing) or len(thing) > limits.THING_NAME_MAX:
        return None
    shadow: str | None = None
    if rest[0] == "name":
        if len(rest) < 3 or not SHADOW_NAME.fullmatch(rest[1]):
            return None
        shadow, rest = rest[1], rest[2:]
    operation = rest[0]
    if operation not in SHADOW_OPERATIONS or len(rest) > 2:
        return None
    response = rest[1] if len(rest) == 2 else None
    if response is not None and response not in SHADOW_RESPONSES[operation]:
        return None
    return ShadowTopic(thing, shadow, operation, response)


# Filters and names the broker checks ------------------------------------------------------------

SHARED_PREFIX = "$share"


def shared_subscription(topic_filter: str) -> tuple[str, str] | None:
    """(share name, topic filter) of ``$share/<name>/<filter>``, else None."""
    if not topic_filter.startswith(SHARED_PREFIX + "/"):
        return None
    _, _, rest = topic_filter.partition("/")
    name, sep, inner = rest.partition("/")
    return (name, inner) if sep else (name, "")


def has_wildcard(topic_filter: str) -> bool:
    return any(level in MQTT_WILDCARDS for level in topic_filter.split("/"))


def is_exact_filter(topic_filter: str) -> bool:
    """A filter that names one topic: no wildcard, not shared. AWS IoT delivers retained messages on
    SUBSCRIBE only to these."""
    return not has_wildcard(topic_filter) and shared_subscription(topic_filter) is None


def _counted(topic: str) -> str:
    """The part of a topic the length and slash quotas count (Basic Ingest's ``$aws/rules/<rule>/`` is not)."""
    levels = topic.split("/")
    if levels[:2] == [RESERVED_PREFIX, "rules"] and len(levels) > 3:
        return "/".join(levels[3:])
    return topic


def topic_name_problem(topic: str) -> str | None:
    """Why AWS IoT refuses ``topic`` as a PUBLISH topic name, or None.

    Length is at most 256 bytes and slashes at most 7; reserved ``$aws`` topics are not held to the
    slash quota (AWS's own named-shadow topics have eight)."""
    if not topic:
        return "the topic is empty"
    if any(ch in topic for ch in (SINGLE_LEVEL, MULTI_LEVEL, "\x00")):
        return "a topic name holds no wildcard or NUL character"
    counted = _counted(topic)
    if len(counted.encode()) > limits.TOPIC_MAX_BYTES:
        return f"the topic is longer than {limits.TOPIC_MAX_BYTES} bytes"
    if not topic.startswith(RESERVED_PREFIX + "/") and counted.count("/") > limits.TOPIC_MAX_SLASHES:
        return f"the topic has more than {limits.TOPIC_MAX_SLASHES} forward slashes"
    return None


def topic_filter_problem(topic_filter: str) -> str | None:
    """Why AWS IoT refuses ``topic_filter`` in a SUBSCRIBE, or None (the ``$share/<name>/`` part is
    not counted; wildcards follow MQTT: ``+`` a whole level, ``#`` the last level)."""
    shared = shared_subscription(topic_filter)
    inner = topic_filter
    if shared is not None:
        name, inner = shared
        if not name or len(name) > limits.SHARE_NAME_MAX_CHARS or any(c in name for c in "+#"):
            return "the shared subscription name is empty, too long or holds a wildcard"
    if not inner:
        return "the topic filter is empty"
    levels = inner.split("/")
    for i, level in enumerate(levels):
        if MULTI_LEVEL in level and (level != MULTI_LEVEL or i != len(levels) - 1):
            return "'#' must be a whole level, and the last"
        if SINGLE_LEVEL in level and level != SINGLE_LEVEL:
            return "'+' must be a whole level"
    counted = _counted(inner)
    if len(counted.encode()) > limits.TOPIC_MAX_BYTES:
        return f"the topic filter is longer than {limits.TOPIC_MAX_BYTES} bytes"
    if not inner.startswith(RESERVED_PREFIX + "/") and counted.count("/") > limits.TOPIC_MAX_SLASHES:
        return f"the topic filter has more than {limits.TOPIC_MAX_SLASHES} forward slashes"
    return None
