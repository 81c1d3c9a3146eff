"""SIGKILL the CLI at random moments during a 200-device batch, ten times, re-running after each.

At the end every serial has exactly one ACTIVE certificate, for the key the station holds; the
double holds no orphan certificate (unregistered ones expire with their token); and the journal
agrees with the double.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from iot_emulator.double import Double
from provisioning.journal import Journal
from tests.conftest import ROOT
from tests.iot_emulator.helpers import Identity
from tests.provisioning.conftest import write_manifest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]
DEVICES, KILLS, TOKEN_TTL = 200, 10, 4.0


def test_sigkill_ten_times_then_everything_agrees(double: Double, claim: Identity, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    double.write_outputs(outputs)
    before = _certificate_ids(double)
    serials = [f"SN6{i:07d}" for i in range(DEVICES)]
    for s in serials:
        double.allow_serial("sensors", s)
    manifest = write_manifest(tmp_path / "batch.csv", serials)
    work = tmp_path / "work"
    command = [
        sys.executable, "-m", "provisioning", "run", str(manifest), "--outputs", str(outputs), "--fleet", "sensors",
        "--work-dir", str(work), "--workers", "4", "--rate", "0", "--plaintext-keys",
        "--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ttl = double.knobs.token_ttl_seconds
    double.knobs.token_ttl_seconds = TOKEN_TTL
    rng = random.Random(20261125)  # noqa: S311 - reproducible kill times, not cryptography
    try:
        killed = 0
        for _ in range(KILLS):
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.8, 3.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait()
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert final.returncode == 0, final.stdout + final.stderr
        assert killed >= 5, "most runs were interrupted mid-batch"
        # the moment the tokens have expired: the double deletes certificates never registered (as AWS does)
        double.registry.expire_unactivated(time.time() + TOKEN_TTL + 1)
    finally:
        double.knobs.token_ttl_seconds = ttl

    journal = Journal(work / "journal.sqlite")
    try:
        assert journal.counts() == {"verified": DEVICES}
        for serial in serials:
            device = journal.get(serial)
            assert device is not None
            thing = f"sensor-{serial}"
            principals = double.registry.thing_principals(thing)
            active = [
                cert for p in principals
                if (cert := double.registry.certificate(p.rsplit("/", 1)[1])) is not None and cert.status == "ACTIVE"
            ]  # fmt: skip
            assert len(active) == 1, f"{serial}: {len(active)} active certificates"
            assert active[0].id == device.certificate_id, "the journal agrees with the double"
            key = serialization.load_pem_private_key((work / "keys" / f"{serial}.key").read_bytes(), password=None)
            assert x509.load_pem_x509_certificate(active[0].pem.encode()).public_key() == key.public_key()
    finally:
        journal.close()
    # no orphan: every certificate made during the batch that the double still holds is a thing's
    made = _certificate_ids(double) - before
    attached = {p.rsplit("/", 1)[1] for s in serials for p in double.registry.thing_principals(f"sensor-{s}")}
    assert made, "the batch made certificates"
    assert made <= attached, f"{len(made - attached)} orphan certificate(s)"


def _certificate_ids(double: Double) -> set[str]:
    with double.registry.transaction() as db:
        return {row[0] for row in db.execute("SELECT id FROM certificates").fetchall()}
