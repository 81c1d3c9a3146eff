"""One device, provisioned the way AWS's SDK sample does it: one process run per device.

Make the key and CSR, connect with the claim certificate, CreateCertificateFromCsr, RegisterThing,
disconnect, reconnect as the thing and publish once, exit. The baseline of bench_factory.py.

    python bench/sample_style_device.py OUT_DIR SERIAL HOST PORT CA_FILE CLAIM_CERT CLAIM_KEY
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from awscrt import mqtt5, mqtt_request_response
from awsiot import iotidentity, mqtt5_client_builder
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def connect(host: str, port: int, ca: str, client_id: str, cert: str, key: str) -> Any:
    done = threading.Event()
    client = mqtt5_client_builder.mtls_from_path(
        endpoint=host,
        port=port,
        cert_filepath=cert,
        pri_key_filepath=key,
        ca_filepath=ca,
        client_id=client_id,
        on_lifecycle_connection_success=lambda data: done.set(),
    )
    client.start()
    if not done.wait(15):
        raise SystemExit(f"could not connect as {client_id}")
    return client


def main() -> int:
    out, serial, host, port, ca, claim_cert, claim_key = Path(sys.argv[1]), *sys.argv[2:8]
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = out / "device.key"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    claim = connect(host, int(port), ca, f"claim.acme-dev-sensors.sample-{serial}", claim_cert, claim_key)
    options = mqtt_request_response.ClientOptions(max_request_response_subscriptions=2, max_streaming_subscriptions=2)
    identity = iotidentity.IotIdentityClientV2(claim, options)
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    created = identity.create_certificate_from_csr(
        iotidentity.CreateCertificateFromCsrRequest(certificate_signing_request=pem)
    ).result(30)
    (out / "device.pem").write_text(created.certificate_pem)
    thing = (
        identity.register_thing(
            iotidentity.RegisterThingRequest(
                template_name="acme-dev-sensors",
                certificate_ownership_token=created.certificate_ownership_token,
                parameters={"SerialNumber": serial, "MacAddress": "AA:BB:CC:DD:EE:FF"},
            )
        )
        .result(30)
        .thing_name
    )
    claim.stop()
    device = connect(host, int(port), ca, thing, str(out / "device.pem"), str(key_file))
    packet = mqtt5.PublishPacket(
        topic=f"dt/sensors/{thing}/provisioning-check", payload=b"{}", qos=mqtt5.QoS.AT_LEAST_ONCE
    )
    device.publish(packet).result(15)
    device.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
