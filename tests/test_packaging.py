"""The distribution a factory station installs, checked offline: build the wheel, install it without its
dependencies into a fresh virtualenv, run ``iot-provision --version`` from another directory.

``make package-check`` does the full online install (``pip install .`` with every dependency from the
registry) the same way; this test needs no network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from contracts.version import __version__
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
CDK_ONLY = ("aws-cdk-lib", "jsii", "constructs", "cdk-nag", "aws_cdk")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "src"
    skip = shutil.ignore_patterns(
        ".venv", "node_modules", "cdk.out", ".git", "demo-work", "*.egg-info", "build", "__pycache__"
    )
    shutil.copytree(ROOT, source, ignore=skip, symlinks=True)
    dist = source.parent / "dist"
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), ".", cwd=source
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = dist.glob("iot_fleet_toolkit-*.whl")
    return path


def test_the_wheel_holds_the_runtime_packages_and_no_cdk(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = archive.read(metadata).decode()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert {"contracts", "provisioning", "iot_semantics", "policy_review", "iot_emulator", "defender_ops"} <= top
    assert not top & {"config", "stacks", "constructs_lib", "app.py", "tests", "scripts", "bench"}
    base = [line for line in meta.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    pinned = {
        line.split("#")[0].strip() for line in (ROOT / "provisioning" / "requirements.txt").read_text().splitlines()
    }
    assert {line.split(" ", 1)[1].replace(" ", "") for line in base} == pinned - {""}, "the station's pins, once"
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert not [line for line in requires if any(name in line for name in CDK_ONLY)]  # not even in an extra
    assert f"Version: {__version__}" in meta
    for script in ("iot-provision", "iot-policy-review", "iot-double", "iot-defender-ops"):
        assert f"{script} = " in scripts


def test_a_fresh_venv_runs_iot_provision_from_anywhere(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "station"
    created = run(sys.executable, "-m", "venv", str(venv), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    installed = run(str(venv / "bin" / "pip"), "install", "--no-deps", "--no-index", str(wheel), cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    version = run(str(venv / "bin" / "iot-provision"), "--version", cwd=elsewhere)
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"iot-provision {__version__}\n"
    assert run(str(venv / "bin" / "iot-provision"), "run", "--help", cwd=elsewhere).returncode == 0
    no_cdk = run(str(venv / "bin" / "python"), "-c", "import aws_cdk", cwd=elsewhere)
    assert no_cdk.returncode != 0
    assert "No module named 'aws_cdk'" in no_cdk.stderr
    review = run(str(venv / "bin" / "iot-policy-review"), "cdk.out", cwd=elsewhere)
    assert review.returncode == 3
    assert "needs the 'policy-review' extra" in review.stderr
    assert "Traceback" not in review.stderr
