"""Ports for the double's child servers: a port another process took first is passed over, never
mistaken for the child's own listener; a port the caller gave that is taken is refused once."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from iot_emulator import broker as broker_module
from iot_emulator import moto_backend, ports
from iot_emulator.broker import Broker, BrokerError
from iot_emulator.ca import CertificateAuthority
from iot_emulator.errors import MotoError

pytestmark = pytest.mark.integration


@pytest.fixture
def taken() -> Iterator[int]:
    """A port this test process listens on (what another process holding it looks like)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_listener_is_known_by_the_process_that_holds_it(taken: int) -> None:
    assert ports.listens(os.getpid(), taken) is True
    assert ports.listens(os.getppid(), taken) is False
    assert ports.held_by_another(taken)
    assert not ports.held_by_another(ports.free_port())


def _broker(tmp_path: Path, port: int | None = None) -> Broker:
    internal = CertificateAuthority(tmp_path / "ca")
    cert, key = internal.server_certificate(tmp_path / "ca", ("127.0.0.1",))
    return Broker(tmp_path / "broker", ca_file=internal.cert_path, cert_file=cert, key_file=key, port=port)


@pytest.mark.skipif(shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(), reason="make setup")
def test_the_broker_passes_over_a_port_taken_before_it_binds(
    taken: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = iter([taken])
    monkeypatch.setattr(broker_module, "free_port", lambda: next(chosen, None) or ports.free_port())
    broker = _broker(tmp_path).start()
    try:
        assert broker.port != taken
        assert broker._proc is not None
        assert ports.listens(broker._proc.pid, broker.port) is True
    finally:
        broker.stop()


@pytest.mark.skipif(shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(), reason="make setup")
def test_a_broker_port_given_and_taken_is_refused_with_its_cause(taken: int, tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match=f"127.0.0.1:{taken}: another process holds it"):
        _broker(tmp_path, taken).start()


def test_the_moto_server_passes_over_a_port_taken_before_it_binds(taken: int, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = iter([taken])
    monkeypatch.setattr(moto_backend, "free_port", lambda: next(chosen, None) or ports.free_port())
    server = moto_backend.MotoServer().start()
    try:
        assert server.port != taken
        assert server.url.endswith(f":{server.port}")
    finally:
        server.stop()
    with pytest.raises(MotoError, match="another process holds the port"):
        moto_backend.MotoServer(port=taken).start()
