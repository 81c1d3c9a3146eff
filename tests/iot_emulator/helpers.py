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
