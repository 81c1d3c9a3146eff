"""The HTML report, rendered in headless Chromium (the screenshot lands in tests/artifacts/)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from policy_review.cli import main
from tests.conftest import ROOT, Synth

CHROMIUM = shutil.which("chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.mark.integration
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make setup)")
def test_html_report_renders_in_headless_chromium(synth: Synth, tmp_path: Path) -> None:
    bad = tmp_path / "bad.template.json"
    statement = {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}
    policy = {"PolicyName": "broad", "PolicyDocument": {"Statement": [statement]}}
    bad.write_text(json.dumps({"Resources": {"Broad": {"Type": "AWS::IoT::Policy", "Properties": policy}}}))
    page = tmp_path / "review.html"
    assert main([str(synth.outdir), str(bad), "--html", str(page)]) == 1
    text = page.read_text()
    assert "What a sample device <b>sensor-0001</b>" in text
    assert "topic/dt/sensors/sensor-0001/*" in text
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "policy-review.png"
    shot.unlink(missing_ok=True)
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,1600",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000  # a rendered page, not a blank one
