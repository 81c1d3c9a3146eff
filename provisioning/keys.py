"""Device keys and CSRs: files (PKCS#8, 0600, atomic, encrypted by default) or a PKCS#11 token.

Handle with care: this module generates and stores private keys. Nothing here logs or returns key
material to a caller that could write it down: an encrypted key is decrypted in memory only (for
the CSR and for the TLS connection, which awscrt takes from memory); no unencrypted copy ever
reaches the disk. A PKCS#11 key is generated inside the token, marked non-extractable, and signs
there (SHA-256 on the host, ECDSA in the token).

PKCS#11 login state belongs to the process, not to a session: after one ``C_Login`` every session
of the process is logged in, and one ``C_Logout`` logs all of them out. So a process holds one
``Token`` per module and token label: the module initialised once with OS locking (through awscrt,
so the module is thread-safe for awscrt's TLS threads too), one logged-in session shared by the
workers under a lock, released (and logged out) after the last user is done.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.x509.oid import NameOID

from provisioning.constants import KEY_TYPES, KeyType
from provisioning.errors import DeviceError, PassphraseError, TokenError, UsageError

_CURVES: dict[str, ec.EllipticCurve] = {"ec-p256": ec.SECP256R1(), "ec-p384": ec.SECP384R1()}
#: Written beside the keys: whether the store is encrypted, and a sealed check value for the passphrase.
STORE_MARKER = ".keystore.json"
#: Handles of the most recent token keys kept by a key store (a handle is a number, not key material).
RECENT_TOKEN_KEYS = 4096
PASSPHRASE_FIX = "set PROVISIONING_KEY_PASSPHRASE_FILE (or PROVISIONING_KEY_PASSPHRASE) to the key store's passphrase"  # noqa: S105 - a hint


def write_private(path: Path, data: bytes) -> None:
    """0600 from the first byte, written to a temporary name and renamed (never half a key)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # a directory made for a key is 0700
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
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


def new_private_key(key_type: KeyType) -> Any:
    if key_type.startswith("ec-"):
        return ec.generate_private_key(_CURVES[key_type])
    return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type.split("-")[1]))


def seal(key: Any, passphrase: bytes | None) -> bytes:
    """PKCS#8 PEM, encrypted (PBES2, AES-256-CBC) when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    data: bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return data


def pem_in_memory(key: Any) -> bytes:
    """The unencrypted PKCS#8 PEM awscrt's TLS takes from memory; never write it anywhere."""
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return data


def is_encrypted(pem: bytes) -> bool:
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in pem


def open_private_key(path: Path, passphrase: bytes | None, *, what: str) -> Any:
    """Load a PEM private key, encrypted or not; each failure is one clear error naming the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    if is_encrypted(data) and not passphrase:
        raise UsageError(f"{what} {path} is encrypted and no passphrase was given", PASSPHRASE_FIX)
    try:
        return serialization.load_pem_private_key(data, password=passphrase if is_encrypted(data) else None)
    except ValueError:
        if is_encrypted(data):
            raise PassphraseError(f"the passphrase does not open {what} {path}", PASSPHRASE_FIX) from None
        raise UsageError(f"{what} {path} is not a PEM private key") from None


@dataclass(frozen=True)
class KeyRef:
    """Where a device key lives; safe to log and to store in the journal (no key material)."""

    store: Literal["file", "pkcs11"]
    location: str  # file path, or token label + key label

    def describe(self) -> str:
        return f"{self.store}:{self.location}"


class FileKeyStore:
    """Keys as PKCS#8 PEM files ``<directory>/<device>.key``, 0600, encrypted unless the store is plaintext.

    A store is encrypted or plaintext for its whole life (``.keystore.json`` says which and holds a
    sealed check value, so a wrong passphrase is refused before any device is touched).
    """

    def __init__(self, directory: Path, *, passphrase: bytes | None = None) -> None:
        self.directory = directory
        self.passphrase = passphrase or None
        self._unmarked = not (directory / STORE_MARKER).exists()
        self._mark_lock = threading.Lock()

    @property
    def encrypted(self) -> bool:
        return self.passphrase is not None

    def path(self, device: str) -> Path:
        return self.directory / f"{device}.key"

    def open(self) -> None:
        """Check the passphrase against the store (or start a new store); raise before any device is touched."""
        # The store's own directory is 0700: made so with its first key (write_private), set so here
        # for a store made before this rule. A new store writes nothing until its first key.
        if self.directory.is_dir():
            os.chmod(self.directory, 0o700)
        marker = self.directory / STORE_MARKER
        if not marker.exists():
            self._start(marker)
            return
        try:
            info = json.loads(marker.read_text())
            encrypted, check = bool(info["encrypted"]), str(info.get("check", ""))
        except (ValueError, KeyError, TypeError, OSError):
            raise UsageError(f"{marker} is damaged", "restore it from the station's backup") from None
        if encrypted and not self.encrypted:
            raise UsageError(
                f"the device keys in {self.directory} are encrypted and no passphrase was given", PASSPHRASE_FIX
            )
        if not encrypted and self.encrypted:
            raise UsageError(
                f"the device keys in {self.directory} are stored unencrypted",
                "pass --plaintext-keys for this work dir, or start a new --work-dir for encrypted keys",
            )
        if encrypted:
            try:
                serialization.load_pem_private_key(check.encode(), password=self.passphrase)
            except (ValueError, TypeError):
                raise PassphraseError(
                    f"the passphrase does not open the key store {self.directory}", PASSPHRASE_FIX
                ) from None

    def _start(self, marker: Path) -> None:
        """A store without its marker: judge it by its first key, if any; the marker comes with the first key."""
        existing = sorted(self.directory.glob("*.key")) if self.directory.is_dir() else []
        if existing:  # a store from before the marker
            open_private_key(existing[0], self.passphrase, what="device key")
        self._unmarked = True

    def _mark(self) -> None:
        info: dict[str, object] = {"format": 1, "encrypted": self.encrypted}
        if self.encrypted:
            info["check"] = seal(ec.generate_private_key(ec.SECP256R1()), self.passphrase).decode()
        write_private(self.directory / STORE_MARKER, json.dumps(info).encode())
        self._unmarked = False

    def generate(self, device: str, key_type: KeyType = "ec-p256", *, known_absent: bool = False) -> KeyRef:
        """A new key for ``device`` (replacing one there is); ``known_absent`` is for the token's interface."""
        if self._unmarked:
            with self._mark_lock:
                if self._unmarked:
                    self._mark()
        write_private(self.path(device), seal(new_private_key(key_type), self.passphrase))
        return KeyRef("file", str(self.path(device)))

    def exists(self, device: str) -> bool:
        return self.path(device).exists()

    def load(self, device: str) -> Any:
        if not self.exists(device):
            raise DeviceError(f"key of {device} not found at {self.path(device)}", "the device gets a new key on retry")
        return open_private_key(self.path(device), self.passphrase, what=f"the key of {device}")

    def csr(self, device: str, common_name: str) -> str:
        return build_csr(self.load(device), common_name)

    def public_key(self, device: str) -> Any:
        return self.load(device).public_key()

    def tls_key(self, device: str) -> bytes:
        """The key as awscrt takes it, decrypted in memory (see ``pem_in_memory``)."""
        return pem_in_memory(self.load(device))

    def close(self) -> None:
        """Nothing to release (the interface is the same as a token's)."""


class TokenEcKey(ec.EllipticCurvePrivateKey):
    """An EC key that stays in a PKCS#11 token; only ``sign`` and ``public_key`` work."""

    def __init__(self, token: Token, private: Any, public: ec.EllipticCurvePublicKey) -> None:
        self._token = token
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
        with self._token.session():
            raw = self._private.sign(digest, mechanism=Mechanism.ECDSA)  # SoftHSM offers raw ECDSA only
        half = len(raw) // 2
        return utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise DeviceError("token keys are for signing only")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise DeviceError("the key is non-extractable and stays in the token")

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise DeviceError("the key is non-extractable and stays in the token")

    def __copy__(self) -> TokenEcKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenEcKey:
        return self


class _Module:
    """A PKCS#11 module loaded once per process: awscrt's handle and python-pkcs11's, one C_Initialize."""

    _loaded: dict[str, _Module] = {}  # noqa: RUF012 - process-wide by design
    _lock = threading.Lock()

    def __init__(self, path: str) -> None:
        from awscrt import io
        from pkcs11 import _pkcs11

        class _AlreadyInitialised(_pkcs11.lib):
            def initialize(self) -> None:
                """awscrt has called C_Initialize (with OS locking); python-pkcs11 must not call it again."""

        if not Path(path).is_file():
            raise TokenError(
                f"PKCS#11 module {path} not found", "install the token's module and pass its path with --pkcs11-module"
            )
        try:
            # awscrt initialises the module with OS locking (CKF_OS_LOCKING_OK and mutex callbacks): the
            # module is then safe for awscrt's TLS threads and our workers at once. It never finalises it.
            self.crt = io.Pkcs11Lib(file=path, behavior=io.Pkcs11Lib.InitializeFinalizeBehavior.DEFAULT)
            self.lib = _AlreadyInitialised(path)
        except Exception as exc:  # awscrt raises RuntimeError or AwsCrtError, python-pkcs11 PKCS11Error
            raise TokenError(
                f"cannot load PKCS#11 module {path}: {exc}", "check that it is a PKCS#11 module for this machine"
            ) from None

    @classmethod
    def get(cls, path: str) -> _Module:
        with cls._lock:
            if path not in cls._loaded:
                cls._loaded[path] = cls(path)
            return cls._loaded[path]


class Token:
    """One token of one module, logged in once for the whole process and shared by every worker.

    ``Token.acquire`` and ``release`` count users; the first logs in, the last logs out. Every
    operation, awscrt's session set-up included (``session()`` around the TLS context), holds the lock.
    """

    _open: dict[tuple[str, str], Token] = {}  # noqa: RUF012 - process-wide by design
    _registry_lock = threading.Lock()

    def __init__(self, module: _Module, module_path: str, label: str, pin: str) -> None:
        from pkcs11 import exceptions

        self.module = module
        self.module_path = module_path
        self.label = label
        self._pin = pin
        self._lock = threading.RLock()
        self._users = 0
        try:
            token = module.lib.get_token(token_label=label)
        except exceptions.NoSuchToken:
            raise TokenError(
                f"no PKCS#11 token labelled {label!r} in {module_path}", "insert the token or pass its --token-label"
            ) from None
        except exceptions.PKCS11Error as exc:
            raise TokenError(
                f"cannot look up token {label!r}: {type(exc).__name__}", "check the token and its module"
            ) from None
        #: The slot's ID (what the Greengrass PKCS#11 provider's ``slot`` names).
        self.slot_id = int(token.slot.slot_id)
        try:
            self._session = token.open(rw=True, user_pin=pin)
        except (exceptions.PinIncorrect, exceptions.PinInvalid, exceptions.PinLenRange):
            raise TokenError(
                f"token {label!r} refused the PIN", "set PROVISIONING_PKCS11_PIN to the token's user PIN"
            ) from None
        except exceptions.PinLocked:
            raise TokenError(
                f"the PIN of token {label!r} is locked", "unlock it with the security officer PIN"
            ) from None
        except exceptions.UserAlreadyLoggedIn:
            # This process is already logged in to the token (login state is per process): a plain
            # session shares that login.
            self._session = token.open(rw=True)
        except exceptions.PKCS11Error as exc:
            raise TokenError(
                f"cannot open a session on token {label!r}: {type(exc).__name__}", "check the token"
            ) from None

    @classmethod
    def acquire(cls, *, module: str, token_label: str, pin: str) -> Token:
        import hmac

        with cls._registry_lock:
            token = cls._open.get((module, token_label))
            if token is None:
                token = cls(_Module.get(module), module, token_label, pin)
                cls._open[(module, token_label)] = token
            elif not hmac.compare_digest(token._pin.encode(), pin.encode()):
                raise TokenError(
                    f"token {token_label!r} refused the PIN", "set PROVISIONING_PKCS11_PIN to the token's user PIN"
                )
            token._users += 1
            return token

    def release(self) -> None:
        with type(self)._registry_lock:
            self._users -= 1
            if self._users > 0:
                return
            del type(self)._open[(self.module_path, self.label)]
        with self._lock:
            self._session.close()  # C_Logout + C_CloseSession: every session of the process is logged out

    @property
    def pin(self) -> str:
        return self._pin

    @contextmanager
    def session(self) -> Iterator[Any]:
        """The shared logged-in session, one caller at a time (PKCS#11 sessions are not thread-safe)."""
        from pkcs11 import exceptions

        with self._lock:
            try:
                yield self._session
            except (exceptions.TokenNotPresent, exceptions.DeviceRemoved, exceptions.DeviceError) as exc:
                raise TokenError(
                    f"token {self.label!r} is gone ({type(exc).__name__})", "reconnect the token and run again"
                ) from None
            except (exceptions.UserNotLoggedIn, exceptions.SessionClosed, exceptions.SessionHandleInvalid) as exc:
                raise TokenError(
                    f"the session on token {self.label!r} was lost ({type(exc).__name__})", "run the batch again"
                ) from None


class Pkcs11KeyStore:
    """EC keys generated in a PKCS#11 token (SoftHSM, a TPM or an HSM), one per device label."""

    def __init__(self, *, module: str, token_label: str, pin: str) -> None:
        self.token = Token.acquire(module=module, token_label=token_label, pin=pin)
        self.module, self.token_label = module, token_label
        self._closed = False
        self._recent: OrderedDict[str, TokenEcKey] = OrderedDict()
        self._recent_lock = threading.Lock()
        #: The token's private-key labels, once ``open()`` has read them.
        self._labels: set[str] | None = None

    def open(self) -> None:
        """The token was opened (and the PIN checked) by the constructor; list its key labels once.

        A lookup by label walks every object of a token (SoftHSM: ~25 µs each), so a batch reads the
        labels once and keeps the set up to date with the keys it makes.
        """
        from pkcs11 import Attribute, ObjectClass

        with self.token.session() as session:
            labels = {str(obj[Attribute.LABEL]) for obj in session.get_objects({0x0000: ObjectClass.PRIVATE_KEY})}
        with self._recent_lock:
            self._labels = labels

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.token.release()

    def generate(self, device: str, key_type: KeyType = "ec-p256", *, known_absent: bool = False) -> KeyRef:
        """A new key pair in the token; an old one with the label is destroyed unless ``known_absent``."""
        from pkcs11 import Attribute
        from pkcs11 import KeyType as Pkcs11KeyType
        from pkcs11.util.ec import encode_named_curve_parameters

        if key_type not in ("ec-p256", "ec-p384"):
            raise UsageError(f"{key_type} in a token is not supported here", "use --key-type ec-p256 or ec-p384")
        curve = "secp256r1" if key_type == "ec-p256" else "secp384r1"
        with self._recent_lock:
            self._recent.pop(device, None)
        with self.token.session() as session:
            if not known_absent:
                self._delete(session, device)
            params = session.create_domain_parameters(
                Pkcs11KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
            )
            public, private = params.generate_keypair(
                store=True,
                label=device,
                id=device.encode(),
                private_template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True, Attribute.SIGN: True},
            )
            self._remember(device, self._token_key(private, public))
        with self._recent_lock:
            if self._labels is not None:
                self._labels.add(device)
        return KeyRef("pkcs11", f"{self.token_label}/{device}")

    def _remember(self, device: str, key: TokenEcKey) -> None:
        """Keep the handles of recent keys: a token's lookup by label costs time in the number of its objects."""
        with self._recent_lock:
            self._recent[device] = key
            while len(self._recent) > RECENT_TOKEN_KEYS:
                self._recent.popitem(last=False)

    def _token_key(self, private: Any, public: Any) -> TokenEcKey:
        from pkcs11.util.ec import encode_ec_public_key

        loaded = serialization.load_der_public_key(encode_ec_public_key(public))
        if not isinstance(loaded, ec.EllipticCurvePublicKey):  # pragma: no cover - EC by construction
            raise DeviceError("the token key is not EC")
        return TokenEcKey(self.token, private, loaded)

    def _delete(self, session: Any, device: str) -> None:
        from pkcs11 import ObjectClass

        for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
            for obj in list(session.get_objects({0x0003: device, 0x0000: cls})):  # CKA_LABEL, CKA_CLASS
                obj.destroy()

    def exists(self, device: str) -> bool:
        from pkcs11 import ObjectClass

        with self._recent_lock:
            if self._labels is not None:
                return device in self._labels
        with self.token.session() as session:
            return any(True for _ in session.get_objects({0x0003: device, 0x0000: ObjectClass.PRIVATE_KEY}))

    def load(self, device: str) -> TokenEcKey:
        from pkcs11 import KeyType as Pkcs11KeyType
        from pkcs11 import ObjectClass, exceptions

        with self._recent_lock:
            if (recent := self._recent.get(device)) is not None:
                return recent
        with self.token.session() as session:
            try:
                private = session.get_key(ObjectClass.PRIVATE_KEY, Pkcs11KeyType.EC, label=device)
                public = session.get_key(ObjectClass.PUBLIC_KEY, Pkcs11KeyType.EC, label=device)
            except (exceptions.NoSuchKey, exceptions.MultipleObjectsReturned) as exc:
                with self._recent_lock:
                    if self._labels is not None:
                        self._labels.discard(device)
                raise DeviceError(
                    f"token key of {device}: {type(exc).__name__}", "the device gets a new key on retry"
                ) from None
            key = self._token_key(private, public)
        self._remember(device, key)
        return key

    def csr(self, device: str, common_name: str) -> str:
        return build_csr(self.load(device), common_name)

    def public_key(self, device: str) -> ec.EllipticCurvePublicKey:
        return self.load(device).public_key()

    def is_extractable(self, device: str) -> bool:
        from pkcs11 import Attribute, ObjectClass

        with self.token.session() as session:
            (obj,) = list(session.get_objects({0x0003: device, 0x0000: ObjectClass.PRIVATE_KEY}))
            return bool(obj[Attribute.EXTRACTABLE]) or not bool(obj[Attribute.SENSITIVE])


KeyStore = FileKeyStore | Pkcs11KeyStore
__all__ = ["KEY_TYPES", "FileKeyStore", "KeyRef", "KeyStore", "KeyType", "Pkcs11KeyStore", "Token"]
