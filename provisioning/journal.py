"""The station's journal (SQLite, WAL): every device's state and every transition, durably.

States (``DeviceState``, the one list of them), in order: ``new`` -> ``key_made`` -> ``csr_sent``
-> ``cert_received`` -> ``registered`` -> ``verified``; or ``failed`` with its cause. A device is
finished only when ``verified``. The journal never holds key material: only a key reference,
certificates (public) and the single-use ownership token (it lets a crashed station finish a
registration within the hour).

A journal belongs to one batch: it records the fingerprints of the manifest, the fleet and the
target it was started with (``Binding``) and refuses another (``Journal.bind``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from provisioning.errors import UsageError


class DeviceState(StrEnum):
    """A device's place in the lifecycle; each value has one step function in ``provisioning.batch``."""

    NEW = "new"
    KEY_MADE = "key_made"
    CSR_SENT = "csr_sent"
    CERT_RECEIVED = "cert_received"
    REGISTERED = "registered"
    VERIFIED = "verified"
    FAILED = "failed"


#: Synced to disk before the next step: a certificate that may become ACTIVE is never forgotten.
DURABLE = frozenset({DeviceState.CERT_RECEIVED})

COLUMNS = "serial, fleet, state, key_ref, certificate_id, certificate_pem, token, thing_name, cause, attempts"
SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
  serial TEXT PRIMARY KEY, fleet TEXT NOT NULL, state TEXT NOT NULL, key_ref TEXT, certificate_id TEXT,
  certificate_pem TEXT, token TEXT, thing_name TEXT, cause TEXT, attempts INTEGER NOT NULL DEFAULT 0,
  updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, serial TEXT NOT NULL, at REAL NOT NULL,
  from_state TEXT, to_state TEXT NOT NULL, detail TEXT
);
CREATE TABLE IF NOT EXISTS binding (
  id INTEGER PRIMARY KEY CHECK (id = 1), manifest TEXT NOT NULL, manifest_sha256 TEXT NOT NULL,
  fleet TEXT NOT NULL, target TEXT NOT NULL, target_sha256 TEXT NOT NULL, created REAL NOT NULL
);
"""
JOURNAL_FILE = "journal.sqlite"


@dataclass(frozen=True)
class Device:
    serial: str
    fleet: str
    state: DeviceState
    key_ref: str | None
    certificate_id: str | None
    certificate_pem: str | None
    token: str | None
    thing_name: str | None
    cause: str | None
    attempts: int

    @classmethod
    def from_row(cls, row: tuple[object, ...]) -> Device:
        serial, fleet, state, *rest = row
        return cls(str(serial), str(fleet), DeviceState(str(state)), *rest)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Binding:
    """What a journal's batch is: the manifest, fleet and target it was started with."""

    manifest: str
    manifest_sha256: str
    fleet: str
    target: str
    target_sha256: str


class Journal:
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        if read_only:
            if not path.is_file():
                raise UsageError(f"no journal at {path}", "pass the --work-dir of a batch that was run")
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: every committed transition survives a crash or SIGKILL of the station; the
        # transitions that must also survive a power cut (see DURABLE) are synced before returning.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # the batch it belongs to ---------------------------------------------------------------------------

    def binding(self) -> Binding | None:
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT manifest, manifest_sha256, fleet, target, target_sha256 FROM binding WHERE id = 1"
                ).fetchone()
            except sqlite3.OperationalError:  # a journal from before bindings (read-only open)
                return None
        return Binding(*row) if row else None

    def bind(self, binding: Binding) -> None:
        """Record the batch on first use; refuse another manifest, fleet or target afterwards."""
        current = self.binding()
        if current is not None:
            self.check(current, binding, self.path)
            return
        with self._lock:
            self._db.execute(
                "INSERT INTO binding (id, manifest, manifest_sha256, fleet, target, target_sha256, created) "
                "VALUES (1, ?, ?, ?, ?, ?, ?)",
                (
                    binding.manifest,
                    binding.manifest_sha256,
                    binding.fleet,
                    binding.target,
                    binding.target_sha256,
                    time.time(),
                ),
            )

    @staticmethod
    def check(current: Binding, binding: Binding, path: Path) -> None:
        """Raise ``UsageError`` with the reason when ``binding`` is not the batch ``current`` records."""
        fix = "each batch has its own --work-dir: use a new one for this manifest, or run the original batch"
        if current.manifest_sha256 != binding.manifest_sha256:
            raise UsageError(
                f"{path} belongs to the batch of manifest {current.manifest} (sha256 "
                f"{current.manifest_sha256[:12]}…), not to {binding.manifest} (sha256 {binding.manifest_sha256[:12]}…)",
                fix,
            )
        if current.fleet != binding.fleet:
            raise UsageError(f"{path} belongs to fleet {current.fleet}, not {binding.fleet}", fix)
        if current.target_sha256 != binding.target_sha256:
            raise UsageError(
                f"{path} belongs to target {current.target}, not {binding.target}",
                "run against the target the batch started with (same outputs file and --endpoint), "
                "or use a new --work-dir",
            )

    # devices -------------------------------------------------------------------------------------------

    def get(self, serial: str) -> Device | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {COLUMNS} FROM devices WHERE serial = ?",  # noqa: S608 - fixed column list
                (serial,),
            ).fetchone()
        return Device.from_row(row) if row else None

    def ensure(self, serial: str, fleet: str) -> Device:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO devices (serial, fleet, state, updated) VALUES (?, ?, ?, ?)",
                (serial, fleet, DeviceState.NEW.value, time.time()),
            )
        device = self.get(serial)
        assert device is not None
        return device

    def move(self, serial: str, to_state: DeviceState, *, detail: str = "", **fields: str | None) -> Device:
        """Record a transition and its data in one transaction; return the device as it now is."""
        to_state = DeviceState(to_state)
        allowed = {"key_ref", "certificate_id", "certificate_pem", "token", "thing_name", "cause"}
        if set(fields) - allowed:
            raise ValueError(sorted(set(fields) - allowed))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (from_state,) = self._db.execute("SELECT state FROM devices WHERE serial = ?", (serial,)).fetchone()
                sets = ", ".join(f"{k} = ?" for k in fields)
                self._db.execute(
                    f"UPDATE devices SET state = ?, updated = ?{', ' + sets if sets else ''}, "  # noqa: S608 - fixed names
                    "attempts = attempts + ? WHERE serial = ?",
                    (
                        to_state.value,
                        time.time(),
                        *fields.values(),
                        1 if to_state is DeviceState.FAILED else 0,
                        serial,
                    ),
                )
                self._db.execute(
                    "INSERT INTO events (serial, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)",
                    (serial, time.time(), from_state, to_state.value, detail[:500]),
                )
                self._db.execute("COMMIT")
                if to_state in DURABLE:
                    self._db.execute("PRAGMA wal_checkpoint(FULL)")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        device = self.get(serial)
        assert device is not None
        return device

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT state, COUNT(*) FROM devices GROUP BY state").fetchall())

    def devices(self, state: DeviceState | None = None) -> Iterator[Device]:
        sql = f"SELECT {COLUMNS} FROM devices"  # noqa: S608 - fixed column list
        with self._lock:
            rows = self._db.execute(
                sql + (" WHERE state = ?" if state else "") + " ORDER BY serial", (state.value,) if state else ()
            ).fetchall()
        for row in rows:
            yield Device.from_row(row)

    def events(self, serial: str) -> list[tuple[str | None, str, str]]:
        with self._lock:
            return list(
                self._db.execute(
                    "SELECT from_state, to_state, detail FROM events WHERE serial = ? ORDER BY id", (serial,)
                ).fetchall()
            )
