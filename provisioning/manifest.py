"""Batch manifests (CSV or JSON lines): validated whole before any device is touched.

Each row has the fleet's template parameters as columns (``SerialNumber``, ``MacAddress``, ...),
optionally ``key_store`` (``file`` or ``pkcs11``) to override the batch default. Rows are read as
a stream, so memory does not grow with the manifest beyond the set of serials seen.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

RESERVED_COLUMNS = ("key_store",)


@dataclass(frozen=True)
class Row:
    line: int
    serial: str
    parameters: Mapping[str, str]
    key_store: str | None = None


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


class ManifestError(Exception):
    def __init__(self, path: Path, errors: list[RowError]) -> None:
        self.path = path
        self.errors = errors
        shown = "\n".join(f"  {path}:{e.line}: {e.message}" for e in errors[:200])
        more = f"\n  ... and {len(errors) - 200} more" if len(errors) > 200 else ""
        super().__init__(
            f"manifest refused, no device was touched ({len(errors)} bad row(s)):\n{shown}{more}\n"
            "  fix these rows and run the batch again"
        )


def _records(path: Path) -> Iterator[tuple[int, dict[str, str] | str]]:
    """(line number, record or an error message) for each data line."""
    if path.suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            for number, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield number, f"not valid JSON ({exc.msg})"
                    continue
                if not isinstance(record, dict) or not all(isinstance(v, str) for v in record.values()):
                    yield number, "must be a JSON object of strings"
                    continue
                yield number, record
        return
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for record in reader:
            if None in record or any(v is None for v in record.values()):
                yield reader.line_num, "has a different number of columns than the header"
                continue
            yield reader.line_num, {k.strip(): v.strip() for k, v in record.items() if k is not None and v is not None}


class _SeenSerials:
    """Serials seen so far, in a temporary SQLite file: memory stays flat for any manifest size."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="manifest-")
        self._db = sqlite3.connect(Path(self._dir.name) / "seen.sqlite", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (serial TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        self._db.execute("BEGIN")

    def add(self, serial: str, line: int) -> int | None:
        """Record ``serial``; return the line where it was first seen if it is a repeat."""
        row = self._db.execute("SELECT line FROM seen WHERE serial = ?", (serial,)).fetchone()
        if row is not None:
            return int(row[0])
        self._db.execute("INSERT INTO seen VALUES (?, ?)", (serial, line))
        return None

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


def rows(
    path: Path, *, patterns: Mapping[str, str], serial_parameter: str, defaults: Mapping[str, str]
) -> Iterator[Row]:
    """Valid rows, in order; call ``validate`` first to refuse a manifest with any bad row."""
    for line, record in _records(path):
        if isinstance(record, dict):
            params = {k: v for k, v in record.items() if k not in RESERVED_COLUMNS}
            yield Row(line, params.get(serial_parameter, ""), {**defaults, **params}, record.get("key_store") or None)


def validate(path: Path, *, patterns: Mapping[str, str], serial_parameter: str, defaults: Mapping[str, str]) -> int:
    """Check every row; raise ManifestError listing each bad row with its line number. Returns the row count."""
    if not path.exists():
        raise ManifestError(path, [RowError(0, "file not found")])
    errors: list[RowError] = []
    seen = _SeenSerials()
    count = 0
    for line, record in _records(path):
        count += 1
        if isinstance(record, str):
            errors.append(RowError(line, record))
            continue
        unknown = sorted(set(record) - set(patterns) - set(RESERVED_COLUMNS))
        if unknown:
            errors.append(
                RowError(line, f"unknown column(s) {', '.join(unknown)}; the template takes {', '.join(patterns)}")
            )
        for name, pattern in patterns.items():
            value = record.get(name, defaults.get(name))
            if value is None or value == "":
                if name not in defaults:
                    errors.append(RowError(line, f"{name} is missing"))
                continue
            if not re.fullmatch(pattern, value):
                errors.append(RowError(line, f"{name} {value!r} does not match {pattern}"))
        store = record.get("key_store")
        if store not in (None, "", "file", "pkcs11"):
            errors.append(RowError(line, f"key_store {store!r} must be file or pkcs11"))
        serial = record.get(serial_parameter, "")
        if serial:
            first = seen.add(serial, line)
            if first is not None:
                errors.append(RowError(line, f"serial {serial} repeats line {first}"))
        if len(errors) > 10_000:
            break  # enough to fix first; memory stays bounded
    seen.close()
    if count == 0:
        errors.append(RowError(0, "the manifest has no rows"))
    if errors:
        raise ManifestError(path, errors)
    return count
