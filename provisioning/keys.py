"""Device keys and CSRs: files (PKCS#8, 0600, atomic, optionally encrypted) or a PKCS#11 token.

Handle with care: this module generates and stores private keys. Nothing here logs or returns key
material; a PKCS#11 key is generated inside the token, marked non-extractable, and signs the CSR
there (SHA-256 on the host, ECDSA in the token).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.x509.oid import NameOID

from provisioning.errors import ProvisioningError

KeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"]
KEY_TYPES: tuple[KeyType, ...] = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072")
_CURVES: dict[str, ec.EllipticCurve] = {"ec-p256": ec.SECP256R1(), "ec-p384": ec.SECP384R1()}


def write_private(path: Path, data: bytes) -> None:
    """0600 from the first byte, written to a temporary name and renamed (never half a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def build_csr(key: Any, common_name: str) -> str:
    """PKCS#10 CSR signed with SHA-256 (AWS IoT does not copy the subject into the certificate)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class KeyRef:
    """Where a device key lives; safe to log and to store in the journal (no key material)."""

    store: Literal["file", "pkcs11"]
    location: str  # file path, or token label + key label

    def describe(self) -> str:
        return f"{self.store}:{self.location}"


class FileKeyStore:
    """Keys as PKCS#8 PEM files ``<directory>/<device>.key``, 0600, encrypted when a passphrase is set."""

    def __init__(self, directory: Path, *, passphrase: bytes | None = None) -> None:
        self.directory = directory
        self.passphrase = passphrase

    def path(self, device: str) -> Path:
        return self.directory / f"{device}.key"

    def generate(self, device: str, key_type: KeyType = "ec-p256") -> KeyRef:
        if key_type.startswith("ec-"):
            key: Any = ec.generate_private_key(_CURVES[key_type])
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=int(key_type.split("-")[1]))
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(self.passphrase) if self.passphrase else serialization.NoEncryption()
        )
        write_private(
            self.path(device),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption),
        )
        return KeyRef("file", str(self.path(device)))

    def exists(self, device: str) -> bool:
        return self.path(device).exists()

    def load(self, device: str) -> Any:
        try:
            data = self.path(device).read_bytes()
        except OSError as exc:
            raise ProvisioningError(f"key of {device} not found at {self.path(device)}", "re-run the batch") from exc
        try:
            return serialization.load_pem_private_key(data, password=self.passphrase)
        except (ValueError, TypeError):
            raise ProvisioningError(
                f"cannot open the key of {device}", "check the key passphrase (PROVISIONING_KEY_PASSPHRASE)"
            ) from None

    def csr(self, device: str, common_name: str) -> str:
        return build_csr(self.load(device), common_name)

    def public_key(self, device: str) -> Any:
        return self.load(device).public_key()


class TokenEcKey(ec.EllipticCurvePrivateKey):
    """An EC key that stays in a PKCS#11 token; only ``sign`` and ``public_key`` work."""

    def __init__(self, private: Any, public: ec.EllipticCurvePublicKey) -> None:
        self._private = private
        self._public = public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign(
        self, data: bytes | bytearray | memoryview, signature_algorithm: ec.EllipticCurveSignatureAlgorithm
    ) -> bytes:
        from pkcs11 import Mechanism

        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, utils.Prehashed):
            digest = bytes(data)
        else:
            h = hashes.Hash(algorithm)
            h.update(data)
            digest = h.finalize()
        raw = self._private.sign(digest, mechanism=Mechanism.ECDSA)  # SoftHSM offers raw ECDSA only
        half = len(raw) // 2
        return utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise ProvisioningError("token keys are for signing only")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise ProvisioningError("the key is non-extractable and stays in the token")

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise ProvisioningError("the key is non-extractable and stays in the token")

    def __copy__(self) -> TokenEcKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenEcKey:
        return self


class Pkcs11KeyStore:
    """EC keys generated in a PKCS#11 token (SoftHSM, a TPM or an HSM), one per device label."""

    def __init__(self, *, module: str, token_label: str, pin: str) -> None:
        import pkcs11

        try:
            self._lib = pkcs11.lib(module)
            self._token = self._lib.get_token(token_label=token_label)
        except Exception as exc:
            raise ProvisioningError(
                f"cannot open PKCS#11 token {token_label!r} with {module}", "check the module path and token label"
            ) from exc
        self.module, self.token_label, self.pin = module, token_label, pin
        self._lock = threading.RLock()

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """One token operation at a time: some modules (and tokens) are not thread-safe."""
        with self._lock, self._token.open(user_pin=self.pin, rw=True) as session:
            yield session

    def generate(self, device: str, key_type: KeyType = "ec-p256") -> KeyRef:
        from pkcs11 import Attribute
        from pkcs11 import KeyType as Pkcs11KeyType
        from pkcs11.util.ec import encode_named_curve_parameters

        if key_type not in ("ec-p256", "ec-p384"):
            raise ProvisioningError(f"{key_type} in a token is not supported here", "use ec-p256 or ec-p384")
        curve = "secp256r1" if key_type == "ec-p256" else "secp384r1"
        with self._session() as session:
            self._delete(session, device)
            params = session.create_domain_parameters(
                Pkcs11KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
            )
            params.generate_keypair(
                store=True,
                label=device,
                id=device.encode(),
                private_template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True, Attribute.SIGN: True},
            )
        return KeyRef("pkcs11", f"{self.token_label}/{device}")

    def _delete(self, session: Any, device: str) -> None:
        from pkcs11 import ObjectClass

        for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
            for obj in session.get_objects({0x0003: device, 0x0000: cls}):  # CKA_LABEL, CKA_CLASS
                obj.destroy()

    def exists(self, device: str) -> bool:
        from pkcs11 import ObjectClass

        with self._session() as session:
            return any(True for _ in session.get_objects({0x0003: device, 0x0000: ObjectClass.PRIVATE_KEY}))

    def _key(self, session: Any, device: str) -> TokenEcKey:
        from pkcs11 import KeyType as Pkcs11KeyType
        from pkcs11 import ObjectClass
        from pkcs11.util.ec import encode_ec_public_key

        private = session.get_key(ObjectClass.PRIVATE_KEY, Pkcs11KeyType.EC, label=device)
        public = session.get_key(ObjectClass.PUBLIC_KEY, Pkcs11KeyType.EC, label=device)
        loaded = serialization.load_der_public_key(encode_ec_public_key(public))
        if not isinstance(loaded, ec.EllipticCurvePublicKey):  # pragma: no cover - EC by construction
            raise ProvisioningError(f"token key of {device} is not EC")
        return TokenEcKey(private, loaded)

    def csr(self, device: str, common_name: str) -> str:
        with self._session() as session:
            return build_csr(self._key(session, device), common_name)

    def public_key(self, device: str) -> ec.EllipticCurvePublicKey:
        with self._session() as session:
            return self._key(session, device).public_key()

    def is_extractable(self, device: str) -> bool:
        from pkcs11 import Attribute, ObjectClass

        with self._session() as session:
            (obj,) = list(session.get_objects({0x0003: device, 0x0000: ObjectClass.PRIVATE_KEY}))
            return bool(obj[Attribute.EXTRACTABLE])


KeyStore = FileKeyStore | Pkcs11KeyStore
