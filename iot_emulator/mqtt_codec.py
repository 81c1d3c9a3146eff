"""Just enough of MQTT 3.1.1 and 5.0 to authorize and route packets at the double's edge.

Packets are kept as raw bytes and re-encoded only where the edge changes them (CONNECT,
SUBSCRIBE with some filters refused, CONNACK's topic-alias maximum).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

from iot_emulator.errors import ProtocolError

#: The packet types the edge reads or writes (the rest are relayed as they are).
CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, UNSUBSCRIBE, DISCONNECT = 1, 2, 3, 4, 8, 9, 10, 14
MQTT5 = 5
MAX_PACKET = 256 * 1024 + 1024  # AWS IoT payloads are at most 128 KB

# MQTT 5 property identifiers -> value type (b byte, h two-byte int, i four-byte int, v varint,
# s UTF-8 string, d binary data, p string pair)
_PROPERTY_TYPES = {
    0x01: "b", 0x02: "i", 0x03: "s", 0x08: "s", 0x09: "d", 0x0B: "v", 0x11: "i", 0x12: "s", 0x13: "h",
    0x15: "s", 0x16: "d", 0x17: "b", 0x18: "i", 0x19: "b", 0x1A: "s", 0x1C: "s", 0x1F: "s", 0x21: "h",
    0x22: "h", 0x23: "h", 0x24: "b", 0x25: "b", 0x26: "p", 0x27: "i", 0x28: "b", 0x29: "b", 0x2A: "b",
}  # fmt: skip
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 1
    for _ in range(4):
        if pos >= len(data):
            raise ProtocolError("truncated variable byte integer")
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) * shift
        if not byte & 0x80:
            return value, pos
        shift *= 128
    raise ProtocolError("variable byte integer longer than 4 bytes")


def encode_string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(raw)) + raw


def decode_string(data: bytes, pos: int) -> tuple[str, int]:
    raw, pos = decode_binary(data, pos)
    try:
        return raw.decode("utf-8"), pos
    except UnicodeDecodeError:
        raise ProtocolError("string is not UTF-8") from None


def decode_binary(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 2 > len(data):
        raise ProtocolError("truncated length")
    (length,) = struct.unpack_from("!H", data, pos)
    pos += 2
    if pos + length > len(data):
        raise ProtocolError("truncated string")
    return data[pos : pos + length], pos + length


@dataclass
class Properties:
    raw: bytes = b""
    values: dict[int, object] = field(default_factory=dict)


def decode_properties(data: bytes, pos: int) -> tuple[Properties, int]:
    length, pos = decode_varint(data, pos)
    end = pos + length
    if end > len(data):
        raise ProtocolError("truncated properties")
    raw = data[pos:end]
    values: dict[int, object] = {}
    i = 0
    while i < len(raw):
        pid, i = decode_varint(raw, i)
        kind = _PROPERTY_TYPES.get(pid)
        value: object
        if kind == "b":
            value, i = raw[i], i + 1
        elif kind == "h":
            (value,), i = struct.unpack_from("!H", raw, i), i + 2
        elif kind == "i":
            (value,), i = struct.unpack_from("!I", raw, i), i + 4
        elif kind == "v":
            value, i = decode_varint(raw, i)
        elif kind == "s":
            value, i = decode_string(raw, i)
        elif kind == "d":
            value, i = decode_binary(raw, i)
        elif kind == "p":
            key, i = decode_string(raw, i)
            val, i = decode_string(raw, i)
            value = (key, val)
        else:
            raise ProtocolError(f"unknown property 0x{pid:02x}")
        values[pid] = value
    return Properties(raw, values), end


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([(kind << 4) | flags]) + encode_varint(len(body)) + body


async def read_packet(reader: asyncio.StreamReader) -> bytes:
    """One whole packet (fixed header included); raises IncompleteReadError at EOF."""
    first = await reader.readexactly(1)
    header = bytearray(first)
    length, shift = 0, 1
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        header.append(byte)
        length += (byte & 0x7F) * shift
        if not byte & 0x80:
            break
        shift *= 128
    else:
        raise ProtocolError("remaining length longer than 4 bytes")
    if length > MAX_PACKET:
        raise ProtocolError("packet larger than the double accepts")
    return bytes(header) + await reader.readexactly(length)


def split(raw: bytes) -> tuple[int, int, bytes]:
    """(type, flags, body) of a whole packet."""
    _, pos = decode_varint(raw, 1)
    return raw[0] >> 4, raw[0] & 0x0F, raw[pos:]


@dataclass
class Connect:
    level: int
    flags: int
    keepalive: int
    properties: Properties
    client_id: str
    rest: bytes  # will properties/topic/payload, username, password: kept as sent

    def encode(self, *, username: str, password: str) -> bytes:
        """The same CONNECT with the edge's credentials for the upstream broker."""
        flags = (self.flags | 0xC0) & 0xFE
        rest = self.rest
        # Drop the client's own username/password (they sit at the end of the payload).
        rest = _strip_credentials(rest, self.flags, self.level)
        body = bytearray(encode_string("MQTT") + bytes([self.level, flags]) + struct.pack("!H", self.keepalive))
        if self.level == MQTT5:
            body += encode_varint(len(self.properties.raw)) + self.properties.raw
        body += encode_string(self.client_id) + rest + encode_string(username) + encode_string(password)
        return packet(CONNECT, 0, bytes(body))


def _strip_credentials(rest: bytes, flags: int, level: int) -> bytes:
    pos = 0
    if flags & 0x04:  # will
        if level == MQTT5:
            _, pos = decode_properties(rest, pos)
        _, pos = decode_binary(rest, pos)
        _, pos = decode_binary(rest, pos)
    return rest[:pos]


def parse_connect(raw: bytes) -> Connect:
    kind, _, body = split(raw)
    if kind != CONNECT:
        raise ProtocolError("the first packet must be CONNECT")
    name, pos = decode_string(body, 0)
    if name != "MQTT" or pos + 4 > len(body):
        raise ProtocolError("not MQTT 3.1.1 or 5")
    level, flags = body[pos], body[pos + 1]
    (keepalive,) = struct.unpack_from("!H", body, pos + 2)
    pos += 4
    if level not in (4, MQTT5):
        raise ProtocolError(f"unsupported protocol level {level}")
    props = Properties()
    if level == MQTT5:
        props, pos = decode_properties(body, pos)
    client_id, pos = decode_string(body, pos)
    return Connect(level, flags, keepalive, props, client_id, body[pos:])


@dataclass
class Publish:
    topic: str
    qos: int
    packet_id: int | None
    properties: Properties
    payload: bytes


def parse_publish(raw: bytes, level: int) -> Publish:
    _, flags, body = split(raw)
    qos = (flags >> 1) & 0x03
    topic, pos = decode_string(body, 0)
    packet_id = None
    if qos:
        (packet_id,) = struct.unpack_from("!H", body, pos)
        pos += 2
    props = Properties()
    if level == MQTT5:
        props, pos = decode_properties(body, pos)
    return Publish(topic, qos, packet_id, props, body[pos:])


def encode_publish(topic: str, payload: bytes, level: int) -> bytes:
    """A QoS 0 PUBLISH (what the edge sends for service responses)."""
    body = encode_string(topic) + (b"\x00" if level == MQTT5 else b"") + payload
    return packet(PUBLISH, 0, body)


@dataclass
class Subscribe:
    packet_id: int
    properties: Properties
    filters: list[tuple[str, int]]  # (filter, options byte)


def parse_subscribe(raw: bytes, level: int) -> Subscribe:
    _, _, body = split(raw)
    (packet_id,) = struct.unpack_from("!H", body, 0)
    pos = 2
    props = Properties()
    if level == MQTT5:
        props, pos = decode_properties(body, pos)
    filters = []
    while pos < len(body):
        topic, pos = decode_string(body, pos)
        filters.append((topic, body[pos]))
        pos += 1
    if not filters:
        raise ProtocolError("SUBSCRIBE without topic filters")
    return Subscribe(packet_id, props, filters)


def encode_subscribe(sub: Subscribe, filters: list[tuple[str, int]], level: int) -> bytes:
    body = bytearray(struct.pack("!H", sub.packet_id))
    if level == MQTT5:
        body += encode_varint(len(sub.properties.raw)) + sub.properties.raw
    for topic, options in filters:
        body += encode_string(topic) + bytes([options])
    return packet(SUBSCRIBE, 0x02, bytes(body))


def parse_suback(raw: bytes, level: int) -> tuple[int, list[int]]:
    _, _, body = split(raw)
    (packet_id,) = struct.unpack_from("!H", body, 0)
    pos = 2
    if level == MQTT5:
        _, pos = decode_properties(body, pos)
    return packet_id, list(body[pos:])


def encode_suback(packet_id: int, codes: list[int], level: int) -> bytes:
    body = struct.pack("!H", packet_id) + (b"\x00" if level == MQTT5 else b"") + bytes(codes)
    return packet(SUBACK, 0, body)


def encode_connack(code: int, level: int) -> bytes:
    return packet(CONNACK, 0, bytes([0, code]) + (b"\x00" if level == MQTT5 else b""))


def encode_puback(packet_id: int, reason: int, level: int) -> bytes:
    body = struct.pack("!H", packet_id) + (bytes([reason, 0]) if level == MQTT5 and reason else b"")
    return packet(PUBACK, 0, body)


def without_topic_aliases(raw: bytes, level: int) -> bytes:
    """Rewrite CONNACK so the client never uses topic aliases (the edge authorizes by topic name)."""
    if level != MQTT5:
        return raw
    _, _, body = split(raw)
    props, end = decode_properties(body, 2)
    if TOPIC_ALIAS_MAXIMUM not in props.values:
        return raw
    kept = bytearray()
    i = 0
    while i < len(props.raw):
        start = i
        pid, i = decode_varint(props.raw, i)
        kind = _PROPERTY_TYPES[pid]
        if kind == "b":
            i += 1
        elif kind == "h":
            i += 2
        elif kind == "i":
            i += 4
        elif kind == "v":
            _, i = decode_varint(props.raw, i)
        elif kind in ("s", "d"):
            _, i = decode_binary(props.raw, i)
        else:
            _, i = decode_binary(props.raw, i)
            _, i = decode_binary(props.raw, i)
        if pid != TOPIC_ALIAS_MAXIMUM:
            kept += props.raw[start:i]
    return packet(CONNACK, 0, body[:2] + encode_varint(len(kept)) + bytes(kept) + body[end:])
