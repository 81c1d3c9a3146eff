"""Key stores: files (0600, atomic, encrypted by default, one passphrase per store) and a SoftHSM token
(non-extractable, one login per process shared by threads)."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from provisioning.errors import PassphraseError, TokenError, UsageError
from provisioning.keys import STORE_MARKER, FileKeyStore, Pkcs11KeyStore


@pytest.mark.parametrize(("key_type", "kind"), [("ec-p256", ec), ("ec-p384", ec), ("rsa-2048", rsa)])
def test_file_keys_are_0600_and_sign_a_valid_csr(tmp_path: Path, key_type: str, kind: object) -> None:
    store = FileKeyStore(tmp_path / "keys")
    store.open()
    ref = store.generate("dev-1", key_type)  # type: ignore[arg-type]
    mode = stat.S_IMODE(Path(ref.location).stat().st_mode)
    assert mode == 0o600
    assert b"BEGIN PRIVATE KEY" in Path(ref.location).read_bytes()  # PKCS#8, plaintext store
    csr = x509.load_pem_x509_csr(store.csr("dev-1", "dev-1").encode())
    assert csr.is_signature_valid
    assert csr.public_key() == store.public_key("dev-1")
    assert not list(Path(ref.location).parent.glob(".*.tmp"))  # nothing half-written left behind


def test_encrypted_store_checks_its_passphrase_before_any_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    store = FileKeyStore(keys, passphrase=b"correct horse")
    store.open()
    assert not keys.exists(), "opening a new store writes nothing"
    store.generate("dev-1")
    assert (keys / "dev-1.key").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE((keys / STORE_MARKER).stat().st_mode) == 0o600
    with pytest.raises(PassphraseError, match="does not open the key store"):
        FileKeyStore(keys, passphrase=b"wrong").open()
    with pytest.raises(UsageError, match="encrypted and no passphrase"):
        FileKeyStore(keys).open()
    FileKeyStore(keys, passphrase=b"correct horse").open()
    assert FileKeyStore(keys, passphrase=b"correct horse").csr("dev-1", "dev-1")


def test_a_plaintext_store_refuses_a_passphrase(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    store.open()
    store.generate("dev-1")
    with pytest.raises(UsageError, match="stored unencrypted"):
        FileKeyStore(tmp_path, passphrase=b"x").open()


def test_tls_key_is_decrypted_in_memory_only(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path, passphrase=b"pw")
    store.open()
    store.generate("dev-1")
    pem = store.tls_key("dev-1")
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = serialization.load_pem_private_key(pem, password=None)
    assert loaded.public_key() == store.public_key("dev-1")
    for path in tmp_path.rglob("*"):
        assert b"BEGIN PRIVATE KEY" not in path.read_bytes()


@pytest.mark.integration
def test_token_key_is_generated_inside_and_never_leaves(softhsm: dict[str, str]) -> None:
    store = Pkcs11KeyStore(module=softhsm["module"], token_label=softhsm["token_label"], pin=softhsm["pin"])
    try:
        ref = store.generate("keys-dev-1")
        assert ref.describe() == "pkcs11:factory/keys-dev-1"
        assert store.exists("keys-dev-1")
        assert store.is_extractable("keys-dev-1") is False
        csr = x509.load_pem_x509_csr(store.csr("keys-dev-1", "keys-dev-1").encode())
        assert csr.is_signature_valid  # signed by the token
        assert csr.public_key() == store.public_key("keys-dev-1")
        with pytest.raises(UsageError, match="not supported"):
            store.generate("keys-dev-2", "rsa-2048")
    finally:
        store.close()


@pytest.mark.integration
def test_token_faults_are_station_faults(softhsm: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="no PKCS#11 token labelled 'absent'"):
        Pkcs11KeyStore(module=softhsm["module"], token_label="absent", pin=softhsm["pin"])
    with pytest.raises(TokenError, match="refused the PIN"):
        Pkcs11KeyStore(module=softhsm["module"], token_label="spare", pin="0000")
    with pytest.raises(TokenError, match="not found"):
        Pkcs11KeyStore(module=str(tmp_path / "nothing.so"), token_label="factory", pin=softhsm["pin"])


@pytest.mark.integration
def test_one_login_shared_by_threads_and_a_second_user(softhsm: dict[str, str]) -> None:
    """Login state is per process: two stores and eight threads share one session, no UserAlreadyLoggedIn."""
    first = Pkcs11KeyStore(module=softhsm["module"], token_label="factory", pin=softhsm["pin"])
    second = Pkcs11KeyStore(module=softhsm["module"], token_label="factory", pin=softhsm["pin"])
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(3):
                label = f"threads-{n}-{i}"
                (first if n % 2 else second).generate(label)
                assert x509.load_pem_x509_csr(first.csr(label, label).encode()).is_signature_valid
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert first.token is second.token
    with pytest.raises(TokenError, match="refused the PIN"):
        Pkcs11KeyStore(module=softhsm["module"], token_label="factory", pin="0000")
    first.close()
    assert second.exists("threads-0-0"), "the session stays open while a user is left"
    second.close()
