"""The factory CLI against the local double (real mosquitto, mutual TLS, the project's hook)."""

from __future__ import annotations

import io
import json
import shutil
import stat
from pathlib import Path

import pytest
from cryptography import x509

from iot_emulator.double import Double
from provisioning.cli import ExitStatus, run
from provisioning.journal import Journal
from provisioning.manifest import ManifestError, validate
from tests.iot_emulator.helpers import Identity

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)")


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = run(list(args), out=out)
    return code, out.getvalue()


@pytest.fixture
def outputs(double: Double, tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    double.write_outputs(path)
    return path


def write_manifest(path: Path, serials: list[str], extra: str = "") -> Path:
    lines = ["SerialNumber,MacAddress" + (",key_store" if extra else "")]
    lines += [f"{s},AA:BB:CC:DD:EE:{i:02X}" + (f",{extra}" if extra else "") for i, s in enumerate(serials)]
    path.write_text("\n".join(lines) + "\n")
    return path


def common(outputs: Path, work: Path) -> list[str]:
    return ["--outputs", str(outputs), "--fleet", "sensors", "--work-dir", str(work), "--workers", "2", "--rate", "0"]


def test_claim_batch_with_file_keys_then_resume_skips_finished(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path
) -> None:
    serials = [f"SN4000000{i}" for i in range(5)]
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
        str(claim.key_file),
    ]
    code, text = cli(*args)
    assert code == ExitStatus.OK, text
    assert "5 provisioned and verified" in text
    for s in serials:
        bundle = work / "bundles" / f"sensor-{s}"
        device = json.loads((bundle / "device.json").read_text())
        assert device["thingName"] == device["clientId"] == f"sensor-{s}"
        assert device["deviceConfiguration"]["telemetryTopic"] == f"dt/sensors/sensor-{s}/telemetry"
        assert stat.S_IMODE((bundle / "private.key").stat().st_mode) == 0o600
        cert = x509.load_pem_x509_certificate((bundle / "certificate.pem").read_bytes())
        record = double.registry.certificate(device["certificateId"])
        assert record is not None
        assert record.status == "ACTIVE"
        assert double.registry.thing_principals(f"sensor-{s}") == [double.registry.cert_arn(device["certificateId"])]
        assert cert.public_key() is not None
    journal = Journal(work / "journal.sqlite")
    assert journal.counts() == {"verified": 5}
    states = [to for _, to, _ in journal.events(serials[0])]
    assert states == ["key_made", "csr_sent", "cert_received", "registered", "verified"]
    journal.close()
    assert "PRIVATE KEY" not in (work / "journal.sqlite").read_bytes().decode(errors="replace")
    manifest_csv = (work / "bundles" / "batch-manifest.csv").read_text()
    assert manifest_csv.count("verified") == 5
    # a second run skips every finished device and changes nothing
    code, text = cli(*args)
    assert code == ExitStatus.OK
    assert "0 provisioned and verified, 5 skipped" in text


def test_pkcs11_keys_never_leave_the_token(
    double: Double,
    claim: Identity,
    outputs: Path,
    tmp_path: Path,
    softhsm: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serials = ["SN41000001", "SN41000002"]
    for s in serials:
        double.allow_serial("sensors", s)
    monkeypatch.setenv("PROVISIONING_PKCS11_PIN", softhsm["pin"])
    work = tmp_path / "work"
    code, text = cli(
        "run", str(write_manifest(tmp_path / "b.csv", serials)), *common(outputs, work),
        "--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file),
        "--key-store", "pkcs11", "--pkcs11-module", softhsm["module"], "--token-label", softhsm["token_label"],
    )  # fmt: skip
    assert code == ExitStatus.OK, text
    for s in serials:
        bundle = work / "bundles" / f"sensor-{s}"
        assert not (bundle / "private.key").exists()
        assert json.loads((bundle / "device.json").read_text())["key"] == {
            "pkcs11TokenLabel": "factory",
            "pkcs11KeyLabel": s,
        }
    assert not list((work / "keys").glob("*.key")) if (work / "keys").exists() else True


def test_trusted_user(double: Double, outputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "operator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator")
    serials = ["SN42000001", "SN42000002", "SN42000003"]
    for s in serials:
        double.allow_serial("sensors", s)
    code, text = cli(
        "run", str(write_manifest(tmp_path / "b.csv", serials)), *common(outputs, tmp_path / "w"), "--trusted-user"
    )
    assert code == ExitStatus.OK, text
    assert "3 provisioned and verified" in text


def test_bad_manifest_is_refused_before_any_device_is_touched(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "bad.csv"
    manifest.write_text(
        "SerialNumber,MacAddress,Colour\n"
        "SN43000001,AA:BB:CC:DD:EE:01,red\n"
        "sn-lower,AA:BB:CC:DD:EE:02,red\n"
        "SN43000001,AA:BB:CC:DD:EE:03,red\n"
        "SN43000004,not-a-mac,red\n"
    )
    work = tmp_path / "work"
    code, _ = cli(
        "run",
        str(manifest),
        *common(outputs, work),
        "--claim-cert",
        str(claim.cert_file),
        "--claim-key",
        str(claim.key_file),
    )
    assert code == ExitStatus.USAGE
    assert not (work / "journal.sqlite").exists() or Journal(work / "journal.sqlite").counts() == {}
    patterns = {"SerialNumber": "^[A-Z0-9]{8,16}$", "MacAddress": "^([0-9A-F]{2}:){5}[0-9A-F]{2}$"}
    with pytest.raises(ManifestError) as info:
        validate(manifest, patterns=patterns, serial_parameter="SerialNumber", defaults={})
    text = str(info.value)
    expected = (
        ":2: unknown column(s) Colour",
        ":3: SerialNumber 'sn-lower'",
        ":4: serial SN43000001 repeats line 2",
        ":5: MacAddress 'not-a-mac'",
    )
    for line in expected:
        assert line in text, text


def test_hook_denial_is_marked_failed_with_its_cause_then_retry_failed(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path
) -> None:
    serials = ["SN44000001", "SN44000002"]
    double.allow_serial("sensors", serials[0])  # the second is not on the allowlist yet
    manifest = write_manifest(tmp_path / "b.csv", serials)
    work = tmp_path / "work"
    base = ["--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file)]
    code, text = cli("run", str(manifest), *common(outputs, work), *base)
    assert code == ExitStatus.SOME_FAILED
    assert "failed SN44000002: the pre-provisioning hook denied the device" in text
    code, text = cli("status", "--work-dir", str(work))
    assert "failed: 1" in text
    assert "verified: 1" in text
    double.allow_serial("sensors", serials[1])
    code, text = cli("retry-failed", str(manifest), *common(outputs, work), *base)
    assert code == ExitStatus.OK, text
    assert "1 provisioned and verified, 1 skipped" in text
    # the retried device got exactly one ACTIVE certificate
    thing = "sensor-SN44000002"
    active = [
        p for p in double.registry.thing_principals(thing)
        if (c := double.registry.certificate(p.rsplit("/", 1)[1])) is not None and c.status == "ACTIVE"
    ]  # fmt: skip
    assert len(active) == 1


def test_claim_csr_command(tmp_path: Path) -> None:
    code, text = cli("claim-csr", "--key", str(tmp_path / "claim.key"), "--csr", str(tmp_path / "claim.csr.pem"))
    assert code == ExitStatus.OK
    assert stat.S_IMODE((tmp_path / "claim.key").stat().st_mode) == 0o600
    csr = x509.load_pem_x509_csr((tmp_path / "claim.csr.pem").read_bytes())
    assert csr.is_signature_valid
    assert "PRIVATE" not in text


def test_doctor_passes_on_a_good_station_and_names_the_fix_on_a_bad_one(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path
) -> None:
    base = ["doctor", "--outputs", str(outputs), "--fleet", "sensors"]
    code, text = cli(*base, "--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file))
    assert code == ExitStatus.OK, text
    assert "FAIL" not in text
    assert "RegisterThing answered" in text
    loose = tmp_path / "claim.key"
    loose.write_bytes(claim.key_file.read_bytes())
    loose.chmod(0o644)
    wrong_ca = tmp_path / "other-ca.pem"
    from iot_emulator.ca import CertificateAuthority

    wrong_ca.write_text(CertificateAuthority(tmp_path / "other").pem)
    code, text = cli(*base, "--ca-file", str(wrong_ca), "--claim-cert", str(claim.cert_file), "--claim-key", str(loose))
    assert code == ExitStatus.SOME_FAILED
    assert "FAIL endpoint reachable" in text
    assert "wrong root CA file?" in text
    assert f"chmod 600 {loose}" in text
