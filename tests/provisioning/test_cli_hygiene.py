"""The factory CLI with bad input and rough handling: never a traceback, never a lost or wrong journal."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.cli import CLEAR_TO_END_OF_LINE
from contracts.exit_status import ExitStatus
from iot_emulator.double import Double
from provisioning.journal import DeviceState, Journal
from tests.conftest import ROOT
from tests.iot_emulator.helpers import Identity
from tests.provisioning.conftest import cli, common, write_manifest

needs_double = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)")
pytestmark = pytest.mark.integration


def claim_args(claim: Identity) -> list[str]:
    return ["--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file), "--plaintext-keys"]


def test_status_and_retry_failed_without_a_journal_create_nothing(
    tmp_path: Path, outputs: Path, claim: Identity
) -> None:
    work = tmp_path / "never-run"
    result = cli("status", "--work-dir", str(work))
    assert result.status == ExitStatus.USAGE
    assert f"no journal at {work / 'journal.sqlite'}" in result.err
    manifest = write_manifest(tmp_path / "b.csv", ["SN80000001"])
    result = cli("retry-failed", str(manifest), *common(outputs, work), *claim_args(claim))
    assert result.status == ExitStatus.USAGE
    assert "nothing has been run there" in result.err
    assert "skipped" not in result.out
    assert not work.exists()


@needs_double
def test_a_journal_refuses_another_manifest_or_fleet(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path
) -> None:
    double.allow_serial("sensors", "SN80000002")
    work = tmp_path / "work"
    first = write_manifest(tmp_path / "first.csv", ["SN80000002"])
    assert cli("run", str(first), *common(outputs, work), *claim_args(claim)).status == ExitStatus.OK
    other = write_manifest(tmp_path / "other.csv", ["SN80000003"])
    result = cli("run", str(other), *common(outputs, work), *claim_args(claim))
    assert result.status == ExitStatus.USAGE
    assert "belongs to the batch of manifest" in result.err
    gateways = tmp_path / "gateways.csv"
    gateways.write_text("SerialNumber\nGW0000000001\n")
    args = ["run", str(gateways), *common(outputs, work), *claim_args(claim)]
    args[args.index("sensors")] = "gateways"
    result = cli(*args)
    assert result.status == ExitStatus.USAGE
    assert "belongs to the batch of manifest" in result.err or "belongs to fleet" in result.err
    journal = Journal(work / "journal.sqlite", read_only=True)
    assert journal.counts() == {"verified": 1}
    journal.close()


def test_manifest_encodings_and_headers_through_the_cli(tmp_path: Path, outputs: Path) -> None:
    base = ["--outputs", str(outputs), "--fleet", "sensors"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("SerialNumber,MacAddress\nSN80000010,AA:BB:CC:DD:EE:01\nSN80000011,Müller\n".encode("latin-1"))
    result = cli("validate", str(latin), *base)
    assert result.status == ExitStatus.USAGE
    assert f"{latin}:3: not UTF-8" in result.err
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfSerialNumber,MacAddress\r\nSN80000012,AA:BB:CC:DD:EE:02\r\n")
    result = cli("validate", str(bom), *base)
    assert result.status == ExitStatus.OK, result.text
    header = tmp_path / "header.csv"
    header.write_text("Serial,MacAddress\n" + "".join(f"SN8000002{i},AA:BB:CC:DD:EE:0{i}\n" for i in range(5)))
    result = cli("validate", str(header), *base)
    assert result.status == ExitStatus.USAGE
    assert result.err.count(f"{header}:") == 1
    assert f"{header}:1: bad header" in result.err
    result = cli("validate", str(tmp_path / "missing.csv"), *base)
    assert result.status == ExitStatus.USAGE
    assert f"{tmp_path / 'missing.csv'}: no such file" in result.err
    assert ":0:" not in result.err
    latin_outputs = tmp_path / "outputs-latin.json"
    latin_outputs.write_bytes(outputs.read_bytes().replace(b'"acme-dev', '"acmé-dev'.encode("latin-1"), 1))
    result = cli("validate", str(bom), "--outputs", str(latin_outputs), "--fleet", "sensors")
    assert result.status == ExitStatus.USAGE
    assert "is not UTF-8" in result.err
    for result in (cli("validate", str(bom), "--outputs", str(tmp_path), "--fleet", "sensors"),):
        assert result.status == ExitStatus.USAGE
        assert "is a directory" in result.err
    assert "Traceback" not in result.text


@needs_double
def test_progress_on_a_terminal(double: Double, claim: Identity, outputs: Path, tmp_path: Path) -> None:
    serials = [f"SN8100000{i}" for i in range(3)]
    for s in serials:
        double.allow_serial("sensors", s)
    result = cli(
        "run",
        str(write_manifest(tmp_path / "b.csv", serials)),
        *common(outputs, tmp_path / "w"),
        *claim_args(claim),
        tty=True,
    )
    assert result.status == ExitStatus.OK, result.text
    assert result.err.startswith("\r")
    assert result.err.count(CLEAR_TO_END_OF_LINE) == 3
    assert result.err.endswith(f"3/3 devices{result.err.rsplit('3/3 devices', 1)[1]}")
    assert result.err.endswith("\n")


def subprocess_env(tmpdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(tmpdir),
        "AWS_ACCESS_KEY_ID": "operator",
        "AWS_SECRET_ACCESS_KEY": "operator",
    }


def test_status_into_a_closed_pipe(tmp_path: Path) -> None:
    work = tmp_path / "work"
    journal = Journal(work / "journal.sqlite")
    for i in range(3000):
        journal.ensure(f"SN{i:08d}", "sensors")
        journal.move(f"SN{i:08d}", DeviceState.FAILED, cause="the pre-provisioning hook denied the device " * 2)
    journal.close()
    result = subprocess.run(  # noqa: S602 - a pipeline, as an operator types it
        f"{sys.executable} -m provisioning status --work-dir {work} | head -n 1; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ExitStatus.FAILED, result.stderr  # its own status: failed devices
    assert result.stdout.startswith("failed: 3000")
    assert "Traceback" not in result.stderr
    assert "BrokenPipe" not in result.stderr


@needs_double
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_batch_leaves_no_key_in_tmp_and_resumes(
    signum: int, double: Double, outputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trusted user: the temporary claim lives in memory; SIGINT/SIGTERM leave nothing in TMPDIR.

    The batch cannot finish before the signal: after three registrations the double answers 429
    (the CLI waits that out with backoff) until the test lets it go. Reading the first progress
    line alone did not prove the batch was still running: a test process starved for the batch's
    few seconds sent its signal to a CLI that had already exited 0 (Popen.send_signal then does
    nothing), seen once in a loaded full-suite run.
    """
    from iot_emulator.errors import ServiceError

    register = double.service.register_thing
    let_go = {"after": 3}

    def held_back(*args: object, **kwargs: object) -> object:
        if let_go["after"] <= 0:
            raise ServiceError(429, "ThrottlingException", "Rate exceeded")
        let_go["after"] -= 1
        return register(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(double.service, "register_thing", held_back)
    tag = "1" if signum == signal.SIGINT else "2"
    serials = [f"SN82{tag}{i:05d}" for i in range(40)]
    for s in serials:
        double.allow_serial("sensors", s)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    work = tmp_path / "work"
    command = [
        sys.executable, "-m", "provisioning", "run", str(write_manifest(tmp_path / "b.csv", serials)),
        *common(outputs, work, workers=2), "--trusted-user", "--plaintext-keys",
    ]  # fmt: skip
    command[command.index("--rate") + 1] = "5"  # slow enough to interrupt mid-batch
    proc = subprocess.Popen(
        command, env=subprocess_env(tmpdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the first progress line: a device is done, the batch is running
    assert "/40 devices" in first, first
    assert proc.poll() is None, "held back by the double, the batch must still be running"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitStatus.INTERRUPTED, out + err
    assert "\ninterrupted: the journal has every finished step" in "\n" + err
    assert "Traceback" not in err
    assert list(tmpdir.iterdir()) == [], "nothing left in the temporary directory"
    journal = Journal(work / "journal.sqlite", read_only=True)
    done = journal.counts().get("verified", 0)
    assert 0 < done < 40
    assert "failed" not in journal.counts()
    journal.close()
    let_go["after"] = 10**6
    resumed = subprocess.run(
        command, env=subprocess_env(tmpdir), capture_output=True, text=True, timeout=120, check=False
    )
    assert resumed.returncode == ExitStatus.OK, resumed.stdout + resumed.stderr
    assert f"{done} skipped" in resumed.stdout
    assert list(tmpdir.iterdir()) == []
