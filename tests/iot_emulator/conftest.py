"""Fixtures of the double's tests: one double per session, one fixture claim certificate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iot_emulator.double import Double
from iot_emulator.provisioning import Knobs
from tests.conftest import Synth
from tests.iot_emulator.helpers import Identity, identity


@pytest.fixture(scope="session")
def double(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Double]:
    d = Double(synth.outdir, tmp_path_factory.mktemp("double"), region="eu-west-1", knobs=Knobs(rates={}))
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="session")
def claim(double: Double, tmp_path_factory: pytest.TempPathFactory) -> Identity:
    directory = tmp_path_factory.mktemp("claim")
    ident = identity(directory, "claim")
    _, pem = double.add_certificate(ident.csr, ["acme-dev-sensors-claim"])
    ident.cert_file = directory / "claim.pem"
    ident.cert_file.write_text(pem)
    return ident
