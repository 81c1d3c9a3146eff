"""The double's CLI: up, status, down, as a user runs it, and its errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Synth

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)")


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


def test_up_status_down(synth: Synth, tmp_path: Path) -> None:
    state = tmp_path / "state"
    started = run(
        "up", "--cdk-out", str(synth.outdir), "--state", str(state), "--port", "0", "--alpn-port", "0", cwd=tmp_path
    )
    try:
        assert started.returncode == 0, started.stderr
        info = json.loads(started.stdout)
        outputs = json.loads(Path(info["outputsFile"]).read_text())
        assert outputs["IotDouble"]["Port"] == str(info["port"])
        assert outputs["acme-dev-fleet-provisioning"]["FleetSensorsTemplateName"] == "acme-dev-sensors"
        assert run("status", "--state", str(state), cwd=tmp_path).returncode == 0
    finally:
        stopped = run("down", "--state", str(state), cwd=tmp_path)
    assert "stopped" in stopped.stdout
    assert run("status", "--state", str(state), cwd=tmp_path).returncode == 3
    # everything it started has stopped with it
    with pytest.raises(ProcessLookupError):
        os.kill(info["pid"], 0)


def test_missing_cdk_out_is_a_clear_error(tmp_path: Path) -> None:
    result = run("serve", "--cdk-out", str(tmp_path / "none"), "--state", str(tmp_path / "s"), cwd=tmp_path)
    assert result.returncode == 2
    assert "run a synth first" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_mqtt_contract_setting_is_a_clear_error(synth: Synth, tmp_path: Path) -> None:
    result = run(
        "serve", "--cdk-out", str(synth.outdir), "--state", str(tmp_path / "s"), "--mqtt", "nope=1", cwd=tmp_path
    )
    assert result.returncode != 0
    assert "unknown MQTT contract setting nope" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_options(synth: Synth, tmp_path: Path) -> None:
    state = tmp_path / "state"
    started = run(
        "up", "--cdk-out", str(synth.outdir), "--state", str(state), "--port", "0", "--alpn-port", "-1", cwd=tmp_path
    )
    try:
        assert started.returncode == 0, started.stderr
        info = json.loads(started.stdout)
        assert info["port"] not in (0, 8883)
        assert info["alpnPort"] is None
    finally:
        run("down", "--state", str(state), cwd=tmp_path)
