"""The local certificate authority that stands in for Amazon's: server and device certificates.

Device certificates follow AWS IoT (fact sheet 1.4): issued from the CSR's public key (the CSR's
subject is not copied; the subject is ``CN=AWS IoT Certificate``), valid until
2049-12-31T23:59:59Z, ``certificateId`` = SHA-256 of the DER. CSR keys must be RSA >= 2048 bits
or EC P-256/P-384/P-521.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from iot_emulator.errors import ServiceError
from iot_semantics import limits

DEVICE_NOT_AFTER = dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
DEVICE_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AWS IoT Certificate")])
_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


@dataclass(frozen=True)
class IssuedCertificate:
    certificate_id: str
    pem: str
    certificate: x509.Certificate


def certificate_id(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def write_private(path: Path, data: bytes) -> None:
    """Write key material 0600, atomically (never world-readable, never half-written)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def check_csr(pem: str) -> x509.CertificateSigningRequest:
    if not isinstance(pem, str) or not pem.strip():
        raise ServiceError(400, "InvalidRequest", "certificateSigningRequest is required.")
    if len(pem) > limits.CSR_MAX_CHARS:
        raise ServiceError(400, "InvalidRequest", f"The CSR is longer than {limits.CSR_MAX_CHARS} characters.")
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError: a damaged version field
        raise ServiceError(400, "InvalidRequest", "The certificate signing request is not a valid PEM CSR.") from None
    try:  # a damaged public key or signature surfaces only here, as ValueError or UnsupportedAlgorithm
        valid = csr.is_signature_valid
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise ServiceError(
            400, "InvalidRequest", "The certificate signing request has a public key that cannot be read."
        ) from None
    if not valid:
        raise ServiceError(400, "InvalidRequest", "The certificate signing request signature is not valid.")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ServiceError(400, "InvalidRequest", "RSA keys must be at least 2048 bits.")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _CURVES):
            raise ServiceError(400, "InvalidRequest", "EC keys must use P-256, P-384 or P-521.")
    else:
        raise ServiceError(400, "InvalidRequest", "Only RSA and EC keys are supported.")
    return csr


class CertificateAuthority:
    """Root CA (EC P-256) kept under ``directory``: ``ca.pem`` (public) and ``ca.key`` (0600)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.cert_path = directory / "ca.pem"
        key_path = directory / "ca.key"
        if self.cert_path.exists() and key_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} is not an EC key")
            self._key = key
            self.certificate = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            return
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Local IoT double root CA (not Amazon)")])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(DEVICE_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        write_private(
            key_path,
            self._key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        self.cert_path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def _builder(
        self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )

    def issue_device_certificate(self, public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> IssuedCertificate:
        cert = (
            self._builder(DEVICE_SUBJECT, public_key)
            .not_valid_after(DEVICE_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return IssuedCertificate(certificate_id(cert), pem, cert)

    def issue_from_csr(self, csr_pem: str) -> IssuedCertificate:
        key = check_csr(csr_pem).public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):  # pragma: no cover - check_csr
            raise ServiceError(400, "InvalidRequest", "unsupported key")
        return self.issue_device_certificate(key)

    def client_certificate(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Write ``<name>.pem``/``<name>.key``: a TLS client certificate with CN ``name``."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key.public_key())
            .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=365))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        return cert_path, key_path

    def server_certificate(
        self, directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    ) -> tuple[Path, Path]:
        """Write ``server.pem``/``server.key`` for the broker, valid for ``hosts``."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        cert = (
            self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]), key.public_key())
            .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert_path, key_path = directory / "server.pem", directory / "server.key"
        cert_path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM) + self.certificate.public_bytes(serialization.Encoding.PEM)
        )
        write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        return cert_path, key_path
