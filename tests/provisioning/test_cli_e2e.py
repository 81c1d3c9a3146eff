"""The factory CLI against the local double (real mosquitto, mutual TLS, the project's hook), as a station runs it."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from contracts.exit_status import ExitStatus
from iot_emulator.double import Double
from provisioning.journal import Journal
from provisioning.keys import Pkcs11KeyStore
from tests.iot_emulator.helpers import Identity
from tests.provisioning.conftest import PASSPHRASE, cli, common, write_manifest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]


def claim_args(claim: Identity) -> list[str]:
    return ["--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file)]


def no_private_key_in(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            assert b"BEGIN PRIVATE KEY" not in path.read_bytes(), f"unencrypted key material in {path}"
            assert b"BEGIN RSA PRIVATE KEY" not in path.read_bytes(), f"unencrypted key material in {path}"


# the acceptance matrix: key store x workers x claim --------------------------------------------------------

STORES = ("file", "encrypted", "pkcs11")


@pytest.mark.parametrize("how", ["claim", "trusted-user"])
@pytest.mark.parametrize("workers", [1, 8])
@pytest.mark.parametrize("store", STORES)
def test_matrix_every_device_provisioned_and_verified(
    store: str,
    workers: int,
    how: str,
    double: Double,
    claim: Identity,
    outputs: Path,
    tmp_path: Path,
    passphrase_env: dict[str, str],
    private_tmp: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cell = f"{STORES.index(store)}{workers % 8}{0 if how == 'claim' else 1}"
    serials = [f"SN9{cell}{i:04d}" for i in range(3 if workers == 1 else 9)]
    for s in serials:
        double.allow_serial("sensors", s)
    work = tmp_path / "work"
    environ = dict(passphrase_env)
    args = ["run", str(write_manifest(tmp_path / "b.csv", serials)), *common(outputs, work, workers)]
    if store == "file":
        args.append("--plaintext-keys")
    if store == "pkcs11":
        token = request.getfixturevalue("softhsm")
        environ["PROVISIONING_PKCS11_PIN"] = token["pin"]
        args += ["--key-store", "pkcs11", "--pkcs11-module", token["module"], "--token-label", token["token_label"]]
    if how == "claim":
        args += claim_args(claim)
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "operator")  # boto3 reads the process environment
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator")
        args.append("--trusted-user")
    result = cli(*args, environ=environ)
    assert result.status == ExitStatus.OK, result.text
    assert f"{len(serials)} provisioned and verified" in result.out
    journal = Journal(work / "journal.sqlite")
    assert journal.counts() == {"verified": len(serials)}
    journal.close()
    for s in serials:
        bundle = work / "bundles" / f"sensor-{s}"
        device = json.loads((bundle / "device.json").read_text())
        assert device["thingName"] == device["clientId"] == f"sensor-{s}"
        record = double.registry.certificate(device["certificateId"])
        assert record is not None
        assert record.status == "ACTIVE"
        assert double.registry.thing_principals(f"sensor-{s}") == [double.registry.cert_arn(device["certificateId"])]
        cert = x509.load_pem_x509_certificate((bundle / "certificate.pem").read_bytes())
        assert not (bundle / "private.key").exists(), "each key is kept once, in its store"
        if store == "pkcs11":
            assert device["key"] == {"pkcs11TokenLabel": "factory", "pkcs11KeyLabel": s}
            keys = Pkcs11KeyStore(module=token["module"], token_label="factory", pin=token["pin"])
            try:
                assert keys.is_extractable(s) is False
                assert keys.public_key(s) == cert.public_key()
            finally:
                keys.close()
            continue
        key_file = (bundle / device["key"]["file"]).resolve()
        assert key_file == (work / "keys" / f"{s}.key").resolve()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert device["key"]["encrypted"] is (store == "encrypted")
        password = PASSPHRASE.encode() if store == "encrypted" else None
        if store == "encrypted":
            assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=password)
        assert key.public_key() == cert.public_key()
    if store != "file":
        no_private_key_in(work)
    assert list(private_tmp.iterdir()) == [], "nothing left in the temporary directory"


def test_encrypted_claim_key_and_resume_skips_finished(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, passphrase_env: dict[str, str]
) -> None:
    """The claim key itself encrypted with the station passphrase; a second run changes nothing."""
    assert claim.key is not None
    sealed = tmp_path / "claim.key"
    sealed.write_bytes(
        claim.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    sealed.chmod(0o600)
    serials = [f"SN4000000{i}" for i in range(3)]
    for s in serials:
        double.allow_serial("sensors", s)
    manifest = write_manifest(tmp_path / "batch.csv", serials)
    work = tmp_path / "work"
    args = [
        "run",
        str(manifest),
        *common(outputs, work),
        "--claim-cert",
        str(claim.cert_file),
        "--claim-key",
        str(sealed),
    ]
    result = cli(*args, environ=passphrase_env)
    assert result.status == ExitStatus.OK, result.text
    journal = Journal(work / "journal.sqlite")
    states = [to for _, to, _ in journal.events(serials[0])]
    journal.close()
    assert states == ["key_made", "csr_sent", "cert_received", "registered", "verified"]
    assert "PRIVATE KEY" not in (work / "journal.sqlite").read_bytes().decode(errors="replace")
    manifest_csv = (work / "bundles" / "batch-manifest.csv").read_text()
    assert manifest_csv.count("verified") == 3
    result = cli(*args, environ=passphrase_env)
    assert result.status == ExitStatus.OK
    assert "0 provisioned and verified, 3 skipped" in result.out


def test_hook_denial_is_a_device_failure_then_retry_failed(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path
) -> None:
    serials = ["SN44000001", "SN44000002"]
    double.allow_serial("sensors", serials[0])  # the second is not on the allowlist yet
    manifest = write_manifest(tmp_path / "b.csv", serials)
    work = tmp_path / "work"
    base = [*common(outputs, work), *claim_args(claim), "--plaintext-keys"]
    result = cli("run", str(manifest), *base)
    assert result.status == ExitStatus.FAILED
    assert "failed SN44000002: the pre-provisioning hook denied the device" in result.out
    status = cli("status", "--work-dir", str(work))
    assert status.status == ExitStatus.FAILED
    assert "failed: 1" in status.out
    assert "verified: 1" in status.out
    double.allow_serial("sensors", serials[1])
    result = cli("retry-failed", str(manifest), *base)
    assert result.status == ExitStatus.OK, result.text
    assert "1 provisioned and verified, 1 skipped" in result.out
    assert cli("status", "--work-dir", str(work)).status == ExitStatus.OK
    thing = "sensor-SN44000002"
    active = [
        p for p in double.registry.thing_principals(thing)
        if (c := double.registry.certificate(p.rsplit("/", 1)[1])) is not None and c.status == "ACTIVE"
    ]  # fmt: skip
    assert len(active) == 1


def test_bad_manifest_is_refused_before_any_device_is_touched(claim: Identity, outputs: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "bad.csv"
    manifest.write_text(
        "SerialNumber,MacAddress\n"
        "SN43000001,AA:BB:CC:DD:EE:01\n"
        "sn-lower,AA:BB:CC:DD:EE:02\n"
        "SN43000001,AA:BB:CC:DD:EE:03\n"
        "SN43000004,not-a-mac\n"
    )
    work = tmp_path / "work"
    result = cli("run", str(manifest), *common(outputs, work), *claim_args(claim), "--plaintext-keys")
    assert result.status == ExitStatus.USAGE
    assert not work.exists()
    for line in (":3: SerialNumber 'sn-lower'", ":4: serial SN43000001 repeats line 2", ":5: MacAddress 'not-a-mac'"):
        assert line in result.err, result.err


def test_claim_csr_command_encrypts_the_claim_key(tmp_path: Path, passphrase_env: dict[str, str]) -> None:
    key, csr = tmp_path / "claim.key", tmp_path / "claim.csr.pem"
    result = cli("claim-csr", "--key", str(key), "--csr", str(csr), environ=passphrase_env)
    assert result.status == ExitStatus.OK, result.text
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert x509.load_pem_x509_csr(csr.read_bytes()).is_signature_valid
    assert "PRIVATE" not in result.text
    again = cli("claim-csr", "--key", str(key), "--csr", str(csr), environ=passphrase_env)
    assert again.status == ExitStatus.USAGE
    assert "exists" in again.err


def test_doctor_passes_on_a_good_station_and_names_the_fix_on_a_bad_one(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path
) -> None:
    base = ["doctor", "--outputs", str(outputs), "--fleet", "sensors"]
    result = cli(*base, *claim_args(claim))
    assert result.status == ExitStatus.OK, result.text
    assert "FAIL" not in result.out
    assert "RegisterThing answered" in result.out
    assert "Warning" not in result.err
    loose = tmp_path / "claim.key"
    loose.write_bytes(claim.key_file.read_bytes())
    loose.chmod(0o644)
    from iot_emulator.ca import CertificateAuthority

    wrong_ca = tmp_path / "other-ca.pem"
    wrong_ca.write_text(CertificateAuthority(tmp_path / "other").pem)
    result = cli(*base, "--ca-file", str(wrong_ca), "--claim-cert", str(claim.cert_file), "--claim-key", str(loose))
    assert result.status == ExitStatus.FAILED
    assert "FAIL endpoint reachable" in result.out
    assert "does not verify against" in result.out
    assert f"chmod 600 {loose}" in result.out
