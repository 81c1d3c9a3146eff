"""Just enough of MQTT 3.1.1 and 5.0 to authorize and route packets at the double's edge.

Packets are kept as raw bytes and re-encoded only where the edge changes them (CONNECT for the
broker, SUBSCRIBE with some filters refused, CONNACK with AWS IoT's properties, a PUBLISH whose
topic alias the edge resolved or whose packet identifier it maps).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from iot_emulator.errors import ProtocolError

#: The packet types the edge reads or writes (the rest are relayed as they are).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC = 1, 2, 3, 4, 5
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 14, 15
MQTT311, MQTT5 = 4, 5
#: The largest packet the edge reads: AWS IoT payloads are at most 128 KB, so anything past this
#: (plus headroom for topic and properties) is refused before it is buffered.
MAX_PACKET = 256 * 1024 + 1024

# MQTT 5 property identifiers -> value type (b byte, h two-byte int, i four-byte int, v varint,
# s UTF-8 string, d binary data, p string pair)
_PROPERTY_TYPES = {
    0x01: "b", 0x02: "i", 0x03: "s", 0x08: "s", 0x09: "d", 0x0B: "v", 0x11: "i", 0x12: "s", 0x13: "h",
    0x15: "s", 0x16: "d", 0x17: "b", 0x18: "i", 0x19: "b", 0x1A: "s", 0x1C: "s", 0x1F: "s", 0x21: "h",
    0x22: "h", 0x23: "h", 0x24: "b", 0x25: "b", 0x26: "p", 0x27: "i", 0x28: "b", 0x29: "b", 0x2A: "b",
}  # fmt: skip
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY_INTERVAL = 0x11
ASSIGNED_CLIENT_IDENTIFIER = 0x12
SERVER_KEEP_ALIVE = 0x13
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


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


def _u16(data: bytes, pos: int) -> int:
    if pos + 2 > len(data):
        raise ProtocolError("truncated packet")
    value: int = struct.unpack_from("!H", data, pos)[0]
    return value


@dataclass
class Properties:
    raw: bytes = b""
    values: dict[int, object] = field(default_factory=dict)


def _skip_value(kind: str, raw: bytes, i: int) -> tuple[object, int]:
    if kind == "b":
        if i >= len(raw):
            raise ProtocolError("truncated property")
        return raw[i], i + 1
    if kind in ("h", "i"):
        size = 2 if kind == "h" else 4
        if i + size > len(raw):
            raise ProtocolError("truncated property")
        return struct.unpack_from("!H" if kind == "h" else "!I", raw, i)[0], i + size
    if kind == "v":
        return decode_varint(raw, i)
    if kind == "s":
        return decode_string(raw, i)
    if kind == "d":
        return decode_binary(raw, i)
    key, i = decode_string(raw, i)
    val, i = decode_string(raw, i)
    return (key, val), i


def iter_properties(raw: bytes) -> Iterator[tuple[int, object, int, int]]:
    """(identifier, value, start, end) of each property in a property block's bytes."""
    i = 0
    while i < len(raw):
        start = i
        pid, i = decode_varint(raw, i)
        kind = _PROPERTY_TYPES.get(pid)
        if kind is None:
            raise ProtocolError(f"unknown property 0x{pid:02x}")
        value, i = _skip_value(kind, raw, i)
        yield pid, value, start, i


def decode_properties(data: bytes, pos: int) -> tuple[Properties, int]:
    length, pos = decode_varint(data, pos)
    end = pos + length
    if end > len(data):
        raise ProtocolError("truncated properties")
    raw = data[pos:end]
    return Properties(raw, {pid: value for pid, value, _, _ in iter_properties(raw)}), end


def encode_property(pid: int, value: object) -> bytes:
    kind = _PROPERTY_TYPES[pid]
    out = encode_varint(pid)
    if kind == "b":
        return out + bytes([int(value)])  # type: ignore[call-overload]
    if kind == "h":
        return out + struct.pack("!H", value)
    if kind == "i":
        return out + struct.pack("!I", value)
    if kind == "v":
        return out + encode_varint(int(value))  # type: ignore[call-overload]
    if kind in ("s", "d"):
        return out + encode_string(value)  # type: ignore[arg-type]
    if not isinstance(value, tuple):
        raise TypeError(f"property 0x{pid:02x} is a string pair")
    return out + encode_string(str(value[0])) + encode_string(str(value[1]))


def property_block(raw: bytes) -> bytes:
    return encode_varint(len(raw)) + raw


def without_properties(raw: bytes, drop: set[int]) -> bytes:
    """A property block's bytes with every property in ``drop`` removed (the rest kept as sent)."""
    kept = bytearray()
    for pid, _, start, end in iter_properties(raw):
        if pid not in drop:
            kept += raw[start:end]
    return bytes(kept)


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


# CONNECT / CONNACK -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Properties


@dataclass
class Connect:
    level: int
    flags: int
    keepalive: int
    properties: Properties
    client_id: str
    rest: bytes  # will properties/topic/payload, username, password: kept as sent
    will: Will | None = None

    @property
    def clean_start(self) -> bool:
        return bool(self.flags & 0x02)

    @property
    def session_expiry(self) -> int:
        value = self.properties.values.get(SESSION_EXPIRY_INTERVAL, 0)
        return int(value) if isinstance(value, int) else 0

    @property
    def persistent(self) -> bool:
        """A persistent session (AWS IoT's ``PersistentConnect``): clean session 0 under 3.1.1, a session
        that outlives the connection (Session Expiry Interval > 0) under 5."""
        return self.session_expiry > 0 if self.level == MQTT5 else not self.clean_start

    def encode(
        self,
        *,
        username: str,
        password: str,
        keepalive: int | None = None,
        properties: bytes | None = None,
    ) -> bytes:
        """The same CONNECT with the edge's credentials for the upstream broker (``properties``: a
        replacement property block's bytes, without the length)."""
        flags = (self.flags | 0xC0) & 0xFE
        rest = _strip_credentials(self.rest, self.flags, self.level)
        keep = self.keepalive if keepalive is None else keepalive
        body = bytearray(encode_string("MQTT") + bytes([self.level, flags]) + struct.pack("!H", keep))
        if self.level == MQTT5:
            body += property_block(self.properties.raw if properties is None else properties)
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


def _parse_will(rest: bytes, flags: int, level: int) -> Will | None:
    if not flags & 0x04:
        return None
    props, pos = decode_properties(rest, 0) if level == MQTT5 else (Properties(), 0)
    topic, pos = decode_string(rest, pos)
    payload, _ = decode_binary(rest, pos)
    return Will(topic, payload, (flags >> 3) & 0x03, bool(flags & 0x20), props)


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
    if level not in (MQTT311, MQTT5):
        raise ProtocolError(f"unsupported protocol level {level}")
    props = Properties()
    if level == MQTT5:
        props, pos = decode_properties(body, pos)
    client_id, pos = decode_string(body, pos)
    rest = body[pos:]
    return Connect(level, flags, keepalive, props, client_id, rest, _parse_will(rest, flags, level))


def encode_connack(
    code: int, level: int, *, session_present: bool = False, properties: Mapping[int, object] | bytes = b""
) -> bytes:
    raw = (
        properties if isinstance(properties, bytes) else b"".join(encode_property(k, v) for k, v in properties.items())
    )
    body = bytes([1 if session_present and code == 0 else 0, code])
    return packet(CONNACK, 0, body + (property_block(raw) if level == MQTT5 else b""))


def parse_connack(raw: bytes, level: int) -> tuple[bool, int, Properties]:
    _, _, body = split(raw)
    if len(body) < 2:
        raise ProtocolError("truncated CONNACK")
    props = decode_properties(body, 2)[0] if level == MQTT5 and len(body) > 2 else Properties()
    return bool(body[0] & 1), body[1], props


def encode_disconnect(reason: int, level: int) -> bytes:
    return packet(DISCONNECT, 0, bytes([reason, 0]) if level == MQTT5 else b"")


# PUBLISH / PUBACK --------------------------------------------------------------------------------


@dataclass
class Publish:
    topic: str
    qos: int
    packet_id: int | None
    properties: Properties
    payload: bytes
    retain: bool = False
    dup: bool = False


def parse_publish(raw: bytes, level: int) -> Publish:
    _, flags, body = split(raw)
    qos = (flags >> 1) & 0x03
    topic, pos = decode_string(body, 0)
    packet_id = None
    if qos:
        packet_id = _u16(body, pos)
        pos += 2
    props = Properties()
    if level == MQTT5:
        props, pos = decode_properties(body, pos)
    return Publish(topic, qos, packet_id, props, body[pos:], bool(flags & 0x01), bool(flags & 0x08))


def encode_publish(
    topic: str,
    payload: bytes,
    level: int,
    *,
    qos: int = 0,
    packet_id: int | None = None,
    retain: bool = False,
    properties: bytes = b"",
) -> bytes:
    """A PUBLISH (QoS 1 needs ``packet_id``); ``properties`` are a property block's bytes."""
    body = bytearray(encode_string(topic))
    if qos:
        body += struct.pack("!H", packet_id or 0)
    if level == MQTT5:
        body += property_block(properties)
    body += payload
    return packet(PUBLISH, (qos << 1) | (1 if retain else 0), bytes(body))


def with_packet_id(raw: bytes, packet_id: int) -> bytes:
    """The same QoS 1 PUBLISH with another packet identifier (bytes after the topic)."""
    _, pos = decode_varint(raw, 1)
    (topic_length,) = struct.unpack_from("!H", raw, pos)
    at = pos + 2 + topic_length
    return raw[:at] + struct.pack("!H", packet_id) + raw[at + 2 :]


def parse_puback(raw: bytes) -> tuple[int, int]:
    """(packet identifier, reason code) of a PUBACK (reason 0 when the short form is used)."""
    _, _, body = split(raw)
    packet_id = _u16(body, 0)
    return packet_id, body[2] if len(body) > 2 else 0


def encode_puback(packet_id: int, reason: int, level: int) -> bytes:
    body = struct.pack("!H", packet_id) + (bytes([reason, 0]) if level == MQTT5 and reason else b"")
    return packet(PUBACK, 0, body)


# SUBSCRIBE / SUBACK / UNSUBSCRIBE ------------------------------------------------------------------


@dataclass
class Subscribe:
    packet_id: int
    properties: Properties
    filters: list[tuple[str, int]]  # (filter, options byte)


def parse_subscribe(raw: bytes, level: int) -> Subscribe:
    _, _, body = split(raw)
    packet_id = _u16(body, 0)
    pos = 2
    props = Properties()
    if level == MQTT5:
        props, pos = decode_properties(body, pos)
    filters = []
    while pos < len(body):
        topic, pos = decode_string(body, pos)
        if pos >= len(body):
            raise ProtocolError("SUBSCRIBE filter without options")
        filters.append((topic, body[pos]))
        pos += 1
    if not filters:
        raise ProtocolError("SUBSCRIBE without topic filters")
    return Subscribe(packet_id, props, filters)


def encode_subscribe(sub: Subscribe, filters: list[tuple[str, int]], level: int) -> bytes:
    body = bytearray(struct.pack("!H", sub.packet_id))
    if level == MQTT5:
        body += property_block(sub.properties.raw)
    for topic, options in filters:
        body += encode_string(topic) + bytes([options])
    return packet(SUBSCRIBE, 0x02, bytes(body))


def parse_unsubscribe(raw: bytes, level: int) -> list[str]:
    _, _, body = split(raw)
    pos = decode_properties(body, 2)[1] if level == MQTT5 else 2
    filters = []
    while pos < len(body):
        topic, pos = decode_string(body, pos)
        filters.append(topic)
    return filters


def parse_suback(raw: bytes, level: int) -> tuple[int, list[int]]:
    _, _, body = split(raw)
    packet_id = _u16(body, 0)
    pos = 2
    if level == MQTT5:
        _, pos = decode_properties(body, pos)
    return packet_id, list(body[pos:])


def encode_suback(packet_id: int, codes: list[int], level: int) -> bytes:
    body = struct.pack("!H", packet_id) + (b"\x00" if level == MQTT5 else b"") + bytes(codes)
    return packet(SUBACK, 0, body)


def without_topic_aliases(raw: bytes, level: int) -> bytes:
    """The CONNACK without a Topic Alias Maximum (the broker's own value never reaches a device)."""
    if level != MQTT5:
        return raw
    _, _, body = split(raw)
    props, end = decode_properties(body, 2)
    if TOPIC_ALIAS_MAXIMUM not in props.values:
        return raw
    kept = without_properties(props.raw, {TOPIC_ALIAS_MAXIMUM})
    return packet(CONNACK, 0, body[:2] + property_block(kept) + body[end:])
