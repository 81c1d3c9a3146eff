"""Reserved MQTT topics of AWS IoT: building them, parsing them, and MQTT topic-filter matching.

Topic strings follow the AWS IoT reserved-topics reference exactly; ``<fmt>`` is ``json`` or
``cbor``. Builders take the thing name (or a policy variable such as
``variables.THING_NAME_VAR``) so the same builders serve policies, the double and the factory CLI;
``parse_reserved`` turns a topic (or a policy's topic pattern) back into what it is and for which
thing or template, so nobody re-writes these topics as regular expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal, get_args

from iot_semantics.names import TEMPLATE_NAME

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
