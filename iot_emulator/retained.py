"""Retained messages as AWS IoT Core keeps them: one per topic, durable (SQLite), read by the control plane.

The edge stores them itself instead of letting mosquitto do it, because AWS delivers a retained
message on SUBSCRIBE only to a filter that names its topic exactly (never to wildcard or shared
subscriptions), which mosquitto does not do. A retained publish with an empty payload deletes the
topic's message (AWS: "and is delivered to current subscribers, not retained").
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from iot_emulator import mqtt_codec as mc

SCHEMA = """
CREATE TABLE IF NOT EXISTS retained (
  topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, properties BLOB NOT NULL,
  modified_ms INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class RetainedMessage:
    topic: str
    payload: bytes
    qos: int
    #: The MQTT 5 properties it was published with (property block bytes, topic alias removed).
    properties: bytes
    modified_ms: int

    def user_properties(self) -> list[dict[str, str]]:
        """AWS's ``userProperties`` shape: a list of one-key objects, in the order published."""
        return [
            {str(v[0]): str(v[1])}
            for pid, v, _, _ in mc.iter_properties(self.properties)
            if pid == mc.USER_PROPERTY and isinstance(v, tuple)
        ]

    def user_properties_json(self) -> str:
        return json.dumps(self.user_properties())


class RetainedStore:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._topics = {row[0] for row in self._db.execute("SELECT topic FROM retained")}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, topic: str, payload: bytes, qos: int, properties: bytes = b"") -> None:
        """Keep ``payload`` as ``topic``'s retained message; an empty payload deletes it."""
        with self._lock:
            if not payload:
                self._db.execute("DELETE FROM retained WHERE topic = ?", (topic,))
                self._topics.discard(topic)
                return
            self._db.execute(
                "INSERT OR REPLACE INTO retained VALUES (?, ?, ?, ?, ?)",
                (topic, payload, qos, properties, int(self._clock() * 1000)),
            )
            self._topics.add(topic)

    def get(self, topic: str) -> RetainedMessage | None:
        if topic not in self._topics:  # the common case on SUBSCRIBE, without a query
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM retained WHERE topic = ?", (topic,)).fetchone()
        return RetainedMessage(row[0], bytes(row[1]), row[2], bytes(row[3]), row[4]) if row else None

    def page(self, start: int, size: int) -> tuple[list[RetainedMessage], bool]:
        """Messages ``start``..``start+size`` in topic order, and whether more follow."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM retained ORDER BY topic LIMIT ? OFFSET ?", (size + 1, start)
            ).fetchall()
        messages = [RetainedMessage(r[0], bytes(r[1]), r[2], bytes(r[3]), r[4]) for r in rows[:size]]
        return messages, len(rows) > size
