"""Reserved MQTT topics of AWS IoT and the policy variables that bind them to one thing.

Topic strings follow the AWS IoT reserved-topics reference exactly; ``<fmt>`` is ``json`` or
``cbor``.  Functions take the thing name (or a policy variable such as ``THING_NAME_VAR``) so the
same builders serve policies, the double and the factory CLI.
"""

from __future__ import annotations

from typing import Literal

PayloadFormat = Literal["json", "cbor"]

#: Policy variable for the name of the thing whose certificate made the connection.
THING_NAME_VAR = "${iot:Connection.Thing.ThingName}"
#: Policy variable: true when the connecting certificate is attached to the thing.
IS_ATTACHED_KEY = "iot:Connection.Thing.IsAttached"
#: Policy condition key: the thing type of the connecting thing.
THING_TYPE_KEY = "iot:Connection.Thing.ThingTypeName"

#: Characters with a meaning in MQTT topic filters or IoT policy resources.
MQTT_WILDCARDS = ("+", "#")
POLICY_WILDCARDS = ("*", "?")


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
