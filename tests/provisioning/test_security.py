"""Security of a station's batch: no private key material outside the key store (stdout, stderr, log
lines, journal, batch manifest, bundles), key files 0600 in 0700 directories, and an encrypted key
store that opens only with its passphrase. The keys are looked for by their secret itself (the EC
private scalar, the PKCS#8 DER and its base64), not only by PEM markers."""

from __future__ import annotations

import base64
import logging
import shutil
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from contracts.exit_status import ExitStatus
from iot_emulator.double import Double
from tests.iot_emulator.helpers import Identity
from tests.provisioning.conftest import PASSPHRASE, cli, common, write_manifest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]


def secrets_of(key: ec.EllipticCurvePrivateKey) -> list[bytes]:
    """Byte strings that would reveal ``key``: its scalar (raw and hex), its PKCS#8 DER, and that DER's base64."""
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    b64 = base64.b64encode(der)
    return [scalar, scalar.hex().encode(), der, b64[:64], b64[-64:]]


def leaks(blob: bytes, secrets: list[bytes]) -> bool:
    return any(s in blob for s in secrets) or b"BEGIN PRIVATE KEY" in blob or b"BEGIN EC PRIVATE KEY" in blob


def test_no_key_material_outside_the_encrypted_store_and_modes_are_private(
    double: Double,
    claim: Identity,
    outputs: Path,
    tmp_path: Path,
    passphrase_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    serials = [f"SEC{i:07d}" for i in range(4)]
    for s in serials:
        double.allow_serial("sensors", s)
    work = tmp_path / "work"
    caplog.set_level(logging.DEBUG)
    args = ["run", str(write_manifest(tmp_path / "m.csv", serials)), *common(outputs, work, 2)]
    args += ["--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file)]
    result = cli(*args, environ=passphrase_env)
    assert result.status == ExitStatus.OK, result.text

    keys_dir = work / "keys"
    secrets: list[bytes] = []
    for serial in serials:
        sealed = (keys_dir / f"{serial}.key").read_bytes()
        assert sealed.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        key = serialization.load_pem_private_key(sealed, PASSPHRASE.encode())
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        secrets += secrets_of(key)
    assert claim.key is not None
    secrets += secrets_of(claim.key)

    outputs_seen = (result.out + result.err + "\n".join(r.getMessage() for r in caplog.records)).encode()
    assert not leaks(outputs_seen, secrets), "key material on stdout, stderr or in a log record"
    for path in work.rglob("*"):  # the journal (and its WAL), batch manifest, bundles, and the keys themselves
        if path.is_file():
            assert not leaks(path.read_bytes(), secrets), f"key material in {path.relative_to(work)}"

    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700, "the key directory must be 0700"
    for path in keys_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path.name} must be 0600"
    assert not list(keys_dir.glob(".*.tmp")), "a temporary key file was left behind"


def test_the_encrypted_store_opens_only_with_its_passphrase(
    double: Double,
    claim: Identity,
    outputs: Path,
    tmp_path: Path,
    passphrase_env: dict[str, str],
) -> None:
    serials = ["SECP0000001"]
    double.allow_serial("sensors", serials[0])
    work = tmp_path / "work"
    manifest = write_manifest(tmp_path / "m.csv", serials)
    base = ["run", str(manifest), *common(outputs, work, 1), "--claim-cert", str(claim.cert_file)]
    base += ["--claim-key", str(claim.key_file)]
    assert cli(*base, environ=passphrase_env).status == ExitStatus.OK
    sealed = (work / "keys" / f"{serials[0]}.key").read_bytes()
    with pytest.raises(TypeError):  # no passphrase: cryptography will not even try
        serialization.load_pem_private_key(sealed, None)
    with pytest.raises(ValueError, match=r"(?i)password|decrypt"):  # a wrong one does not open it
        serialization.load_pem_private_key(sealed, b"not the passphrase")

    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    wrong.chmod(0o600)
    refused = cli(*base, environ={**passphrase_env, "PROVISIONING_KEY_PASSPHRASE_FILE": str(wrong)})
    assert refused.status == ExitStatus.UNAVAILABLE, refused.text
    assert "passphrase does not open the key store" in refused.err
    assert "Traceback" not in refused.text
    missing = cli(*base, environ={k: v for k, v in passphrase_env.items() if not k.startswith("PROVISIONING_KEY")})
    assert missing.status != ExitStatus.OK
    assert "Traceback" not in missing.text
