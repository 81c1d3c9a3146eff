"""The MQTT contract of AWS IoT Core the edge enforces, as one configurable value.

Every field is either a documented quota (``iot_semantics.limits``) or, where AWS documents no
value, the choice the double makes, marked UNVERIFIED here and in docs/emulator.md. Tests and
rehearsals can change any of them (``Double(contract=...)``, ``--mqtt NAME=VALUE``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from iot_semantics import limits

#: MQTT 5 reason codes the edge sends (MQTT 5.0 section 2.4; AWS lists each it uses).
SUCCESS = 0x00
UNSPECIFIED_ERROR = 0x80
MALFORMED_PACKET = 0x81
PROTOCOL_ERROR = 0x82
CLIENT_IDENTIFIER_NOT_VALID = 0x85
NOT_AUTHORIZED = 0x87
TOPIC_FILTER_INVALID = 0x8F
TOPIC_NAME_INVALID = 0x90
TOPIC_ALIAS_INVALID = 0x94
PACKET_TOO_LARGE = 0x95
QUOTA_EXCEEDED = 0x97
QOS_NOT_SUPPORTED = 0x9B
SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
#: MQTT 3.1.1 CONNACK return codes and the SUBACK failure code.
V3_IDENTIFIER_REJECTED = 0x02
V3_NOT_AUTHORIZED = 0x05
V3_SUBACK_FAILURE = 0x80


@dataclass(frozen=True)
class MqttContract:
    payload_max_bytes: int = limits.MQTT_PAYLOAD_MAX_BYTES
    maximum_packet_size: int = limits.MQTT_MAXIMUM_PACKET_SIZE
    client_id_max_bytes: int = limits.CLIENT_ID_MAX_BYTES
    subscriptions_per_connection: int = limits.SUBSCRIPTIONS_PER_CONNECTION_MAX
    subscriptions_per_subscribe: int = limits.SUBSCRIPTIONS_PER_SUBSCRIBE_MAX
    keep_alive_min: int = limits.KEEP_ALIVE_MIN_SECONDS
    keep_alive_max: int = limits.KEEP_ALIVE_MAX_SECONDS
    topic_alias_maximum: int = limits.TOPIC_ALIAS_MAX
    session_expiry_max: int = limits.SESSION_EXPIRY_MAX_SECONDS
    #: UNVERIFIED: AWS states no CONNACK Receive Maximum; its quota of 100 unacknowledged inbound
    #: QoS 1 messages per connection suggests this value.
    receive_maximum: int = 100
    #: UNVERIFIED: a keep-alive of 0 (none) is served as this many seconds.
    keep_alive_when_zero: int = limits.KEEP_ALIVE_MAX_SECONDS
    #: UNVERIFIED: the MQTT 5 reason code of a CONNECT refused for its Will (0x87 or 0x90).
    will_refused_reason: int = NOT_AUTHORIZED
    #: UNVERIFIED: the MQTT 3.1.1 CONNACK code of an unauthorized CONNECT (AWS's older text says 5).
    v3_not_authorized: int = V3_NOT_AUTHORIZED
    #: UNVERIFIED: the MQTT 5 DISCONNECT reason when a payload is over the quota (AWS disconnects;
    #: the code is not documented, 0x97 is in its list).
    payload_too_large_reason: int = QUOTA_EXCEEDED
    #: The MQTT 5 reason code of a refused PUBLISH with a topic AWS IoT does not accept.
    topic_invalid_reason: int = TOPIC_NAME_INVALID

    def with_values(self, **values: str) -> MqttContract:
        """A copy with fields set from text (``--mqtt NAME=VALUE``); unknown names raise ValueError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown MQTT contract setting {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return dataclasses.replace(self, **{k: int(v, 0) for k, v in values.items()})

    def keep_alive(self, requested: int) -> int:
        """The keep-alive the broker holds the client to (AWS: "the supported value closest to the request")."""
        if requested == 0:
            return self.keep_alive_when_zero
        return max(self.keep_alive_min, min(self.keep_alive_max, requested))


DEFAULT = MqttContract()
