"""The journal: one list of states, every transition recorded, and a journal that belongs to one batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.errors import UsageError
from provisioning.journal import Binding, DeviceState, Journal

BINDING = Binding("batch.csv", "a" * 64, "sensors", "localhost stack s template t", "b" * 64)


def test_transitions_are_recorded_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    device = journal.ensure("SN1", "sensors")
    assert device.state is DeviceState.NEW
    journal.move("SN1", DeviceState.KEY_MADE, key_ref="file:SN1")
    journal.move("SN1", DeviceState.FAILED, cause="denied")
    failed = journal.move("SN1", DeviceState.FAILED, cause="denied again")
    assert failed.attempts == 2
    assert failed.cause == "denied again"
    assert [to for _, to, _ in journal.events("SN1")] == ["key_made", "failed", "failed"]
    assert journal.counts() == {"failed": 1}
    assert [d.serial for d in journal.devices(DeviceState.FAILED)] == ["SN1"]
    with pytest.raises(ValueError, match="secret"):
        journal.move("SN1", DeviceState.NEW, secret="x")
    with pytest.raises(ValueError, match="nonsense"):
        journal.move("SN1", "nonsense")  # type: ignore[arg-type]
    journal.close()


def test_a_journal_belongs_to_its_batch(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    assert journal.binding() is None
    journal.bind(BINDING)
    journal.bind(BINDING)  # the same batch again: fine
    assert journal.binding() == BINDING
    other_manifest = Binding("other.csv", "c" * 64, "sensors", BINDING.target, BINDING.target_sha256)
    with pytest.raises(UsageError, match=r"belongs to the batch of manifest batch\.csv"):
        journal.bind(other_manifest)
    with pytest.raises(UsageError, match="belongs to fleet sensors, not gateways"):
        journal.bind(Binding("batch.csv", "a" * 64, "gateways", BINDING.target, BINDING.target_sha256))
    with pytest.raises(UsageError, match="belongs to target"):
        journal.bind(Binding("batch.csv", "a" * 64, "sensors", "elsewhere", "d" * 64))
    journal.close()


def test_read_only_opening_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no journal"):
        Journal(tmp_path / "missing" / "j.sqlite", read_only=True)
    assert not (tmp_path / "missing").exists()
    Journal(tmp_path / "j.sqlite").close()
    reader = Journal(tmp_path / "j.sqlite", read_only=True)
    assert reader.counts() == {}
    reader.close()


def test_states_have_one_home() -> None:
    assert [s.value for s in DeviceState] == [
        "new", "key_made", "csr_sent", "cert_received", "registered", "verified", "failed",
    ]  # fmt: skip
