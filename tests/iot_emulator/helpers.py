"""Helpers for the double's MQTT tests: device identities and a recording paho client."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from iot_emulator.double import Double

TEMPLATE = "acme-dev-sensors"
BAD_CSR = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"
CSR_TOPIC = "$aws/certificates/create-from-csr/json"
REGISTER_TOPIC = f"$aws/provisioning-templates/{TEMPLATE}/provision/json"


@dataclass
class Identity:
    key: ec.EllipticCurvePrivateKey | None
    key_file: Path
    csr: str
    cert_file: Path | None = None


def identity(directory: Path, name: str) -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = directory / f"{name}.key"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return Identity(key, key_file, csr.public_bytes(serialization.Encoding.PEM).decode())


class Client:
    """A paho client that records messages and acknowledgements."""

    def __init__(
        self, double: Double, ident: Identity, client_id: str, protocol: MQTTProtocolVersion = mqtt.MQTTv5
    ) -> None:
        self.messages: dict[str, list[Any]] = {}
        self.pubacks: dict[int, int] = {}
        self.subacks: dict[int, list[int]] = {}
        #: Notified on every PUBACK and SUBACK, so tests wait for the packet instead of sleeping.
        self.acked = threading.Condition()
        self.connack: Any = None
        self.disconnected = threading.Event()
        self.connected = threading.Event()
        self.arrived = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        assert ident.cert_file is not None
        self.client.tls_set(
            ca_certs=str(double.endpoint.ca_file), certfile=str(ident.cert_file), keyfile=str(ident.key_file)
        )
        self.client.on_message = self._message
        self.client.on_connect = self._connect
        self.client.on_publish = self._publish
        self.client.on_subscribe = self._subscribe
        self.client.on_disconnect = lambda *a: self.disconnected.set()
        self.client.connect(double.endpoint.host, double.endpoint.port)
        self.client.loop_start()

    def _connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connack = reason
        self.connected.set()

    def _publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self.acked:
            self.pubacks[mid] = reason.value if hasattr(reason, "value") else int(reason)
            self.acked.notify_all()

    def _subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        with self.acked:
            self.subacks[mid] = [r.value if hasattr(r, "value") else int(r) for r in reasons]
            self.acked.notify_all()

    def puback(self, mid: int, timeout: float = 10) -> int:
        """The reason code of the PUBACK for ``mid``, once it arrived."""
        with self.acked:
            if not self.acked.wait_for(lambda: mid in self.pubacks, timeout):
                raise AssertionError(f"no PUBACK for message {mid}")
            return self.pubacks[mid]

    def _message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self.arrived:
            self.messages.setdefault(msg.topic, []).append(json.loads(msg.payload))
            self.arrived.notify_all()

    def wait_for(self, topics: list[str], timeout: float = 15) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while time.monotonic() < deadline:
                for t in topics:
                    if self.messages.get(t):
                        return t, self.messages[t].pop(0)
                self.arrived.wait(0.1)
        raise AssertionError(f"no message on {topics}")

    def request(self, topic: str, payload: Any) -> tuple[str, Any]:
        self.client.publish(topic, json.dumps(payload) if not isinstance(payload, bytes) else payload, qos=1)
        return self.wait_for([f"{topic}/accepted", f"{topic}/rejected"])

    def subscribe(self, *topics: str, timeout: float = 10) -> list[int]:
        """Subscribe and wait for the SUBACK; its reason codes, one per topic."""
        result, mid = self.client.subscribe([(t, 1) for t in topics])
        if mid is None:
            raise AssertionError(f"SUBSCRIBE not sent ({result})")
        with self.acked:
            if not self.acked.wait_for(lambda: mid in self.subacks, timeout):
                raise AssertionError(f"no SUBACK for {topics}")
            return self.subacks[mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# Devices with a policy of the test's own, and a raw MQTT client for byte-exact probes ------------------


def device_with_policy(double: Double, directory: Path, name: str, statements: list[dict[str, Any]]) -> Identity:
    """A certificate with policy ``name`` (the given statements, resources relative to the ARN prefix)."""
    prefix = double.assembly.iot_arn_prefix

    def arn(resource: str) -> str:
        return resource if resource == "*" or resource.startswith("arn:") else f"{prefix}:{resource}"

    document = {
        "Version": "2012-10-17",
        "Statement": [
            {**s, "Resource": [arn(r) for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]}
            for s in statements
        ],
    }
    double.registry.define(thing_types=[], groups={}, policies={name: document})
    ident = identity(directory, name)
    _, pem = double.add_certificate(ident.csr, [name])
    ident.cert_file = directory / f"{name}.pem"
    ident.cert_file.write_text(pem)
    return ident


class RawClient:
    """MQTT over mutual TLS, packet by packet, with the double's own codec (for reason codes and flags)."""

    def __init__(self, double: Double, ident: Identity, port: int | None = None, alpn: str | None = None) -> None:
        import socket
        import ssl

        context = ssl.create_default_context(cafile=str(double.endpoint.ca_file))
        assert ident.cert_file is not None
        context.load_cert_chain(str(ident.cert_file), str(ident.key_file))
        if alpn:
            context.set_alpn_protocols([alpn])
        raw = socket.create_connection(("127.0.0.1", port or double.endpoint.port), timeout=5)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        self.buffer = b""

    def send(self, packet: bytes) -> None:
        self.sock.sendall(packet)

    def read(self, timeout: float = 5.0) -> bytes | None:
        """One packet, or None when none arrives in time; b"" when the connection closed."""
        import ssl

        from iot_emulator import mqtt_codec as mc

        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= 2:
                try:
                    length, pos = mc.decode_varint(self.buffer, 1)
                except Exception:
                    length, pos = -1, 0
                if length >= 0 and len(self.buffer) >= pos + length:
                    packet, self.buffer = self.buffer[: pos + length], self.buffer[pos + length :]
                    return packet
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            except (ConnectionError, ssl.SSLError, OSError):
                return b""
            if not chunk:
                return b""
            self.buffer += chunk

    def read_kind(self, kind: int, timeout: float = 5.0) -> bytes | None:
        """The next packet of ``kind`` (others skipped); None on timeout, b"" when closed."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            packet = self.read(left)
            if not packet or packet[0] >> 4 == kind:
                return packet
        return None

    def close(self) -> None:
        self.sock.close()


def connect_packet(
    client_id: str,
    *,
    level: int = 5,
    clean: bool = True,
    keepalive: int = 60,
    will: tuple[str, bytes, int, bool] | None = None,
    properties: bytes = b"",
) -> bytes:
    import struct

    from iot_emulator import mqtt_codec as mc

    flags = 0x02 if clean else 0
    if will is not None:
        _topic, _payload, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
    body = mc.encode_string("MQTT") + bytes([level, flags]) + struct.pack("!H", keepalive)
    if level == 5:
        body += mc.property_block(properties)
    body += mc.encode_string(client_id)
    if will is not None:
        if level == 5:
            body += mc.property_block(b"")
        body += mc.encode_string(will[0]) + mc.encode_string(will[1])
    return mc.packet(mc.CONNECT, 0, body)


def subscribe_packet(packet_id: int, filters: list[tuple[str, int]], level: int = 5, properties: bytes = b"") -> bytes:
    import struct

    from iot_emulator import mqtt_codec as mc

    body = struct.pack("!H", packet_id) + (mc.property_block(properties) if level == 5 else b"")
    for topic_filter, options in filters:
        body += mc.encode_string(topic_filter) + bytes([options])
    return mc.packet(mc.SUBSCRIBE, 0x02, body)
