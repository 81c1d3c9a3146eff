"""The double's MQTT endpoint refuses what AWS IoT Core refuses: no client certificate, an expired,
revoked or unknown-CA certificate, and a client ID the certificate's policy does not allow.

Each refusal has a control beside it (the same identity, set right, is accepted), so a test that
passes because nothing connects at all cannot pass.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from iot_emulator import mqtt_codec as mc
from iot_emulator.ca import certificate_id
from iot_emulator.double import Double
from tests.iot_emulator.helpers import Identity, connect_packet, device_with_policy, identity

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]

NOT_AUTHORIZED = 0x87


def connack(double: Double, client_id: str, cert: Path | None, key: Path | None) -> int | None:
    """The CONNACK reason code, or None when the endpoint ended the connection without one."""
    context = ssl.create_default_context(cafile=str(double.endpoint.ca_file))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    raw = socket.create_connection(("127.0.0.1", double.endpoint.port), timeout=5)
    try:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(connect_packet(client_id))
            data = b""
            while len(data) < 4:
                chunk = tls.recv(64)
                if not chunk:
                    return None
                data += chunk
    except (ssl.SSLError, ConnectionError, TimeoutError):
        return None
    assert data[0] >> 4 == mc.CONNACK
    return data[3]


def connect_anywhere(double: Double, directory: Path, name: str) -> Identity:
    return device_with_policy(double, directory, name, [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}])


def test_no_client_certificate_is_refused(double: Double, tmp_path: Path) -> None:
    ident = connect_anywhere(double, tmp_path, "refusal-control")
    assert connack(double, "refusal-control", ident.cert_file, ident.key_file) == 0  # the control
    assert connack(double, "refusal-control", None, None) is None


def _signed_by_double(double: Double, key: ec.EllipticCurvePrivateKey, *, days: tuple[int, int]) -> x509.Certificate:
    ca_dir = double.state_dir / "ca"
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .sign(ca_key, hashes.SHA256())
    )


@pytest.mark.parametrize(("days", "accepted"), [((-30, -1), False), ((-1, 30), True)])
def test_an_expired_certificate_is_refused(
    double: Double, tmp_path: Path, days: tuple[int, int], accepted: bool
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _signed_by_double(double, key, days=days)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_id = certificate_id(cert)
    double.registry.add_certificate(cert_id, pem, token=None, token_ttl=None, status="ACTIVE")
    double.registry.define(
        thing_types=[], groups={}, policies={"refusal-any": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}}
    )  # fmt: skip
    double.registry.attach_policy("refusal-any", double.registry.cert_arn(cert_id))
    cert_file, key_file = tmp_path / "c.pem", tmp_path / "c.key"
    cert_file.write_text(pem)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    assert connack(double, "expiry-probe", cert_file, key_file) == (0 if accepted else None)


def test_a_revoked_or_inactive_certificate_is_refused(double: Double, tmp_path: Path) -> None:
    ident = connect_anywhere(double, tmp_path, "refusal-revoked")
    assert connack(double, "revoked-probe", ident.cert_file, ident.key_file) == 0
    assert ident.cert_file is not None
    cert_id = certificate_id(x509.load_pem_x509_certificate(ident.cert_file.read_bytes()))
    for status in ("REVOKED", "INACTIVE"):
        double.registry.set_certificate_status(cert_id, status)
        assert connack(double, "revoked-probe", ident.cert_file, ident.key_file) == NOT_AUTHORIZED, status


def test_a_certificate_from_an_unknown_ca_is_refused(double: Double, tmp_path: Path) -> None:
    ident = identity(tmp_path, "self-signed")
    assert ident.key is not None
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ident.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(ident.key, hashes.SHA256())
    )
    cert_file = tmp_path / "self-signed.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # even registered as ACTIVE (as a certificate registered without its CA would be), TLS refuses it
    double.registry.add_certificate(
        certificate_id(cert), cert_file.read_text(), token=None, token_ttl=None, status="ACTIVE"
    )
    assert connack(double, "self-signed", cert_file, ident.key_file) is None


def test_a_client_id_the_policy_does_not_allow_is_refused(double: Double, tmp_path: Path) -> None:
    ident = device_with_policy(
        double,
        tmp_path,
        "refusal-client-id",
        [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "client/line-1-*"}],
    )
    assert connack(double, "line-1-station", ident.cert_file, ident.key_file) == 0
    assert connack(double, "line-2-station", ident.cert_file, ident.key_file) == NOT_AUTHORIZED
