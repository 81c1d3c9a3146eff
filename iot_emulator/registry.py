"""The double's durable registry (SQLite, WAL): things, types, groups, certificates, policies, attachments."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iot_emulator.errors import ServiceError

SCHEMA = """
CREATE TABLE IF NOT EXISTS thing_types (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS thing_groups (name TEXT PRIMARY KEY, parent TEXT);
CREATE TABLE IF NOT EXISTS things (
  name TEXT PRIMARY KEY, type TEXT, attributes TEXT NOT NULL DEFAULT '{}', version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS group_members (grp TEXT NOT NULL, thing TEXT NOT NULL, PRIMARY KEY (grp, thing));
CREATE TABLE IF NOT EXISTS certificates (
  id TEXT PRIMARY KEY, pem TEXT NOT NULL, status TEXT NOT NULL,
  created REAL NOT NULL,
  token TEXT UNIQUE, token_expires REAL, token_used INTEGER NOT NULL DEFAULT 0,
  temporary_claim_expires REAL
);
CREATE TABLE IF NOT EXISTS policies (name TEXT PRIMARY KEY, document TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policy_targets (
  policy TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (policy, target)
);
CREATE TABLE IF NOT EXISTS claim_csrs (csr TEXT PRIMARY KEY, certificate TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS thing_principals (
  thing TEXT NOT NULL, principal TEXT NOT NULL, PRIMARY KEY (thing, principal)
);
"""


@dataclass(frozen=True)
class Certificate:
    id: str
    pem: str
    status: str
    created: float
    token: str | None
    token_expires: float | None
    token_used: bool
    temporary_claim_expires: float | None


def _certificate(row: tuple[Any, ...]) -> Certificate:
    return Certificate(
        id=row[0],
        pem=row[1],
        status=row[2],
        created=row[3],
        token=row[4],
        token_expires=row[5],
        token_used=bool(row[6]),
        temporary_claim_expires=row[7],
    )


@dataclass(frozen=True)
class Thing:
    name: str
    type: str | None
    attributes: Mapping[str, str]
    version: int
    groups: tuple[str, ...]


class Registry:
    def __init__(self, path: Path, *, arn_prefix: str) -> None:
        self.arn_prefix = arn_prefix
        #: Change counters for the edge's decision caches: ``generation`` counts every change that can
        #: alter a policy decision, ``global_generation`` is the last one that can alter anyone's
        #: (policies, groups), ``touched`` the last one of each certificate ARN / ``thing:<name>``.
        self.generation = 0
        self.global_generation = 0
        self.touched: dict[str, int] = {}
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def changed(self, *keys: str) -> None:
        """Record a change of ``keys`` (certificate ARNs, ``thing:<name>``); none: a change for everyone."""
        with self._lock:
            self.generation += 1
            if not keys:
                self.global_generation = self.generation
            for key in keys:
                self.touched[key] = self.generation

    def unchanged_since(self, generation: int, *keys: str) -> bool:
        """No change since ``generation`` that could alter the decisions of ``keys``."""
        return self.global_generation <= generation and all(self.touched.get(k, 0) <= generation for k in keys)

    def _one(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._db.execute(sql, args).fetchone()
            return row

    def _all(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # ARNs -------------------------------------------------------------------------------------------

    def cert_arn(self, certificate_id: str) -> str:
        return f"{self.arn_prefix}:cert/{certificate_id}"

    def group_arn(self, name: str) -> str:
        return f"{self.arn_prefix}:thinggroup/{name}"

    # Definitions from the assembly -------------------------------------------------------------------

    def define(self, *, thing_types: list[str], groups: Mapping[str, str | None], policies: Mapping[str, Any]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO thing_types VALUES (?)", [(t,) for t in thing_types])
            db.executemany("INSERT OR REPLACE INTO thing_groups VALUES (?, ?)", list(groups.items()))
            db.executemany(
                "INSERT OR REPLACE INTO policies VALUES (?, ?)", [(n, json.dumps(d)) for n, d in policies.items()]
            )
            self.changed()

    def attach_policy(self, policy: str, target: str, db: sqlite3.Connection | None = None) -> None:
        conn = db or self._db
        with self._lock:
            if conn.execute("SELECT 1 FROM policies WHERE name = ?", (policy,)).fetchone() is None:
                raise ServiceError(404, "ResourceNotFoundException", f"Policy {policy} does not exist")
            conn.execute("INSERT OR IGNORE INTO policy_targets VALUES (?, ?)", (policy, target))
            self.changed(*([target] if ":cert/" in target else []))

    def policy_document(self, name: str) -> dict[str, Any] | None:
        row = self._one("SELECT document FROM policies WHERE name = ?", name)
        return json.loads(row[0]) if row else None

    def policies_of(self, target: str) -> list[str]:
        return [r[0] for r in self._all("SELECT policy FROM policy_targets WHERE target = ? ORDER BY policy", target)]

    def has_type(self, name: str) -> bool:
        return self._one("SELECT 1 FROM thing_types WHERE name = ?", name) is not None

    def has_group(self, name: str) -> bool:
        return self._one("SELECT 1 FROM thing_groups WHERE name = ?", name) is not None

    def group_ancestors(self, name: str) -> list[str]:
        out: list[str] = []
        row = self._one("SELECT parent FROM thing_groups WHERE name = ?", name)
        while row and row[0] and row[0] not in out:
            out.append(row[0])
            row = self._one("SELECT parent FROM thing_groups WHERE name = ?", row[0])
        return out

    # Certificates ------------------------------------------------------------------------------------

    def add_certificate(
        self, certificate_id: str, pem: str, *, token: str | None, token_ttl: float | None, status: str
    ) -> None:
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO certificates (id, pem, status, created, token, token_expires) VALUES (?, ?, ?, ?, ?, ?)",
                (certificate_id, pem, status, now, token, now + token_ttl if token_ttl is not None else None),
            )

    def certificate(self, certificate_id: str) -> Certificate | None:
        row = self._one("SELECT * FROM certificates WHERE id = ?", certificate_id)
        return _certificate(row) if row else None

    def set_temporary_claim(self, certificate_id: str, expires: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE certificates SET temporary_claim_expires = ? WHERE id = ?", (expires, certificate_id))

    def certificate_by_token(self, token: str) -> Certificate | None:
        row = self._one("SELECT * FROM certificates WHERE token = ?", token)
        return _certificate(row) if row else None

    def set_certificate_status(self, certificate_id: str, status: str, db: sqlite3.Connection | None = None) -> None:
        conn = db or self._db
        with self._lock:
            updated = conn.execute("UPDATE certificates SET status = ? WHERE id = ?", (status, certificate_id))
            self.changed(self.cert_arn(certificate_id))
            if updated.rowcount == 0:
                raise ServiceError(404, "ResourceNotFoundException", f"Certificate {certificate_id} does not exist")

    def consume_token(self, token: str, db: sqlite3.Connection) -> Certificate:
        """Mark the ownership token used; refuse unknown, used or expired tokens."""
        row = db.execute("SELECT * FROM certificates WHERE token = ?", (token,)).fetchone()
        if row is None:
            raise ServiceError(400, "InvalidCertificateOwnershipToken", "Certificate ownership token is not valid.")
        cert = _certificate(row)
        if cert.token_used:
            raise ServiceError(400, "InvalidCertificateOwnershipToken", "Certificate ownership token was already used.")
        if cert.token_expires is not None and cert.token_expires < time.time():
            raise ServiceError(400, "InvalidCertificateOwnershipToken", "Certificate ownership token has expired.")
        db.execute("UPDATE certificates SET token_used = 1 WHERE id = ?", (cert.id,))
        return cert

    def expire_unactivated(self, now: float | None = None) -> list[str]:
        """Delete certificates whose token expired while still PENDING_ACTIVATION and unattached."""
        now = time.time() if now is None else now
        with self.transaction() as db:
            rows = db.execute(
                "SELECT id FROM certificates WHERE status = 'PENDING_ACTIVATION' AND token_expires < ?", (now,)
            ).fetchall()
            gone = []
            for (cid,) in rows:
                arn = self.cert_arn(cid)
                attached = db.execute(
                    "SELECT 1 FROM thing_principals WHERE principal = ? "
                    "UNION SELECT 1 FROM policy_targets WHERE target = ?",
                    (arn, arn),
                ).fetchone()
                if attached is None:
                    db.execute("DELETE FROM certificates WHERE id = ?", (cid,))
                    gone.append(cid)
            return gone

    # Things ------------------------------------------------------------------------------------------

    def thing(self, name: str) -> Thing | None:
        row = self._one("SELECT name, type, attributes, version FROM things WHERE name = ?", name)
        if row is None:
            return None
        groups = tuple(r[0] for r in self._all("SELECT grp FROM group_members WHERE thing = ? ORDER BY grp", name))
        return Thing(row[0], row[1], json.loads(row[2]), row[3], groups)

    def upsert_thing(
        self,
        db: sqlite3.Connection,
        *,
        name: str,
        thing_type: str | None,
        attributes: Mapping[str, str],
        groups: tuple[str, ...],
        overrides: Mapping[str, str],
    ) -> None:
        """Create the thing, or apply the template's OverrideSettings to the existing one."""
        self.changed(f"thing:{name}")
        existing = db.execute("SELECT type, attributes FROM things WHERE name = ?", (name,)).fetchone()
        if existing is None:
            db.execute(
                "INSERT INTO things (name, type, attributes) VALUES (?, ?, ?)",
                (name, thing_type, json.dumps(attributes)),
            )
            db.executemany("INSERT OR IGNORE INTO group_members VALUES (?, ?)", [(g, name) for g in groups])
            return
        old_type, old_attrs = existing[0], json.loads(existing[1])
        for key, new, old in (("ThingTypeName", thing_type, old_type), ("AttributePayload", attributes, old_attrs)):
            if overrides.get(key, "DO_NOTHING") == "FAIL" and new != old:
                raise ServiceError(400, "ResourceConflictsException", f"Thing {name} exists with a different {key}.")
        mode = overrides.get("ThingTypeName", "DO_NOTHING")
        new_type = thing_type if mode == "REPLACE" else old_type
        mode = overrides.get("AttributePayload", "DO_NOTHING")
        new_attrs = (
            {**old_attrs, **attributes} if mode == "MERGE" else dict(attributes) if mode == "REPLACE" else old_attrs
        )
        db.execute(
            "UPDATE things SET type = ?, attributes = ?, version = version + 1 WHERE name = ?",
            (new_type, json.dumps(new_attrs), name),
        )
        mode = overrides.get("ThingGroups", "DO_NOTHING")
        current = {r[0] for r in db.execute("SELECT grp FROM group_members WHERE thing = ?", (name,)).fetchall()}
        if mode == "FAIL" and current != set(groups):
            raise ServiceError(400, "ResourceConflictsException", f"Thing {name} exists in other groups.")
        if mode == "REPLACE":
            db.execute("DELETE FROM group_members WHERE thing = ?", (name,))
        if mode in ("REPLACE", "MERGE"):
            db.executemany("INSERT OR IGNORE INTO group_members VALUES (?, ?)", [(g, name) for g in groups])

    def attach_thing_principal(self, db: sqlite3.Connection, thing: str, principal: str) -> None:
        db.execute("INSERT OR IGNORE INTO thing_principals VALUES (?, ?)", (thing, principal))
        self.changed(f"thing:{thing}", principal)

    def thing_principals(self, thing: str) -> list[str]:
        return [
            r[0] for r in self._all("SELECT principal FROM thing_principals WHERE thing = ? ORDER BY principal", thing)
        ]

    def detach_thing_principal(self, thing: str, principal: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM thing_principals WHERE thing = ? AND principal = ?", (thing, principal))
        self.changed(f"thing:{thing}", principal)

    def principal_things(self, principal: str) -> list[str]:
        return [
            r[0] for r in self._all("SELECT thing FROM thing_principals WHERE principal = ? ORDER BY thing", principal)
        ]

    # Claim certificates the stacks create ------------------------------------------------------------

    def certificates_with_csr(self, csr: str) -> list[str]:
        return [r[0] for r in self._all("SELECT certificate FROM claim_csrs WHERE csr = ?", csr)]

    def remember_csr(self, certificate_id: str, csr: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO claim_csrs VALUES (?, ?)", (csr, certificate_id))

    # Group membership and policy attachments (the control plane) ---------------------------------------

    def add_to_group(self, group: str, thing: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO group_members VALUES (?, ?)", (group, thing))
        self.changed(f"thing:{thing}")

    def remove_from_group(self, group: str, thing: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM group_members WHERE grp = ? AND thing = ?", (group, thing))
        self.changed(f"thing:{thing}")

    def group_things(self, group: str) -> list[str]:
        return [r[0] for r in self._all("SELECT thing FROM group_members WHERE grp = ? ORDER BY thing", group)]

    def group_parent(self, group: str) -> str | None:
        row = self._one("SELECT parent FROM thing_groups WHERE name = ?", group)
        return row[0] if row else None

    def detach_policy(self, policy: str, target: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM policy_targets WHERE policy = ? AND target = ?", (policy, target))
        self.changed(*([target] if ":cert/" in target else []))

    def targets_of(self, policy: str) -> list[str]:
        return [r[0] for r in self._all("SELECT target FROM policy_targets WHERE policy = ? ORDER BY target", policy)]

    def policy_names(self) -> list[str]:
        return [r[0] for r in self._all("SELECT name FROM policies ORDER BY name")]

    def certificates(self) -> list[Certificate]:
        return [_certificate(r) for r in self._all("SELECT * FROM certificates ORDER BY created")]

    def thing_names(self) -> list[str]:
        return [r[0] for r in self._all("SELECT name FROM things ORDER BY name")]
