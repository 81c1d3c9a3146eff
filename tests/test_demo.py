"""The README's main command (make demo) keeps working: synth, double, provisioning, connections."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)")
@pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "cdk").exists(), reason="CDK CLI not installed (make setup)")
def test_demo_script_runs_end_to_end() -> None:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_CLI_TELEMETRY": "1"}
    result = subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "verified: 4" in result.stdout  # the sensors batch
    assert "verified: 2" in result.stdout  # the gateways batch
    assert "verified: 1" in result.stdout  # the cores batch
    assert result.stdout.count(" published to ") == 7
    assert "/credentials -> 200, access key" in result.stdout  # the core
    assert "/credentials -> 403" in result.stdout  # a sensor
    assert "stopped" in result.stdout
    assert "PRIVATE KEY" not in result.stdout + result.stderr
