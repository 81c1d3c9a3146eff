"""Key stores: files (0600, atomic, encrypted on request) and a SoftHSM token (non-extractable)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from provisioning.errors import ProvisioningError
from provisioning.keys import FileKeyStore, Pkcs11KeyStore


@pytest.mark.parametrize(("key_type", "kind"), [("ec-p256", ec), ("ec-p384", ec), ("rsa-2048", rsa)])
def test_file_keys_are_0600_and_sign_a_valid_csr(tmp_path: Path, key_type: str, kind: object) -> None:
    store = FileKeyStore(tmp_path / "keys")
    ref = store.generate("dev-1", key_type)  # type: ignore[arg-type]
    mode = stat.S_IMODE(Path(ref.location).stat().st_mode)
    assert mode == 0o600
    assert b"BEGIN PRIVATE KEY" in Path(ref.location).read_bytes()  # PKCS#8
    csr = x509.load_pem_x509_csr(store.csr("dev-1", "dev-1").encode())
    assert csr.is_signature_valid
    assert csr.public_key() == store.public_key("dev-1")
    assert not list(Path(ref.location).parent.glob(".*.tmp"))  # nothing half-written left behind


def test_encrypted_file_key_needs_the_passphrase(tmp_path: Path) -> None:
    FileKeyStore(tmp_path, passphrase=b"correct horse").generate("dev-1")
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "dev-1.key").read_bytes()
    with pytest.raises(ProvisioningError, match="passphrase"):
        FileKeyStore(tmp_path, passphrase=b"wrong").load("dev-1")
    assert FileKeyStore(tmp_path, passphrase=b"correct horse").csr("dev-1", "dev-1")


def test_token_key_is_generated_inside_and_never_leaves(softhsm: dict[str, str]) -> None:
    store = Pkcs11KeyStore(module=softhsm["module"], token_label=softhsm["token_label"], pin=softhsm["pin"])
    ref = store.generate("dev-1")
    assert ref.describe() == "pkcs11:factory/dev-1"
    assert store.exists("dev-1")
    assert store.is_extractable("dev-1") is False
    csr = x509.load_pem_x509_csr(store.csr("dev-1", "dev-1").encode())
    assert csr.is_signature_valid  # signed by the token
    assert csr.public_key() == store.public_key("dev-1")


def test_token_refuses_rsa_and_bad_token(softhsm: dict[str, str]) -> None:
    store = Pkcs11KeyStore(module=softhsm["module"], token_label=softhsm["token_label"], pin=softhsm["pin"])
    with pytest.raises(ProvisioningError, match="not supported"):
        store.generate("dev-1", "rsa-2048")
    with pytest.raises(ProvisioningError, match="cannot open PKCS#11 token"):
        Pkcs11KeyStore(module=softhsm["module"], token_label="no-such-token", pin="1")
