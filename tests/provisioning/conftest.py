"""Fixtures of the factory CLI's tests: one SoftHSM token per session, stations against the double.

PKCS#11 modules are initialised once per process and read their configuration then (SoftHSM reads
``SOFTHSM2_CONF`` at ``C_Initialize`` and sees no token made later), so the session has one
configuration and its tokens are made before any test opens the module.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contracts.cli import Environment

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "1234"
PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    util = shutil.which("softhsm2-util")
    if util is None or not Path(SOFTHSM_MODULE).exists():
        pytest.skip("SoftHSM is not installed (make setup)")
    home = tmp_path_factory.mktemp("softhsm")
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    for label in ("factory", "spare"):
        subprocess.run(
            [util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "5678"],
            check=True,
            capture_output=True,
        )
    yield {"module": SOFTHSM_MODULE, "token_label": "factory", "pin": PIN, "conf": str(conf)}
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


@dataclass
class Result:
    status: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def cli(*args: str, environ: dict[str, str] | None = None, tty: bool = False) -> Result:
    """The factory CLI in-process, through its contract, with captured streams."""
    from provisioning.cli import run

    env = Environment.for_test(tty=tty, environ=environ)
    status = run(list(args), env)
    assert isinstance(env.stdout, io.StringIO)
    assert isinstance(env.stderr, io.StringIO)
    return Result(status, env.stdout.getvalue(), env.stderr.getvalue())


def write_manifest(path: Path, serials: list[str], extra: str = "") -> Path:
    lines = ["SerialNumber,MacAddress" + (",key_store" if extra else "")]
    lines += [f"{s},AA:BB:CC:DD:EE:{i:02X}" + (f",{extra}" if extra else "") for i, s in enumerate(serials)]
    path.write_text("\n".join(lines) + "\n")
    return path


def common(outputs: Path, work: Path, workers: int = 2) -> list[str]:
    return [
        "--outputs",
        str(outputs),
        "--fleet",
        "sensors",
        "--work-dir",
        str(work),
        "--workers",
        str(workers),
        "--rate",
        "0",
    ]


@pytest.fixture
def outputs(double: Any, tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    double.write_outputs(path)
    return path


@pytest.fixture
def passphrase_env(tmp_path: Path) -> dict[str, str]:
    """The process environment with the key passphrase in a 0600 file, as a station keeps it."""
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    secret.chmod(0o600)
    return {**os.environ, "PROVISIONING_KEY_PASSPHRASE_FILE": str(secret)}


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A TMPDIR of its own for the code under test: whatever it leaves there, the test sees."""
    directory = tmp_path / "tmpdir"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    monkeypatch.setenv("TMPDIR", str(directory))
    return directory


def outputs_with(outputs: Path, tmp_path: Path, **double: str) -> Path:
    """A copy of the outputs file with the double's section changed (a wrong port, CA, ...)."""
    data = json.loads(outputs.read_text())
    data["IotDouble"].update(double)
    path = tmp_path / "outputs-changed.json"
    path.write_text(json.dumps(data))
    return path
