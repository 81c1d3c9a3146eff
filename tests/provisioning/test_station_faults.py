"""Fail fast, fail once: each station fault ends in one message and its exit status within 20 s, with no
device marked failed for it; the same batch then succeeds once the cause is fixed. Through the CLI."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest

from contracts.exit_status import ExitStatus
from iot_emulator.double import Double
from provisioning.journal import Journal
from tests.iot_emulator.helpers import Identity
from tests.provisioning.conftest import Result, cli, common, outputs_with, write_manifest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]
LIMIT_SECONDS = 20


def timed(*args: str, environ: dict[str, str] | None = None) -> tuple[Result, float]:
    started = time.monotonic()
    result = cli(*args, environ=environ)
    return result, time.monotonic() - started


def batch(double: Double, tmp_path: Path, prefix: str, count: int = 3) -> tuple[Path, list[str]]:
    serials = [f"{prefix}{i:04d}" for i in range(count)]
    for s in serials:
        double.allow_serial("sensors", s)
    return write_manifest(tmp_path / "batch.csv", serials), serials


def refused_once(result: Result, seconds: float, status: ExitStatus, cause: str) -> None:
    assert result.status == status, result.text
    assert seconds < LIMIT_SECONDS, f"took {seconds:.1f} s"
    assert result.err.count("error: ") == 1, result.err  # one message, not one per device
    assert cause in result.err, result.err
    assert "fix: " in result.err
    assert "Traceback" not in result.text


def untouched(work: Path) -> None:
    """No device was started: no journal row (the key store and journal may not even exist)."""
    journal = work / "journal.sqlite"
    if journal.exists():
        j = Journal(journal, read_only=True)
        try:
            assert j.counts() == {}
        finally:
            j.close()


def succeeds(args: list[str], serials: list[str], work: Path, environ: dict[str, str] | None = None) -> None:
    result = cli(*args, environ=environ)
    assert result.status == ExitStatus.OK, result.text
    assert "0 failed" in result.out
    j = Journal(work / "journal.sqlite", read_only=True)
    try:
        assert j.counts() == {"verified": len(serials)}
    finally:
        j.close()


def claim_args(claim: Identity) -> list[str]:
    return ["--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_wrong_passphrase_leaves_a_half_done_batch_as_it_was(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, passphrase_env: dict[str, str]
) -> None:
    serials = [f"SNF2{i:04d}" for i in range(4)]
    for s in serials[:2]:
        double.allow_serial("sensors", s)  # the other two are not allowlisted yet: they fail on their own
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
    assert cli(*args, environ=passphrase_env).status == ExitStatus.FAILED
    before = Journal(work / "journal.sqlite", read_only=True)
    counts, failed = before.counts(), {d.serial: d.attempts for d in before.devices()}
    before.close()
    assert counts == {"verified": 2, "failed": 2}
    for s in serials[2:]:
        double.allow_serial("sensors", s)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    result, seconds = timed(*args, environ={**passphrase_env, "PROVISIONING_KEY_PASSPHRASE_FILE": str(wrong)})
    refused_once(result, seconds, ExitStatus.UNAVAILABLE, "the passphrase does not open the key store")
    after = Journal(work / "journal.sqlite", read_only=True)
    assert after.counts() == counts
    assert {d.serial: d.attempts for d in after.devices()} == failed, "no device was tried for the station's fault"
    after.close()
    succeeds(args, serials, work, passphrase_env)


def test_missing_passphrase_is_one_usage_error(claim: Identity, outputs: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    manifest = write_manifest(tmp_path / "b.csv", ["SNF3000001"])
    environ = {"PATH": "/usr/bin"}
    result, seconds = timed(
        "run",
        str(manifest),
        *common(outputs, work),
        *claim_args(claim),
        environ=environ,
    )
    refused_once(result, seconds, ExitStatus.USAGE, "encrypted at rest by default and no passphrase was given")
    assert not work.exists()


def test_wrong_pin_then_right_pin(
    double: Double,
    claim: Identity,
    outputs: Path,
    tmp_path: Path,
    softhsm: dict[str, str],
    passphrase_env: dict[str, str],
) -> None:
    manifest, serials = batch(double, tmp_path, "SNF4")
    work = tmp_path / "work"
    args = [
        "run",
        str(manifest),
        *common(outputs, work, workers=8),
        "--claim-cert",
        str(claim.cert_file),
        "--claim-key",
        str(claim.key_file),
        "--key-store",
        "pkcs11",
        "--pkcs11-module",
        softhsm["module"],
        "--token-label",
        softhsm["token_label"],
    ]
    result, seconds = timed(*args, environ={**passphrase_env, "PROVISIONING_PKCS11_PIN": "0000"})
    refused_once(result, seconds, ExitStatus.UNAVAILABLE, "refused the PIN")
    untouched(work)
    succeeds(args, serials, work, {**passphrase_env, "PROVISIONING_PKCS11_PIN": softhsm["pin"]})


def test_missing_token_and_missing_module(
    double: Double,
    claim: Identity,
    outputs: Path,
    tmp_path: Path,
    softhsm: dict[str, str],
    passphrase_env: dict[str, str],
) -> None:
    manifest, serials = batch(double, tmp_path, "SNF5")
    work = tmp_path / "work"
    environ = {**passphrase_env, "PROVISIONING_PKCS11_PIN": softhsm["pin"]}
    base = ["run", str(manifest), *common(outputs, work), *claim_args(claim), "--key-store", "pkcs11"]
    result, seconds = timed(*base, "--pkcs11-module", softhsm["module"], "--token-label", "absent", environ=environ)
    refused_once(result, seconds, ExitStatus.UNAVAILABLE, "no PKCS#11 token labelled 'absent'")
    result, seconds = timed(
        *base, "--pkcs11-module", str(tmp_path / "no-module.so"), "--token-label", "factory", environ=environ
    )
    refused_once(result, seconds, ExitStatus.UNAVAILABLE, "PKCS#11 module")
    untouched(work)
    succeeds([*base, "--pkcs11-module", softhsm["module"], "--token-label", "factory"], serials, work, environ)


def test_no_claim_credentials(
    double: Double,
    claim: Identity,
    outputs: Path,
    tmp_path: Path,
    passphrase_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest, serials = batch(double, tmp_path, "SNF6")
    work = tmp_path / "work"
    base = ["run", str(manifest), *common(outputs, work)]
    result, seconds = timed(*base, environ=passphrase_env)
    refused_once(result, seconds, ExitStatus.USAGE, "no claim credentials")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result, seconds = timed(*base, "--trusted-user", environ=passphrase_env)
    refused_once(result, seconds, ExitStatus.UNAVAILABLE, "no AWS credentials")
    untouched(work)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "operator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator")
    succeeds([*base, "--trusted-user"], serials, work, passphrase_env)


def test_unreachable_endpoint(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, passphrase_env: dict[str, str]
) -> None:
    manifest, serials = batch(double, tmp_path, "SNF7")
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
    result, seconds = timed(*args, "--port", str(closed_port()), environ=passphrase_env)
    refused_once(result, seconds, ExitStatus.UNAVAILABLE, "cannot reach")
    untouched(work)
    succeeds(args, serials, work, passphrase_env)


def test_wrong_ca(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, passphrase_env: dict[str, str]
) -> None:
    from iot_emulator.ca import CertificateAuthority

    wrong_ca = tmp_path / "other-ca.pem"
    wrong_ca.write_text(CertificateAuthority(tmp_path / "other").pem)
    manifest, serials = batch(double, tmp_path, "SNF8")
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
    result, seconds = timed(*args, "--ca-file", str(wrong_ca), environ=passphrase_env)
    refused_once(result, seconds, ExitStatus.UNAVAILABLE, "does not verify against")
    untouched(work)
    succeeds(args, serials, work, passphrase_env)


def test_missing_template(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, passphrase_env: dict[str, str]
) -> None:
    manifest, _ = batch(double, tmp_path, "SNF9")
    data = json.loads(outputs.read_text())
    data["acme-dev-fleet-provisioning"]["FleetSensorsTemplateName"] = "acme-dev-not-deployed"
    changed = tmp_path / "outputs-no-template.json"
    changed.write_text(json.dumps(data))
    work = tmp_path / "work"
    result, seconds = timed(
        "run",
        str(manifest),
        *common(changed, work),
        *claim_args(claim),
        environ=passphrase_env,
    )
    refused_once(result, seconds, ExitStatus.UNAVAILABLE, "template acme-dev-not-deployed")
    untouched(work)


def test_a_closed_port_in_the_outputs_file_too(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, passphrase_env: dict[str, str]
) -> None:
    """The endpoint as the outputs file gives it (the double's section), not only --port."""
    manifest, _ = batch(double, tmp_path, "SNFA")
    changed = outputs_with(outputs, tmp_path, Port=str(closed_port()))
    work = tmp_path / "work"
    result, seconds = timed(
        "run",
        str(manifest),
        *common(changed, work),
        *claim_args(claim),
        environ=passphrase_env,
    )
    refused_once(result, seconds, ExitStatus.UNAVAILABLE, "cannot reach")
    untouched(work)
