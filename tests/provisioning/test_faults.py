"""Faults injected by the double end with every device provisioned, or failed with its cause."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.exit_status import ExitStatus
from iot_emulator.double import Double
from provisioning.journal import Journal
from tests.iot_emulator.helpers import Identity
from tests.provisioning.conftest import Result, cli, common, write_manifest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]


@pytest.fixture
def restore(double: Double) -> Iterator[None]:
    rates, ttl = dict(double.service.limiter.rates), double.knobs.token_ttl_seconds
    yield
    double.service.limiter.rates.clear()
    double.service.limiter.rates.update(rates)
    double.knobs.token_ttl_seconds = ttl


def batch(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, serials: list[str], workers: int = 3
) -> tuple[Result, Path]:
    for s in serials:
        double.allow_serial("sensors", s)
    work = tmp_path / "work"
    result = cli(
        "run", str(write_manifest(tmp_path / "b.csv", serials)), *common(outputs, work, workers),
        "--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file), "--plaintext-keys",
    )  # fmt: skip
    return result, work


def test_throttling_is_retried_with_backoff(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, restore: Any
) -> None:
    double.service.limiter.rates.update({"CreateCertificateFromCsr": 2.0, "RegisterThing": 2.0})
    result, work = batch(double, claim, outputs, tmp_path, [f"SN5000000{i}" for i in range(6)])
    assert result.status == ExitStatus.OK, result.text
    assert "6 provisioned and verified" in result.out
    journal = Journal(work / "journal.sqlite")
    assert journal.counts() == {"verified": 6}
    journal.close()


def test_broker_restart_mid_batch(double: Double, claim: Identity, outputs: Path, tmp_path: Path, restore: Any) -> None:
    double.service.limiter.rates.update({"RegisterThing": 4.0})  # long enough to restart in the middle
    timer = threading.Timer(1.0, double.restart_broker)
    timer.start()
    result, _ = batch(double, claim, outputs, tmp_path, [f"SN5100000{i}" for i in range(8)])
    timer.join()
    assert result.status == ExitStatus.OK, result.text
    assert "8 provisioned and verified" in result.out


def test_expired_tokens_get_new_certificates(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, restore: Any
) -> None:
    double.knobs.token_ttl_seconds = 0.0  # every token is already expired at RegisterThing ...
    timer = threading.Timer(1.5, lambda: setattr(double.knobs, "token_ttl_seconds", 3600.0))  # ... for a while
    timer.start()
    result, work = batch(double, claim, outputs, tmp_path, [f"SN5200000{i}" for i in range(3)], workers=1)
    timer.join()
    assert result.status == ExitStatus.OK, result.text
    journal = Journal(work / "journal.sqlite")
    events = [to for _, to, _ in journal.events("SN52000000")]
    journal.close()
    assert events.count("cert_received") >= 2  # the first certificate's token expired; a new one was made
    assert events[-1] == "verified"


def test_a_fault_that_does_not_clear_ends_failed_with_its_cause(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, restore: Any
) -> None:
    double.knobs.token_ttl_seconds = 0.0
    start = time.monotonic()
    result, _ = batch(double, claim, outputs, tmp_path, ["SN53000001"], workers=1)
    assert result.status == ExitStatus.FAILED
    assert "failed SN53000001: " in result.out
    assert time.monotonic() - start < 60
