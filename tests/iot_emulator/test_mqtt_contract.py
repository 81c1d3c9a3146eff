"""AWS IoT Core's MQTT contract at the double's edge, packet by packet (docs/emulator.md cites each rule).

A probe certificate's policy lets client ``probe-<x>`` publish under ``probe/<client id>/`` (retained
only under ``probe/<client id>/retained/``), subscribe to and receive ``probe/...``.
"""

from __future__ import annotations

import shutil
import struct
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from iot_emulator import mqtt_codec as mc
from iot_emulator.double import Double
from tests.iot_emulator.helpers import (
    CSR_TOPIC,
    Identity,
    RawClient,
    connect_packet,
    device_with_policy,
    subscribe_packet,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]

PROBE_STATEMENTS: list[dict[str, Any]] = [
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": "client/probe-*"},
    {"Effect": "Allow", "Action": "iot:Publish", "Resource": "topic/probe/${iot:ClientId}/*"},
    {"Effect": "Allow", "Action": "iot:RetainPublish", "Resource": "topic/probe/${iot:ClientId}/retained/*"},
    {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": "topicfilter/probe/*"},
    {"Effect": "Allow", "Action": "iot:Receive", "Resource": "topic/probe/*"},
    # Deny a persistent session to clients named probe-nopersist-*, and a Will to probe-nowill-*.
    {
        "Effect": "Deny",
        "Action": "iot:Connect",
        "Resource": "client/probe-nopersist-*",
        "Condition": {"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}},
    },
    {
        "Effect": "Deny",
        "Action": "iot:Connect",
        "Resource": "client/probe-nowill-*",
        "Condition": {"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["LastWill"]}},
    },
]


@pytest.fixture(scope="module")
def probe(double: Double, tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return device_with_policy(double, tmp_path_factory.mktemp("probe"), "test-probe", PROBE_STATEMENTS)


def cid(kind: str = "c") -> str:
    return f"probe-{kind}-{uuid.uuid4().hex[:8]}"


def connected(double: Double, probe: Identity, client_id: str, **kwargs: Any) -> tuple[RawClient, bytes]:
    c = RawClient(double, probe)
    c.send(connect_packet(client_id, **kwargs))
    connack = c.read_kind(mc.CONNACK)
    assert connack, "no CONNACK"
    return c, connack


def connack_code(connack: bytes | None, level: int = 5) -> int:
    assert connack
    return mc.parse_connack(connack, level)[1]


def publish(c: RawClient, topic: str, payload: bytes, *, qos: int = 1, pid: int = 1, retain: bool = False,
            level: int = 5, properties: bytes = b"") -> None:  # fmt: skip
    c.send(mc.encode_publish(topic, payload, level, qos=qos, packet_id=pid if qos else None, retain=retain,
                             properties=properties))  # fmt: skip


def puback_reason(c: RawClient) -> int | None:
    packet = c.read_kind(mc.PUBACK)
    return mc.parse_puback(packet)[1] if packet else None


def subscriber(double: Double, probe: Identity, topic_filter: str, level: int = 5) -> RawClient:
    c, connack = connected(double, probe, cid("sub"), level=level)
    assert connack_code(connack, level) == 0
    c.send(subscribe_packet(1, [(topic_filter, 1)], level))
    assert c.read_kind(mc.SUBACK)
    return c


def next_publish(c: RawClient, timeout: float = 3.0) -> mc.Publish | None:
    packet = c.read_kind(mc.PUBLISH, timeout)
    return mc.parse_publish(packet, 5) if packet else None


# CONNACK --------------------------------------------------------------------------------------------


def test_connack_carries_aws_iot_core_properties(double: Double, probe: Identity) -> None:
    c, connack = connected(double, probe, cid(), keepalive=3000)
    _, code, props = mc.parse_connack(connack, 5)
    assert code == 0
    assert props.values[mc.MAXIMUM_QOS] == 1
    assert props.values[mc.RETAIN_AVAILABLE] == 1
    assert props.values[mc.SUBSCRIPTION_IDENTIFIER_AVAILABLE] == 0
    assert props.values[mc.TOPIC_ALIAS_MAXIMUM] == 8
    assert props.values[mc.MAXIMUM_PACKET_SIZE] == 128 * 1024
    assert props.values[mc.SERVER_KEEP_ALIVE] == 1200  # "between 30 - 1200 seconds"
    c.close()
    c, connack = connected(double, probe, cid(), keepalive=5)
    assert mc.parse_connack(connack, 5)[2].values[mc.SERVER_KEEP_ALIVE] == 30
    c.close()


def test_client_id_longer_than_128_bytes_is_refused(double: Double, probe: Identity) -> None:
    long_id = "probe-" + "x" * 123
    for level, code in ((5, 0x85), (4, 0x02)):  # Client Identifier not valid / identifier rejected
        c, connack = connected(double, probe, long_id, level=level)
        assert connack_code(connack, level) == code
        c.close()
    c, connack = connected(double, probe, long_id[:128])
    assert connack_code(connack) == 0
    c.close()


# Will messages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [4, 5])
def test_will_to_a_forbidden_topic_refuses_the_connect(double: Double, probe: Identity, level: int) -> None:
    other = "probe/someone-else/cmd"
    c, connack = connected(double, probe, cid(), level=level, will=(other, b"bye", 0, False))
    assert connack_code(connack, level) == (0x87 if level == 5 else 5)
    assert c.read(1) == b""  # and the connection is closed


def test_will_allowed_is_delivered_when_the_device_drops(double: Double, probe: Identity) -> None:
    me = cid()
    watcher = subscriber(double, probe, f"probe/{me}/will")
    c, connack = connected(double, probe, me, will=(f"probe/{me}/will", b"gone", 1, False))
    assert connack_code(connack) == 0
    c.close()  # no DISCONNECT: the broker publishes the Will
    message = next_publish(watcher, 5)
    assert message is not None
    assert (message.topic, message.payload) == (f"probe/{me}/will", b"gone")
    watcher.close()


def test_retained_will_needs_retain_publish(double: Double, probe: Identity) -> None:
    me = cid()
    c, connack = connected(double, probe, me, will=(f"probe/{me}/status", b"x", 0, True))
    assert connack_code(connack) == 0x87  # iot:RetainPublish is only granted under .../retained/
    c, connack = connected(double, probe, me, will=(f"probe/{me}/retained/status", b"offline", 0, True))
    assert connack_code(connack) == 0
    c.close()
    deadline = time.monotonic() + 5
    while double.retained.get(f"probe/{me}/retained/status") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    stored = double.retained.get(f"probe/{me}/retained/status")
    assert stored is not None
    assert stored.payload == b"offline"


def test_will_with_qos_2_is_refused(double: Double, probe: Identity) -> None:
    me = cid()
    c, connack = connected(double, probe, me, will=(f"probe/{me}/will", b"x", 2, False))
    assert connack_code(connack) == 0x9B  # QoS not supported
    c = RawClient(double, probe)
    c.send(connect_packet(me, level=4, will=(f"probe/{me}/will", b"x", 2, False)))
    assert c.read(3) == b""  # MQTT 3.1.1: the connection is closed


def test_connect_attributes_condition_key(double: Double, probe: Identity) -> None:
    # probe-nopersist-*: denied with a persistent session (3.1.1 clean session 0; 5 session expiry > 0)
    c, connack = connected(double, probe, cid("nopersist"), level=4, clean=False)
    assert connack_code(connack, 4) == 5
    expiry = bytes([mc.SESSION_EXPIRY_INTERVAL]) + struct.pack("!I", 600)
    c, connack = connected(double, probe, cid("nopersist"), properties=expiry)
    assert connack_code(connack) == 0x87
    c, connack = connected(double, probe, cid("nopersist"), level=4, clean=True)
    assert connack_code(connack, 4) == 0
    c.close()
    # probe-nowill-*: denied with a Will, allowed without
    me = cid("nowill")
    c, connack = connected(double, probe, me, will=(f"probe/{me}/will", b"x", 0, False))
    assert connack_code(connack) == 0x87
    c, connack = connected(double, probe, me)
    assert connack_code(connack) == 0
    c.close()


# Retained messages -------------------------------------------------------------------------------------


def test_retained_publish_needs_retain_publish_and_never_lands_on_reserved_topics(
    double: Double, probe: Identity
) -> None:
    me = cid()
    c, _ = connected(double, probe, me)
    publish(c, f"probe/{me}/plain", b"kept?", retain=True)
    assert puback_reason(c) == 0x87
    assert double.retained.get(f"probe/{me}/plain") is None
    publish(c, "$aws/things/x/shadow/update", b"{}", retain=True, pid=2)
    assert puback_reason(c) == 0x90
    publish(c, f"probe/{me}/retained/a", b"kept", retain=True, pid=3)
    assert puback_reason(c) == 0
    assert double.retained.get(f"probe/{me}/retained/a") is not None
    c.close()


def test_retained_message_reaches_exact_filters_only_with_the_retain_flag(double: Double, probe: Identity) -> None:
    me = cid()
    topic = f"probe/{me}/retained/config"
    c, _ = connected(double, probe, me)
    publish(c, topic, b"v1", retain=True)
    assert puback_reason(c) == 0
    exact = subscriber(double, probe, topic)
    message = next_publish(exact)
    assert message is not None
    assert (message.topic, message.payload, message.retain) == (topic, b"v1", True)
    wildcard = subscriber(double, probe, f"probe/{me}/retained/#")
    assert next_publish(wildcard, 1.5) is None  # AWS: not on subscribe to a wildcard filter
    publish(c, topic, b"v2", retain=True, pid=2)  # a live message reaches both, without the flag
    assert puback_reason(c) == 0
    for s in (exact, wildcard):
        live = next_publish(s)
        assert live is not None
        assert (live.payload, live.retain) == (b"v2", False)
    publish(c, topic, b"", retain=True, pid=3)  # an empty retained payload deletes it
    assert puback_reason(c) == 0
    assert double.retained.get(topic) is None
    for x in (c, exact, wildcard):
        x.close()


def test_get_and_list_retained_messages_with_aws_shapes(double: Double, probe: Identity) -> None:
    me = cid()
    topic = f"probe/{me}/retained/state"
    c, _ = connected(double, probe, me)
    user = bytes([mc.USER_PROPERTY]) + mc.encode_string("deviceName") + mc.encode_string("alpha")
    publish(c, topic, b'{"on":true}', retain=True, properties=user)
    assert puback_reason(c) == 0
    c.close()
    data = boto3.client(
        "iot-data",
        region_name="eu-west-1",
        endpoint_url=double.outputs()["IotDouble"]["ControlPlaneUrl"],
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    got = data.get_retained_message(topic=topic)
    assert got["topic"] == topic
    assert got["payload"] == b'{"on":true}'
    assert got["qos"] == 1
    assert isinstance(got["lastModifiedTime"], int)
    assert got["lastModifiedTime"] > 1_600_000_000_000
    assert got["userProperties"] == b'[{"deviceName": "alpha"}]'
    listed = [t for page in data.get_paginator("list_retained_messages").paginate() for t in page["retainedTopics"]]
    mine = [t for t in listed if t["topic"] == topic]
    assert mine == [{"topic": topic, "payloadSize": 11, "qos": 1, "lastModifiedTime": got["lastModifiedTime"]}]
    with pytest.raises(data.exceptions.ResourceNotFoundException):
        data.get_retained_message(topic=f"probe/{me}/none")


# QoS, PUBACK, topics, aliases, quotas -------------------------------------------------------------------


def test_qos_2_is_not_served(double: Double, probe: Identity) -> None:
    me = cid()
    c, _ = connected(double, probe, me)
    c.send(subscribe_packet(5, [(f"probe/{me}/q", 2)]))
    assert c.read_kind(mc.SUBACK, 1.5) is None  # "doesn't send a PUBACK or SUBACK"
    publish(c, f"probe/{me}/q", b"x", qos=2)
    disconnect = c.read_kind(mc.DISCONNECT)
    assert disconnect
    assert mc.split(disconnect)[2][0] == 0x9B
    v3, _ = connected(double, probe, me, level=4)
    publish(v3, f"probe/{me}/q", b"x", qos=2, level=4)
    assert v3.read(1.5) is None  # no PUBREC, and the connection stays
    v3.close()


def test_puback_is_0x00_without_subscribers(double: Double, probe: Identity) -> None:
    me = cid()
    c, _ = connected(double, probe, me)
    publish(c, f"probe/{me}/nobody-listens", b"x")
    assert puback_reason(c) == 0  # never 0x10 "No matching subscribers"
    c.close()


@pytest.mark.parametrize(
    ("suffix", "reason"),
    [("/".join("abcdefg"), 0x90), ("x" * 250, 0x90), ("ok/fine", 0)],
    ids=["8-slashes", "over-256-bytes", "control"],
)
def test_topic_quotas(double: Double, probe: Identity, suffix: str, reason: int) -> None:
    me = cid()
    c, _ = connected(double, probe, me)
    publish(c, f"probe/{me}/{suffix}", b"x")
    assert puback_reason(c) == reason
    c.close()


def test_payload_over_128_kb_disconnects(double: Double, probe: Identity) -> None:
    me = cid()
    c, _ = connected(double, probe, me)
    publish(c, f"probe/{me}/big", b"x" * (128 * 1024))
    assert puback_reason(c) == 0
    publish(c, f"probe/{me}/big", b"x" * (128 * 1024 + 1), pid=2)
    disconnect = c.read_kind(mc.DISCONNECT)
    assert disconnect
    assert mc.split(disconnect)[2][0] == 0x97


def test_subscription_quotas(double: Double, probe: Identity) -> None:
    me = cid()
    c, _ = connected(double, probe, me)
    c.send(subscribe_packet(1, [(f"probe/{me}/{i}", 1) for i in range(9)]))
    suback = c.read_kind(mc.SUBACK)
    assert suback
    assert mc.parse_suback(suback, 5)[1] == [0x97] * 9
    for batch in range(6):  # 48 subscriptions
        c.send(subscribe_packet(10 + batch, [(f"probe/{me}/{batch}/{i}", 1) for i in range(8)]))
        assert c.read_kind(mc.SUBACK)
    c.send(subscribe_packet(20, [(f"probe/{me}/x/{i}", 1) for i in range(3)]))  # 51st
    disconnect = c.read_kind(mc.DISCONNECT)
    assert disconnect
    assert mc.split(disconnect)[2][0] == 0x97


def test_topic_alias_is_resolved_then_authorized(double: Double, probe: Identity) -> None:
    me = cid()
    watcher = subscriber(double, probe, f"probe/{me}/aliased")
    c, _ = connected(double, probe, me)
    alias = bytes([mc.TOPIC_ALIAS]) + struct.pack("!H", 3)
    publish(c, f"probe/{me}/aliased", b"first", properties=alias)
    assert puback_reason(c) == 0
    publish(c, "", b"second", properties=alias, pid=2)  # the alias alone
    assert puback_reason(c) == 0
    got = [next_publish(watcher), next_publish(watcher)]
    assert [(m.topic, m.payload) for m in got if m] == [
        (f"probe/{me}/aliased", b"first"),
        (f"probe/{me}/aliased", b"second"),
    ]
    publish(c, "probe/someone-else/x", b"no", properties=bytes([mc.TOPIC_ALIAS]) + struct.pack("!H", 4), pid=3)
    assert puback_reason(c) == 0x87
    publish(c, f"probe/{me}/x", b"x", properties=bytes([mc.TOPIC_ALIAS]) + struct.pack("!H", 9), pid=4)
    disconnect = c.read_kind(mc.DISCONNECT)
    assert disconnect
    assert mc.split(disconnect)[2][0] == 0x94
    watcher.close()


# Malformed payloads -------------------------------------------------------------------------------------


@pytest.fixture
def broad(double: Double, tmp_path: Path) -> Identity:
    actions = ["iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"]
    return device_with_policy(
        double, tmp_path, "test-broad-any", [{"Effect": "Allow", "Action": actions, "Resource": "*"}]
    )


@pytest.mark.parametrize(
    "payload",
    [b"[" * 100_000, b'{"a":' * 25_000, b"\xff\xfe", b'{"certificateSigningRequest": 7}', b"[]", b"null"],
    ids=["deep-array", "deep-object", "not-utf8", "wrong-type", "array", "null"],
)
def test_malformed_provisioning_payloads_get_a_400_never_a_500(double: Double, broad: Identity, payload: bytes) -> None:
    c, _ = connected(double, broad, cid())
    c.send(subscribe_packet(1, [(f"{CSR_TOPIC}/rejected", 1), (f"{CSR_TOPIC}/accepted", 1)]))
    assert c.read_kind(mc.SUBACK)
    publish(c, CSR_TOPIC, payload)
    message = next_publish(c, 10)
    assert message is not None
    assert message.topic == f"{CSR_TOPIC}/rejected"
    import json

    body = json.loads(message.payload)
    assert body["statusCode"] == 400
    assert body["errorCode"] == "InvalidRequest"
    c.close()
