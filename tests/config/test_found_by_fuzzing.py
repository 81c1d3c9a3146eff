"""Inputs `make fuzz` found crashing the config loader; each now gets a result or a clear error."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from config.csr import check_csr_pem
from config.loader import load

ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_config_without_a_defender_section_loads_with_the_defaults(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "config" / "fleet.yaml").read_text())
    data.pop("defender", None)
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load(path)  # was: TypeError, cannot pickle 'mappingproxy' (pydantic deep-copied the default)
    assert config.defender.enabled is True
    assert dict(config.defender.fleets) == {}


def damaged_csr(offset: int) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    der = bytearray(
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "0")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    der[offset] ^= 0x01
    return (
        "-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(bytes(der)).decode()
        + "-----END CERTIFICATE REQUEST-----\n"
    )


def test_a_csr_with_a_damaged_public_key_is_refused_with_a_rule() -> None:
    # byte 28 sits in the key's algorithm identifier, 48 in the point: cryptography raised
    # UnsupportedAlgorithm and ValueError out of is_signature_valid
    for offset in (28, 48):
        message = check_csr_pem(damaged_csr(offset))
        assert message is not None
        assert "cannot be read" in message or "invalid signature" in message or "not a PEM" in message


def test_a_csr_with_a_damaged_version_is_refused_with_a_rule() -> None:
    message = check_csr_pem(damaged_csr(7))  # the version byte: cryptography raised InvalidVersion
    assert message is not None
    assert "not a PEM certificate signing request" in message
