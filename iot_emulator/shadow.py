"""The Device Shadow service: classic and named shadows over MQTT (and iot-data REST), durable in SQLite.

Documents, versions, deltas and errors follow AWS's Device Shadow documentation (device-shadow-
document, device-shadow-mqtt, device-shadow-data-flow, device-shadow-error-messages): ``state``
with ``desired`` and ``reported``, a ``null`` leaf deletes, objects merge key by key and arrays are
replaced whole, ``version`` is an optimistic lock and survives a delete for 48 hours, errors are
``{code, message, timestamp, clientToken}``. Each request returns the messages the service
publishes, in order: accepted, documents, delta (or the rejection). Choices AWS does not document
are fields of ``ShadowOptions`` (docs/emulator.md lists them).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iot_emulator.payloads import PayloadError, decode_json
from iot_semantics import limits
from iot_semantics.topics import ShadowTopic

SCHEMA = """
CREATE TABLE IF NOT EXISTS shadows (
  thing TEXT NOT NULL, name TEXT NOT NULL, state TEXT, metadata TEXT, version INTEGER NOT NULL,
  updated REAL NOT NULL, deleted REAL, PRIMARY KEY (thing, name)
);
"""
SECTIONS = ("desired", "reported")


@dataclass(frozen=True)
class ShadowOptions:
    max_bytes: int = limits.SHADOW_DOCUMENT_MAX_BYTES
    max_depth: int = limits.SHADOW_DEPTH_MAX
    client_token_max_bytes: int = limits.SHADOW_CLIENT_TOKEN_MAX_BYTES
    version_retention_seconds: float = limits.SHADOW_VERSION_RETENTION_SECONDS
    #: UNVERIFIED: whether a delta is published after every accepted update that leaves one, or
    #: (default) only after updates that carry a ``desired`` section.
    delta_on_every_update: bool = False
    #: UNVERIFIED: whether shadows need a registered thing (404 "Thing not found" otherwise).
    require_thing: bool = False


class ShadowError(Exception):
    def __init__(self, code: int, message: str, *, timestamp: bool = True) -> None:
        super().__init__(message)
        self.code, self.message, self.timestamp = code, message, timestamp


@dataclass
class _Shadow:
    state: dict[str, Any]
    metadata: dict[str, Any]
    version: int
    exists: bool


def depth(node: Any) -> int:
    """Levels of objects/arrays under ``node`` (a leaf is 0, ``{"a": 1}`` is 1)."""
    if isinstance(node, dict):
        return 1 + max((depth(v) for v in node.values()), default=0)
    if isinstance(node, list):
        return 1 + max((depth(v) for v in node), default=0)
    return 0


def _has_null_in_array(node: Any, in_array: bool = False) -> bool:
    if node is None:
        return in_array
    if isinstance(node, dict):
        return any(_has_null_in_array(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_null_in_array(v, True) for v in node)
    return False


def _leaf_metadata(value: Any, stamp: int) -> Any:
    if isinstance(value, dict):
        return {k: _leaf_metadata(v, stamp) for k, v in value.items()}
    if isinstance(value, list):
        return [_leaf_metadata(v, stamp) for v in value]
    return {"timestamp": stamp}


def merge(target: dict[str, Any], meta: dict[str, Any], update: dict[str, Any], stamp: int) -> None:
    """Apply ``update`` to ``target`` (and its metadata) the way AWS merges a shadow section."""
    for key, value in update.items():
        if value is None:
            target.pop(key, None)
            meta.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            old = meta.get(key)
            sub_meta: dict[str, Any] = old if isinstance(old, dict) else {}
            merge(target[key], sub_meta, value, stamp)
            meta[key] = sub_meta
        elif isinstance(value, dict):
            target[key], meta[key] = {}, {}
            merge(target[key], meta[key], value, stamp)
        else:
            target[key] = value
            meta[key] = _leaf_metadata(value, stamp)


def delta(desired: Any, reported: Any) -> dict[str, Any]:
    """Desired fields absent from or different in ``reported``, with their path to the root."""
    out: dict[str, Any] = {}
    if not isinstance(desired, dict):
        return out
    reported = reported if isinstance(reported, dict) else {}
    for key, want in desired.items():
        have = reported.get(key, _MISSING)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = delta(want, have)
            if sub:
                out[key] = sub
        elif want != have:
            out[key] = want
    return out


def _pick(meta: Any, shape: Any) -> Any:
    """The part of ``meta`` that describes the keys of ``shape`` (delta metadata from desired's)."""
    if isinstance(shape, dict) and isinstance(meta, dict):
        return {k: _pick(meta.get(k), v) for k, v in shape.items()}
    return meta


_MISSING = object()


class ShadowService:
    def __init__(
        self,
        path: Path,
        *,
        options: ShadowOptions | None = None,
        thing_exists: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options or ShadowOptions()
        self.thing_exists = thing_exists
        self.clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # storage ------------------------------------------------------------------------------------------

    def _load(self, thing: str, name: str | None) -> _Shadow:
        row = self._db.execute(
            "SELECT state, metadata, version, updated, deleted FROM shadows WHERE thing = ? AND name = ?",
            (thing, name or ""),
        ).fetchone()
        if row is None:
            return _Shadow({}, {}, 0, False)
        if row[4] is not None:  # deleted: the version is kept for a while, then numbering restarts
            kept = self.clock() - row[4] < self.options.version_retention_seconds
            return _Shadow({}, {}, row[2] if kept else 0, False)
        return _Shadow(json.loads(row[0]), json.loads(row[1]), row[2], True)

    def _save(self, thing: str, name: str | None, shadow: _Shadow, *, deleted: bool = False) -> None:
        now = self.clock()
        self._db.execute(
            "INSERT OR REPLACE INTO shadows VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                thing,
                name or "",
                json.dumps(shadow.state),
                json.dumps(shadow.metadata),
                shadow.version,
                now,
                now if deleted else None,
            ),
        )

    def named_shadows(self, thing: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name FROM shadows WHERE thing = ? AND name != '' AND deleted IS NULL ORDER BY name", (thing,)
            ).fetchall()
        return [r[0] for r in rows]

    # requests -----------------------------------------------------------------------------------------

    def handle(self, topic: ShadowTopic, payload: bytes) -> list[tuple[str, dict[str, Any]]]:
        """The messages the service publishes for a request published on ``topic``: (topic, document)."""
        token: str | None = None
        try:
            request = self.parse_request(payload)
            token = self.client_token(request)
            with self._lock:
                if topic.operation == "get":
                    return [(topic.reply("accepted"), self.get(topic.thing, topic.shadow, token))]
                if topic.operation == "delete":
                    return [(topic.reply("accepted"), self.delete(topic.thing, topic.shadow, token))]
                return self._update(topic, request, token)
        except ShadowError as exc:
            return [(topic.reply("rejected"), self._error(exc, token))]

    def _error(self, exc: ShadowError, token: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.timestamp:
            body["timestamp"] = int(self.clock())
        if token is not None:
            body["clientToken"] = token
        return body

    def parse_request(self, payload: bytes) -> dict[str, Any]:
        if not payload.strip():
            return {}
        try:
            request = decode_json(payload)
        except PayloadError as exc:
            if exc.reason == "encoding":
                raise ShadowError(415, "Unsupported documented encoding; supported encoding is UTF-8") from None
            if exc.reason == "depth":
                raise ShadowError(400, self._depth_message()) from None
            raise ShadowError(400, "Invalid JSON") from None
        if not isinstance(request, dict):
            raise ShadowError(400, "Invalid JSON")
        return request

    def client_token(self, request: dict[str, Any]) -> str | None:
        token = request.get("clientToken")
        if token is None:
            return None
        if not isinstance(token, str) or len(token.encode()) > self.options.client_token_max_bytes:
            raise ShadowError(400, "Invalid clientToken")
        return token

    def _depth_message(self) -> str:
        return f"JSON contains too many levels of nesting; maximum is {self.options.max_depth}"

    def _check_thing(self, thing: str) -> None:
        if self.options.require_thing and self.thing_exists is not None and not self.thing_exists(thing):
            raise ShadowError(404, "Thing not found")

    def _stamped(self, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        body["timestamp"] = int(self.clock())
        if token is not None:
            body["clientToken"] = token
        return body

    @staticmethod
    def _missing(thing: str, name: str | None) -> ShadowError:
        return ShadowError(404, f"No shadow exists with name: '{name or thing}'")

    def get(self, thing: str, name: str | None, token: str | None = None) -> dict[str, Any]:
        """The whole document (``state`` with ``delta`` when desired and reported differ)."""
        self._check_thing(thing)
        with self._lock:
            shadow = self._load(thing, name)
        if not shadow.exists:
            raise self._missing(thing, name)
        state = {k: shadow.state[k] for k in SECTIONS if k in shadow.state}
        metadata = {k: shadow.metadata[k] for k in SECTIONS if k in shadow.metadata}
        difference = delta(state.get("desired"), state.get("reported"))
        if difference:
            state["delta"] = difference
        return self._stamped({"state": state, "metadata": metadata, "version": shadow.version}, token)

    def delete(self, thing: str, name: str | None, token: str | None = None) -> dict[str, Any]:
        self._check_thing(thing)
        with self._lock:
            shadow = self._load(thing, name)
            if not shadow.exists:
                raise self._missing(thing, name)
            self._save(thing, name, _Shadow({}, {}, shadow.version, False), deleted=True)
        return self._stamped({"version": shadow.version}, token)

    def _validate_update(self, request: dict[str, Any]) -> dict[str, Any] | None:
        if "state" not in request:
            raise ShadowError(400, "Missing required node: state")
        state = request["state"]
        if state is None:
            return None
        if not isinstance(state, dict):
            raise ShadowError(400, "State node must be an object")
        if set(state) - set(SECTIONS):
            raise ShadowError(400, "State contains an invalid node")
        for section in SECTIONS:
            value = state.get(section)
            if value is not None and not isinstance(value, dict):
                raise ShadowError(400, f"{section.capitalize()} node must be an object")
        version = request.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise ShadowError(400, "Invalid version")
        if any(depth(state.get(s)) > self.options.max_depth for s in SECTIONS):
            raise ShadowError(400, self._depth_message())
        if _has_null_in_array(state):
            raise ShadowError(400, "Invalid JSON")
        return state

    def update(
        self, thing: str, name: str | None, request: dict[str, Any], token: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any], dict[str, Any] | None]:
        """(accepted, previous, current, delta) of an update request; raises ShadowError."""
        self._check_thing(thing)
        state = self._validate_update(request)
        with self._lock:
            return self._apply(thing, name, state, request.get("version"), token)

    def _apply(
        self, thing: str, name: str | None, state: dict[str, Any] | None, version: Any, token: str | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any], dict[str, Any] | None]:
        shadow = self._load(thing, name)
        if version is not None and version != shadow.version:
            raise ShadowError(409, "Version conflict", timestamp=False)
        previous = (
            {"state": json.loads(json.dumps(shadow.state)), "metadata": shadow.metadata, "version": shadow.version}
            if shadow.exists
            else None
        )
        stamp = int(self.clock())
        new_state = json.loads(json.dumps(shadow.state))
        new_meta = json.loads(json.dumps(shadow.metadata))
        accepted_meta: dict[str, Any] = {}
        for section in SECTIONS:
            if state is None or (section in state and state[section] is None):
                new_state.pop(section, None)
                new_meta.pop(section, None)
            elif section in state:
                target = new_state.setdefault(section, {})
                meta = new_meta.setdefault(section, {})
                merge(target, meta, state[section], stamp)
                accepted_meta[section] = _leaf_metadata(state[section], stamp)
        size = len(json.dumps({k: new_state[k] for k in SECTIONS if k in new_state}, separators=(",", ":")).encode())
        if size > self.options.max_bytes:
            raise ShadowError(413, "The payload exceeds the maximum size allowed")
        updated = _Shadow(new_state, new_meta, shadow.version + 1, True)
        self._save(thing, name, updated)
        accepted = self._stamped({"state": state, "metadata": accepted_meta, "version": updated.version}, token)
        current = {"state": new_state, "metadata": new_meta, "version": updated.version}
        difference = delta(new_state.get("desired"), new_state.get("reported"))
        wants_delta = self.options.delta_on_every_update or (state is not None and "desired" in state)
        delta_doc = None
        if difference and wants_delta:
            delta_doc = self._stamped(
                {
                    "state": difference,
                    "metadata": _pick(new_meta.get("desired"), difference),
                    "version": updated.version,
                },
                token,
            )
        return accepted, previous, current, delta_doc

    def _update(
        self, topic: ShadowTopic, request: dict[str, Any], token: str | None
    ) -> list[tuple[str, dict[str, Any]]]:
        accepted, previous, current, delta_doc = self.update(topic.thing, topic.shadow, request, token)
        documents: dict[str, Any] = {"current": current}
        if previous is not None:
            documents["previous"] = previous
        out = [(topic.reply("accepted"), accepted), (topic.reply("documents"), self._stamped(documents, token))]
        if delta_doc is not None:
            out.append((topic.reply("delta"), delta_doc))
        return out
