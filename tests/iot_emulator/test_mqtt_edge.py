"""The double over real MQTT: mosquitto behind the mutual-TLS edge, driven by paho and by AWS's own
device SDK (awsiotsdk IotIdentityClientV2 on MQTT 5, IotIdentityClient on MQTT 3.1.1)."""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from paho.mqtt.enums import MQTTProtocolVersion

from iot_emulator.double import Double
from tests.iot_emulator.helpers import BAD_CSR, CSR_TOPIC, REGISTER_TOPIC, TEMPLATE, Client, Identity, identity

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]


def provision_with_paho(
    double: Double, claim: Identity, directory: Path, serial: str, protocol: MQTTProtocolVersion = mqtt.MQTTv5
) -> tuple[Identity, str]:
    double.allow_serial("sensors", serial)
    c = Client(double, claim, f"claim.acme-dev-sensors.{uuid.uuid4().hex[:8]}", protocol)
    assert c.connected.wait(10)
    try:
        c.subscribe(
            f"{CSR_TOPIC}/accepted", f"{CSR_TOPIC}/rejected", f"{REGISTER_TOPIC}/accepted", f"{REGISTER_TOPIC}/rejected"
        )
        device = identity(directory, serial)
        topic, created = c.request(CSR_TOPIC, {"certificateSigningRequest": device.csr})
        assert topic.endswith("/accepted"), created
        topic, registered = c.request(
            REGISTER_TOPIC,
            {
                "certificateOwnershipToken": created["certificateOwnershipToken"],
                "parameters": {"SerialNumber": serial, "MacAddress": "AA:BB:CC:DD:EE:01"},
            },
        )
        assert topic.endswith("/accepted"), registered
        device.cert_file = directory / f"{serial}.pem"
        device.cert_file.write_text(created["certificatePem"])
        cert = x509.load_pem_x509_certificate(created["certificatePem"].encode())
        assert device.key is not None
        assert cert.public_key() == device.key.public_key()
        return device, registered["thingName"]
    finally:
        c.close()


def test_claim_flow_then_device_is_confined_to_its_own_topics(double: Double, claim: Identity, tmp_path: Path) -> None:
    device, thing = provision_with_paho(double, claim, tmp_path, "SN10000001")
    assert thing == "sensor-SN10000001"
    me = Client(double, device, thing)
    assert me.connected.wait(10)
    assert not me.connack.is_failure
    own = me.client.publish(f"dt/sensors/{thing}/telemetry", b"{}", qos=1)
    other = me.client.publish("dt/sensors/sensor-SN10000002/telemetry", b"{}", qos=1)
    assert me.puback(own.mid) < 0x80  # success (mosquitto says 0x10 "no matching subscribers")
    assert me.puback(other.mid) == 0x87  # Not authorized
    me.close()
    # the same certificate with another client ID is refused at CONNECT
    impostor = Client(double, device, "sensor-SN10000002")
    assert impostor.connected.wait(10)
    assert impostor.connack.is_failure
    impostor.close()


def test_mqtt311_refused_publish_disconnects(double: Double, claim: Identity, tmp_path: Path) -> None:
    device, thing = provision_with_paho(double, claim, tmp_path, "SN10000003", protocol=mqtt.MQTTv311)
    me = Client(double, device, thing, protocol=mqtt.MQTTv311)
    assert me.connected.wait(10)
    me.client.publish("dt/sensors/sensor-SN99999999/telemetry", b"{}", qos=1)
    assert me.disconnected.wait(5)
    me.close()


def test_awsiotsdk_identity_v2_on_mqtt5(double: Double, claim: Identity, tmp_path: Path) -> None:
    from awscrt import mqtt_request_response
    from awsiot import iotidentity, mqtt5_client_builder

    double.allow_serial("sensors", "SN10000004")
    connected = threading.Event()
    assert claim.cert_file is not None
    client = mqtt5_client_builder.mtls_from_path(
        endpoint=double.endpoint.host,
        port=double.endpoint.port,
        cert_filepath=str(claim.cert_file),
        pri_key_filepath=str(claim.key_file),
        ca_filepath=str(double.endpoint.ca_file),
        client_id="claim.acme-dev-sensors.sdk5",
        on_lifecycle_connection_success=lambda data: connected.set(),
    )
    client.start()
    try:
        assert connected.wait(15)
        identity_client = iotidentity.IotIdentityClientV2(
            client,
            mqtt_request_response.ClientOptions(max_request_response_subscriptions=2, max_streaming_subscriptions=2),
        )
        device = identity(tmp_path, "SN10000004")
        created = identity_client.create_certificate_from_csr(
            iotidentity.CreateCertificateFromCsrRequest(certificate_signing_request=device.csr)
        ).result(30)
        cert = x509.load_pem_x509_certificate(created.certificate_pem.encode())
        assert device.key is not None
        assert cert.public_key() == device.key.public_key()
        cert.verify_directly_issued_by(double.ca.certificate)
        registered = identity_client.register_thing(
            iotidentity.RegisterThingRequest(
                template_name=TEMPLATE,
                certificate_ownership_token=created.certificate_ownership_token,
                parameters={"SerialNumber": "SN10000004", "MacAddress": "AA:BB:CC:DD:EE:04"},
            )
        ).result(30)
        assert registered.thing_name == "sensor-SN10000004"
        thing = double.registry.thing("sensor-SN10000004")
        assert thing is not None
        assert thing.groups == ("acme-dev-plant-a-sensors",)
        assert thing.attributes["mac"] == "AA:BB:CC:DD:EE:04"
        with pytest.raises(Exception, match=r"InvalidCertificateOwnershipToken|400"):
            identity_client.register_thing(
                iotidentity.RegisterThingRequest(
                    template_name=TEMPLATE,
                    certificate_ownership_token=created.certificate_ownership_token,
                    parameters={"SerialNumber": "SN10000004", "MacAddress": "AA:BB:CC:DD:EE:04"},
                )
            ).result(30)
        denied = identity(tmp_path, "SN10000099")
        created = identity_client.create_certificate_from_csr(
            iotidentity.CreateCertificateFromCsrRequest(certificate_signing_request=denied.csr)
        ).result(30)
        with pytest.raises(Exception, match=r"AccessDenied|403"):
            identity_client.register_thing(
                iotidentity.RegisterThingRequest(
                    template_name=TEMPLATE,
                    certificate_ownership_token=created.certificate_ownership_token,
                    parameters={"SerialNumber": "SN10000099", "MacAddress": "AA:BB:CC:DD:EE:99"},
                )
            ).result(30)
    finally:
        client.stop()


def _keep(store: dict[str, Any], response: Any, done: threading.Event) -> None:
    store["r"] = response
    done.set()


def test_awsiotsdk_identity_v1_on_mqtt311(double: Double, claim: Identity, tmp_path: Path) -> None:
    from awscrt.mqtt import QoS
    from awsiot import iotidentity, mqtt_connection_builder

    double.allow_serial("sensors", "SN10000005")
    assert claim.cert_file is not None
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint=double.endpoint.host,
        port=double.endpoint.port,
        cert_filepath=str(claim.cert_file),
        pri_key_filepath=str(claim.key_file),
        ca_filepath=str(double.endpoint.ca_file),
        client_id="claim.acme-dev-sensors.sdk3",
    )
    connection.connect().result(15)
    try:
        identity_client = iotidentity.IotIdentityClient(connection)
        created: dict[str, Any] = {}
        registered: dict[str, Any] = {}
        done = threading.Event()
        identity_client.subscribe_to_create_certificate_from_csr_accepted(
            iotidentity.CreateCertificateFromCsrSubscriptionRequest(),
            QoS.AT_LEAST_ONCE,
            lambda r: _keep(created, r, done),
        )[0].result(10)
        identity_client.subscribe_to_register_thing_accepted(
            iotidentity.RegisterThingSubscriptionRequest(template_name=TEMPLATE),
            QoS.AT_LEAST_ONCE,
            lambda r: _keep(registered, r, done),
        )[0].result(10)
        device = identity(tmp_path, "SN10000005")
        identity_client.publish_create_certificate_from_csr(
            iotidentity.CreateCertificateFromCsrRequest(certificate_signing_request=device.csr), QoS.AT_LEAST_ONCE
        ).result(10)
        assert done.wait(15)
        done.clear()
        identity_client.publish_register_thing(
            iotidentity.RegisterThingRequest(
                template_name=TEMPLATE,
                certificate_ownership_token=created["r"].certificate_ownership_token,
                parameters={"SerialNumber": "SN10000005", "MacAddress": "AA:BB:CC:DD:EE:05"},
            ),
            QoS.AT_LEAST_ONCE,
        ).result(10)
        assert done.wait(15)
        assert registered["r"].thing_name == "sensor-SN10000005"
    finally:
        connection.disconnect().result(10)


def test_32_concurrent_devices_never_see_each_others_responses(double: Double, claim: Identity, tmp_path: Path) -> None:
    serials = [f"SN2{i:07d}" for i in range(32)]

    def one(serial: str) -> tuple[str, Identity, str]:
        device, thing = provision_with_paho(double, claim, tmp_path, serial)
        return serial, device, thing

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, serials))
    for serial, device, thing in results:
        assert thing == f"sensor-{serial}"
        assert device.cert_file is not None
        cert = x509.load_pem_x509_certificate(device.cert_file.read_bytes())
        assert device.key is not None
        assert cert.public_key() == device.key.public_key()  # its own certificate, for its own key


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"{not json", "InvalidRequest"),
        (
            {"certificateSigningRequest": BAD_CSR},
            "InvalidRequest",
        ),
    ],
    ids=["bad-json", "bad-csr"],
)
def test_malformed_csr_requests_are_rejected_and_the_double_keeps_serving(
    double: Double, claim: Identity, payload: Any, code: str
) -> None:
    c = Client(double, claim, f"claim.acme-dev-sensors.{uuid.uuid4().hex[:6]}")
    assert c.connected.wait(10)
    c.subscribe(f"{CSR_TOPIC}/accepted", f"{CSR_TOPIC}/rejected")
    topic, body = c.request(CSR_TOPIC, payload)
    assert topic.endswith("/rejected")
    assert set(body) == {"statusCode", "errorCode", "errorMessage"}
    assert body["statusCode"] == 400
    assert body["errorCode"] == code
    topic, _ = c.request(CSR_TOPIC, {"certificateSigningRequest": identity(Path(double.state_dir), "ok").csr})
    assert topic.endswith("/accepted")
    c.close()


def test_empty_token_and_unknown_template(double: Double, tmp_path: Path) -> None:
    broad = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"],
                "Resource": "*",
            }
        ],
    }
    double.registry.define(thing_types=[], groups={}, policies={"test-broad": broad})
    ident = identity(tmp_path, "broad")
    _, pem = double.add_certificate(ident.csr, ["test-broad"])
    ident.cert_file = tmp_path / "broad.pem"
    ident.cert_file.write_text(pem)
    c = Client(double, ident, "anything")
    assert c.connected.wait(10)
    unknown = "$aws/provisioning-templates/no-such-template/provision/json"
    c.subscribe(
        f"{REGISTER_TOPIC}/rejected", f"{REGISTER_TOPIC}/accepted", f"{unknown}/rejected", f"{unknown}/accepted"
    )
    topic, body = c.request(REGISTER_TOPIC, {"certificateOwnershipToken": ""})
    assert body == {
        "statusCode": 400,
        "errorCode": "InvalidCertificateOwnershipToken",
        "errorMessage": "Certificate ownership token cannot be empty.",
    }
    topic, body = c.request(unknown, {"certificateOwnershipToken": "x"})
    assert topic.endswith("/rejected")
    assert body["statusCode"] == 404
    c.close()


def test_broker_restart_drops_connections_and_devices_reconnect(double: Double, claim: Identity) -> None:
    c = Client(double, claim, f"claim.acme-dev-sensors.{uuid.uuid4().hex[:6]}")
    assert c.connected.wait(10)
    c.connected.clear()
    double.restart_broker()
    assert c.disconnected.wait(10)
    assert c.connected.wait(20), "paho reconnects on its own once the broker is back"
    assert not c.connack.is_failure
    c.close()


def test_devices_cannot_bypass_the_edge_to_reach_mosquitto(double: Double, claim: Identity) -> None:
    """mosquitto requires a certificate from the internal CA, which only the edge holds."""
    assert claim.cert_file is not None
    assert not _broker_accepts(double, claim)
    # control: the edge's own certificate gets an answer (a CONNACK refusing the missing password)
    internal = double.state_dir / "internal-ca"
    edge = Identity(
        key=None, key_file=internal / "iot-double-edge.key", csr="", cert_file=internal / "iot-double-edge.pem"
    )
    assert _broker_accepts(double, edge)


def _broker_accepts(double: Double, ident: Identity) -> bool:
    """Connect straight to mosquitto with a device certificate; True if it answers CONNECT."""
    assert ident.cert_file is not None
    context = ssl.create_default_context(cafile=str(double.state_dir / "internal-ca" / "ca.pem"))
    context.load_cert_chain(str(ident.cert_file), str(ident.key_file))
    connect = bytes([0x10, 0x0D, 0, 4]) + b"MQTT" + bytes([5, 2, 0, 60, 0, 0, 0])
    try:
        with socket.create_connection(("127.0.0.1", double.broker.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(connect)
                return len(tls.recv(16)) > 0  # TLS 1.3 reports a refused certificate on the first read
    except (ssl.SSLError, OSError):
        return False


def test_expired_tokens_are_swept_in_the_background(double: Double) -> None:
    double.knobs.token_ttl_seconds = 0.1
    try:
        created = double.service.create_certificate_from_csr(
            {"certificateSigningRequest": identity(double.state_dir, "x").csr}
        )
    finally:
        double.knobs.token_ttl_seconds = 3600
    with double.swept:  # the sweeper notifies after each pass (every second)
        assert double.swept.wait_for(lambda: created["certificateId"] in double.swept_ids, timeout=5)
    assert double.registry.certificate(created["certificateId"]) is None
