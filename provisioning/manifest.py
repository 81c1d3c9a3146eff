"""Batch manifests (CSV or JSON lines): validated whole before any device is touched.

Each row has the fleet's template parameters as columns (``SerialNumber``, ``MacAddress``, ...),
optionally ``key_store`` (``file`` or ``pkcs11``) to override the batch default. Files are UTF-8;
a byte-order mark (as spreadsheets write it) is accepted. A bad CSV header is one error on line 1.
Rows are read as a stream, so memory does not grow with the manifest beyond the set of serials seen.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from provisioning.constants import KEY_STORES
from provisioning.errors import UsageError

RESERVED_COLUMNS = ("key_store",)
MAX_ERRORS = 10_000


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


class ManifestError(UsageError):
    """The manifest is refused; ``errors`` lists each bad line."""

    def __init__(self, path: Path, errors: list[RowError]) -> None:
        self.path = path
        self.errors = errors
        shown = "\n".join(
            f"  {path}:{e.line}: {e.message}" if e.line else f"  {path}: {e.message}" for e in errors[:200]
        )
        more = f"\n  ... and {len(errors) - 200} more" if len(errors) > 200 else ""
        super().__init__(
            f"manifest refused, no device was touched ({len(errors)} problem(s)):\n{shown}{more}",
            "fix these lines and run the batch again",
        )


@dataclass(frozen=True)
class Schema:
    """What a fleet's manifest must hold: the template's parameters, which has a default, the serial."""

    patterns: Mapping[str, str]
    serial_parameter: str
    defaults: Mapping[str, str]


def fingerprint(path: Path) -> str:
    """SHA-256 of the manifest's bytes (the journal records it)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lines(path: Path) -> Iterator[str]:
    """The file's lines as text: UTF-8 with an optional BOM; any other encoding is one clear error."""
    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ManifestError(
                        path,
                        [
                            RowError(
                                number,
                                f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                                "save the manifest as UTF-8 (a spreadsheet's 'CSV UTF-8')",
                            )
                        ],
                    ) from None
    except FileNotFoundError:
        raise ManifestError(path, [RowError(0, "no such file")]) from None
    except IsADirectoryError:
        raise ManifestError(path, [RowError(0, "is a directory, not a manifest file")]) from None
    except PermissionError:
        raise ManifestError(path, [RowError(0, "cannot be read (permission denied)")]) from None


def _is_jsonl(path: Path) -> bool:
    return path.suffix in (".jsonl", ".ndjson")


def _json_records(path: Path) -> Iterator[tuple[int, dict[str, str] | str]]:
    for number, text in enumerate(_lines(path), start=1):
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


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, str] | str]]:
    reader = csv.reader(_lines(path))
    header: list[str] | None = None
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a lone CR inside an unquoted field; the reader goes on after it
            yield (
                reader.line_num,
                (
                    f"is not readable CSV ({exc}); a line break inside a field must be quoted, "
                    "and lines must end with LF or CRLF"
                ),
            )
            continue
        if header is None:
            header = [h.strip() for h in record]
            continue
        if not any(v.strip() for v in record):
            continue
        if len(record) != len(header):
            yield reader.line_num, f"has {len(record)} column(s), the header has {len(header)}"
            continue
        yield reader.line_num, {k: v.strip() for k, v in zip(header, record, strict=True)}


def _records(path: Path) -> Iterator[tuple[int, dict[str, str] | str]]:
    """(line number, record or an error message) for each data line."""
    return _json_records(path) if _is_jsonl(path) else _csv_records(path)


def header_errors(path: Path, schema: Schema) -> list[RowError]:
    """A CSV header's problems, as one error on line 1 (then no row is judged)."""
    if _is_jsonl(path):
        return []
    first = next(iter(_lines(path)), None)
    if first is None or not first.strip():
        return [RowError(1, "the manifest is empty: the first line must be the header")]
    try:
        header = [h.strip() for h in next(csv.reader([first]))]
    except csv.Error as exc:
        return [RowError(1, f"the header is not readable CSV ({exc}); lines must end with LF or CRLF")]
    problems = []
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    unknown = [h for h in header if h not in schema.patterns and h not in RESERVED_COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    missing = [p for p in schema.patterns if p not in header and p not in schema.defaults]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if not problems:
        return []
    return [RowError(1, "bad header: " + "; ".join(problems) + f"; the template takes {', '.join(schema.patterns)}")]


class _SeenSerials:
    """Serials seen so far, in a temporary SQLite file: memory stays flat for any manifest size."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="manifest-")
        self._db = sqlite3.connect(Path(self._dir.name) / "seen.sqlite", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (serial TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        self._db.execute("BEGIN")

    def __enter__(self) -> _SeenSerials:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._db.close()
        self._dir.cleanup()

    def add(self, serial: str, line: int) -> int | None:
        """Record ``serial``; return the line where it was first seen if it is a repeat."""
        row = self._db.execute("SELECT line FROM seen WHERE serial = ?", (serial,)).fetchone()
        if row is not None:
            return int(row[0])
        self._db.execute("INSERT INTO seen VALUES (?, ?)", (serial, line))
        return None


def rows(path: Path, schema: Schema) -> Iterator[Row]:
    """Valid rows, in order; call ``validate`` first to refuse a manifest with any bad row."""
    for line, record in _records(path):
        if isinstance(record, dict):
            params = {k: v for k, v in record.items() if k not in RESERVED_COLUMNS and v != ""}
            serial = params.get(schema.serial_parameter, "")
            yield Row(line, serial, {**schema.defaults, **params}, record.get("key_store") or None)


def _row_errors(line: int, record: dict[str, str], schema: Schema, *, check_columns: bool) -> Iterator[RowError]:
    if check_columns:  # JSON lines have no header: each record names its own columns
        unknown = sorted(set(record) - set(schema.patterns) - set(RESERVED_COLUMNS))
        if unknown:
            yield RowError(
                line, f"unknown column(s) {', '.join(unknown)}; the template takes {', '.join(schema.patterns)}"
            )
    for name, pattern in schema.patterns.items():
        value = record.get(name) or schema.defaults.get(name)
        if value is None or value == "":
            yield RowError(line, f"{name} is empty")
            continue
        if not re.fullmatch(pattern, value):
            yield RowError(line, f"{name} {value!r} does not match {pattern}")
    store = record.get("key_store")
    if store not in (None, "", *KEY_STORES):
        yield RowError(line, f"key_store {store!r} must be {' or '.join(KEY_STORES)}")


def validate(path: Path, schema: Schema) -> int:
    """Check every row; raise ManifestError listing each bad line. Returns the row count."""
    errors = header_errors(path, schema)
    if errors:
        raise ManifestError(path, errors)
    count = 0
    jsonl = _is_jsonl(path)
    with _SeenSerials() as seen:
        for line, record in _records(path):
            count += 1
            if isinstance(record, str):
                errors.append(RowError(line, record))
                continue
            errors.extend(_row_errors(line, record, schema, check_columns=jsonl))
            serial = record.get(schema.serial_parameter, "")
            if serial and (first := seen.add(serial, line)) is not None:
                errors.append(RowError(line, f"serial {serial} repeats line {first}"))
            if len(errors) > MAX_ERRORS:
                break  # enough to fix first; memory stays bounded
    if count == 0 and not errors:
        errors.append(RowError(0, "the manifest has no rows"))
    if errors:
        raise ManifestError(path, errors)
    return count
