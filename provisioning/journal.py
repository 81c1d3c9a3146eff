"""The station's journal (SQLite, WAL): every device's state and every transition, durably.

States, in order: ``new`` -> ``key_made`` -> ``csr_sent`` -> ``cert_received`` -> ``registered``
-> ``verified``; or ``failed`` with its cause. A device is finished only when ``verified``. The
journal never holds key material: only a key reference, certificates (public) and the
single-use ownership token (it lets a crashed station finish a registration within the hour).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STATES = ("new", "key_made", "csr_sent", "cert_received", "registered", "verified", "failed")
#: Synced to disk before the next step: a certificate that may become ACTIVE is never forgotten.
DURABLE = frozenset({"cert_received"})

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
"""


@dataclass(frozen=True)
class Device:
    serial: str
    fleet: str
    state: str
    key_ref: str | None
    certificate_id: str | None
    certificate_pem: str | None
    token: str | None
    thing_name: str | None
    cause: str | None
    attempts: int


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: every committed transition survives a crash or SIGKILL of the station; the
        # transitions that must also survive a power cut (see DURABLE) are synced before returning.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, serial: str) -> Device | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {COLUMNS} FROM devices WHERE serial = ?",  # noqa: S608 - fixed column list
                (serial,),
            ).fetchone()
        return Device(*row) if row else None

    def ensure(self, serial: str, fleet: str) -> Device:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO devices (serial, fleet, state, updated) VALUES (?, ?, 'new', ?)",
                (serial, fleet, time.time()),
            )
        device = self.get(serial)
        assert device is not None
        return device

    def move(self, serial: str, to_state: str, *, detail: str = "", **fields: str | None) -> None:
        """Record a transition and its data in one transaction."""
        if to_state not in STATES:
            raise ValueError(to_state)
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
                    (to_state, time.time(), *fields.values(), 1 if to_state == "failed" else 0, serial),
                )
                self._db.execute(
                    "INSERT INTO events (serial, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)",
                    (serial, time.time(), from_state, to_state, detail[:500]),
                )
                self._db.execute("COMMIT")
                if to_state in DURABLE:
                    self._db.execute("PRAGMA wal_checkpoint(FULL)")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT state, COUNT(*) FROM devices GROUP BY state").fetchall())

    def devices(self, state: str | None = None) -> Iterator[Device]:
        sql = f"SELECT {COLUMNS} FROM devices"  # noqa: S608 - fixed column list
        with self._lock:
            rows = self._db.execute(
                sql + (" WHERE state = ?" if state else "") + " ORDER BY serial", (state,) if state else ()
            ).fetchall()
        for row in rows:
            yield Device(*row)

    def events(self, serial: str) -> list[tuple[str | None, str, str]]:
        with self._lock:
            return list(
                self._db.execute(
                    "SELECT from_state, to_state, detail FROM events WHERE serial = ? ORDER BY id", (serial,)
                ).fetchall()
            )
