"""The edge's MQTT 3.1.1/5.0 codec, byte by byte (no broker, no sockets)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from iot_emulator import mqtt_codec as mc
from iot_emulator.errors import ProtocolError


def connect_packet(
    *, level: int, client_id: str, will: bool = False, user: str | None = None, password: str | None = None
) -> bytes:
    flags = 0x02 | (0x04 if will else 0) | (0x80 if user is not None else 0) | (0x40 if password is not None else 0)
    body = mc.encode_string("MQTT") + bytes([level, flags]) + struct.pack("!H", 30)
    if level == mc.MQTT5:
        props = bytes([0x11]) + struct.pack("!I", 60)  # session expiry interval
        body += mc.encode_varint(len(props)) + props
    body += mc.encode_string(client_id)
    if will:
        if level == mc.MQTT5:
            body += mc.encode_varint(0)
        body += mc.encode_string("will/topic") + mc.encode_string(b"bye")
    if user is not None:
        body += mc.encode_string(user)
    if password is not None:
        body += mc.encode_string(password)
    return mc.packet(mc.CONNECT, 0, body)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 268_435_455])
def test_varint_round_trip(value: int) -> None:
    encoded = mc.encode_varint(value)
    assert len(encoded) == (1 if value < 128 else 2 if value < 16_384 else 3 if value < 2_097_152 else 4)
    assert mc.decode_varint(encoded + b"rest", 0) == (value, len(encoded))


@pytest.mark.parametrize(
    ("data", "problem"),
    [(b"\x80", "truncated variable byte integer"), (b"\x80\x80\x80\x80\x01", "longer than 4 bytes")],
)
def test_bad_varints(data: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        mc.decode_varint(data, 0)


def test_strings() -> None:
    assert mc.decode_string(mc.encode_string("día") + b"x", 0) == ("día", 6)  # two length bytes and four UTF-8 bytes
    with pytest.raises(ProtocolError, match="not UTF-8"):
        mc.decode_string(b"\x00\x01\xff", 0)
    with pytest.raises(ProtocolError, match="truncated string"):
        mc.decode_string(b"\x00\x05ab", 0)
    with pytest.raises(ProtocolError, match="truncated length"):
        mc.decode_binary(b"\x00", 0)


def test_properties_of_every_type_and_an_unknown_one() -> None:
    raw = (
        bytes([0x01, 1])  # byte
        + bytes([0x21]) + struct.pack("!H", 10)  # two-byte integer
        + bytes([0x11]) + struct.pack("!I", 99)  # four-byte integer
        + bytes([0x0B]) + mc.encode_varint(300)  # varint
        + bytes([0x03]) + mc.encode_string("text/plain")  # string
        + bytes([0x09]) + mc.encode_string(b"\x00\x01")  # binary data
        + bytes([0x26]) + mc.encode_string("k") + mc.encode_string("v")  # string pair
    )  # fmt: skip
    props, end = mc.decode_properties(mc.encode_varint(len(raw)) + raw, 0)
    assert end == len(raw) + 1  # one length byte
    assert props.values == {
        0x01: 1,
        0x21: 10,
        0x11: 99,
        0x0B: 300,
        0x03: "text/plain",
        0x09: b"\x00\x01",
        0x26: ("k", "v"),
    }
    with pytest.raises(ProtocolError, match="unknown property 0x7f"):
        mc.decode_properties(bytes([2, 0x7F, 0]), 0)
    with pytest.raises(ProtocolError, match="truncated properties"):
        mc.decode_properties(bytes([5, 0x01]), 0)


@pytest.mark.parametrize("level", [4, mc.MQTT5])
def test_connect_is_forwarded_with_the_edges_credentials_and_the_will_kept(level: int) -> None:
    raw = connect_packet(level=level, client_id="dev-1", will=True, user="device", password="secret")
    connect = mc.parse_connect(raw)
    assert (connect.level, connect.client_id, connect.keepalive) == (level, "dev-1", 30)
    forwarded = mc.parse_connect(connect.encode(username="edge", password="pw"))
    assert forwarded.client_id == "dev-1"
    assert forwarded.flags & 0xC0 == 0xC0  # username and password flags set
    assert forwarded.flags & 0x04  # the will is kept
    assert b"secret" not in connect.encode(username="edge", password="pw")  # the device's own password is dropped
    assert forwarded.rest.endswith(mc.encode_string("edge") + mc.encode_string("pw"))
    if level == mc.MQTT5:
        assert forwarded.properties.values == {0x11: 60}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (mc.packet(mc.PUBLISH, 0, b""), "first packet must be CONNECT"),
        (mc.packet(mc.CONNECT, 0, mc.encode_string("MQIsdp") + bytes([3, 2, 0, 30])), "not MQTT 3.1.1 or 5"),
        (mc.packet(mc.CONNECT, 0, mc.encode_string("MQTT") + bytes([3, 2, 0, 30])), "unsupported protocol level 3"),
    ],
)
def test_bad_connects(raw: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        mc.parse_connect(raw)


@pytest.mark.parametrize("level", [4, mc.MQTT5])
def test_publish(level: int) -> None:
    props = (mc.encode_varint(3) + bytes([0x23]) + struct.pack("!H", 7)) if level == mc.MQTT5 else b""
    raw = mc.packet(mc.PUBLISH, 0x02, mc.encode_string("dt/x") + struct.pack("!H", 42) + props + b"payload")
    publish = mc.parse_publish(raw, level)
    assert (publish.topic, publish.qos, publish.packet_id, publish.payload) == ("dt/x", 1, 42, b"payload")
    if level == mc.MQTT5:
        assert publish.properties.values == {mc.TOPIC_ALIAS: 7}
    response = mc.parse_publish(mc.encode_publish("a/b", b"{}", level), level)
    assert (response.topic, response.qos, response.packet_id, response.payload) == ("a/b", 0, None, b"{}")


@pytest.mark.parametrize("level", [4, mc.MQTT5])
def test_subscribe_is_re_encoded_with_the_allowed_filters_only(level: int) -> None:
    props = mc.encode_varint(0) if level == mc.MQTT5 else b""
    body = struct.pack("!H", 7) + props + mc.encode_string("a/#") + b"\x01" + mc.encode_string("b/+") + b"\x00"
    sub = mc.parse_subscribe(mc.packet(mc.SUBSCRIBE, 0x02, body), level)
    assert (sub.packet_id, sub.filters) == (7, [("a/#", 1), ("b/+", 0)])
    forwarded = mc.parse_subscribe(mc.encode_subscribe(sub, [("b/+", 0)], level), level)
    assert (forwarded.packet_id, forwarded.filters) == (7, [("b/+", 0)])
    with pytest.raises(ProtocolError, match="without topic filters"):
        mc.parse_subscribe(mc.packet(mc.SUBSCRIBE, 0x02, struct.pack("!H", 1) + props), level)


@pytest.mark.parametrize("level", [4, mc.MQTT5])
def test_acks(level: int) -> None:
    assert mc.parse_suback(mc.encode_suback(9, [0, 0x80], level), level) == (9, [0, 0x80])
    assert mc.split(mc.encode_connack(5, level)) == (mc.CONNACK, 0, bytes([0, 5]) + (b"\x00" if level == 5 else b""))
    assert mc.split(mc.encode_puback(3, 0, level))[2] == struct.pack("!H", 3)
    refused = mc.split(mc.encode_puback(3, 0x87, level))[2]
    assert refused == struct.pack("!H", 3) + (bytes([0x87, 0]) if level == mc.MQTT5 else b"")


def test_topic_alias_maximum_is_removed_from_connack_and_the_rest_kept() -> None:
    props = bytes([0x22]) + struct.pack("!H", 10) + bytes([0x24, 1]) + bytes([0x1F]) + mc.encode_string("ok")
    connack = mc.packet(mc.CONNACK, 0, bytes([0, 0]) + mc.encode_varint(len(props)) + props)
    rewritten = mc.without_topic_aliases(connack, mc.MQTT5)
    values, _ = mc.decode_properties(mc.split(rewritten)[2], 2)
    assert values.values == {0x24: 1, 0x1F: "ok"}
    plain = mc.packet(mc.CONNACK, 0, bytes([0, 0, 0]))
    assert mc.without_topic_aliases(plain, mc.MQTT5) == plain
    assert mc.without_topic_aliases(connack, 4) == connack  # 3.1.1 has no properties


def read(data: bytes) -> bytes:
    async def go() -> bytes:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await mc.read_packet(reader)

    return asyncio.run(go())


def test_read_packet_reads_exactly_one_packet() -> None:
    first = mc.encode_puback(1, 0, 4)
    assert read(first + mc.encode_puback(2, 0, 4)) == first
    big = mc.packet(mc.PUBLISH, 0, mc.encode_string("t") + b"x" * 200_000)
    assert read(big) == big
    with pytest.raises(ProtocolError, match="larger than the double accepts"):
        read(mc.packet(mc.PUBLISH, 0, b"x" * (mc.MAX_PACKET + 1)))
    with pytest.raises(ProtocolError, match="remaining length longer than 4 bytes"):
        read(b"\x30\x80\x80\x80\x80\x01")
    with pytest.raises(asyncio.IncompleteReadError):
        read(b"\x30\x05ab")
