"""The double's CLI: up, status, down, as a user runs it, and its errors."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.cli import Environment
from contracts.exit_status import ExitStatus
from iot_emulator.cli import main
from tests.conftest import ROOT, Synth

needs_mosquitto = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "iot_emulator", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def in_process(*args: str) -> tuple[int, str, str]:
    env = Environment.for_test()
    code = main(list(args), env)
    assert isinstance(env.stdout, io.StringIO)
    assert isinstance(env.stderr, io.StringIO)
    return code, env.stdout.getvalue(), env.stderr.getvalue()


@pytest.mark.integration
@needs_mosquitto
def test_up_status_down(synth: Synth, tmp_path: Path) -> None:
    state = tmp_path / "state"
    started = run("up", "--cdk-out", str(synth.outdir), "--state", str(state), cwd=tmp_path)
    try:
        assert started.returncode == 0, started.stderr
        info = json.loads(started.stdout)
        outputs = json.loads(Path(info["outputsFile"]).read_text())
        assert outputs["IotDouble"]["Port"] == str(info["port"])
        assert outputs["acme-dev-fleet-provisioning"]["FleetSensorsTemplateName"] == "acme-dev-sensors"
        assert run("status", "--state", str(state), cwd=tmp_path).returncode == ExitStatus.OK
    finally:
        stopped = run("down", "--state", str(state), cwd=tmp_path)
    assert "stopped" in stopped.stdout
    assert run("status", "--state", str(state), cwd=tmp_path).returncode == ExitStatus.UNAVAILABLE
    # everything it started has stopped with it
    with pytest.raises(ProcessLookupError):
        os.kill(info["pid"], 0)


@pytest.mark.parametrize("command", ["serve", "up"])
def test_what_is_not_a_cdk_out_is_one_clear_error(command: str, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    code, _, err = in_process(command, "--cdk-out", str(tmp_path / "none"), "--state", state)
    assert code == ExitStatus.USAGE
    assert "does not exist" in err
    assert "make synth" in err
    code, _, err = in_process(command, "--cdk-out", str(tmp_path), "--state", state)
    assert code == ExitStatus.USAGE
    assert "is not a cdk.out: it has no manifest.json" in err
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "manifest.json").write_bytes('{"artifacts": {"acmé": {}}}'.encode("latin-1"))
    code, _, err = in_process(command, "--cdk-out", str(odd), "--state", state)
    assert code == ExitStatus.USAGE
    assert "is not UTF-8" in err
    assert not (tmp_path / "s").exists()


def test_status_and_down_when_not_running(tmp_path: Path) -> None:
    code, out, _ = in_process("status", "--state", str(tmp_path))
    assert code == ExitStatus.UNAVAILABLE
    assert out == "not running\n"
    code, out, _ = in_process("down", "--state", str(tmp_path))
    assert code == ExitStatus.OK
    assert out == "not running\n"
    (tmp_path / "double.json").write_text("not json")
    assert in_process("status", "--state", str(tmp_path))[0] == ExitStatus.UNAVAILABLE


def test_bad_rate_knob(tmp_path: Path) -> None:
    cdk_out = tmp_path / "cdk.out"
    cdk_out.mkdir()
    (cdk_out / "manifest.json").write_text('{"artifacts": {}}')
    code, _, err = in_process("serve", "--cdk-out", str(cdk_out), "--state", str(tmp_path), "--rate", "RegisterThing")
    assert code == ExitStatus.USAGE
    assert "expected OPERATION=PER_SECOND" in err
