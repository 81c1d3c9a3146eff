"""Manifests: validated whole, one error per bad line, a bad header once, UTF-8 with or without a BOM."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.errors import UsageError
from provisioning.manifest import ManifestError, Schema, fingerprint, rows, validate

SCHEMA = Schema(
    patterns={"SerialNumber": "^[A-Z0-9]{8,16}$", "MacAddress": "^([0-9A-F]{2}:){5}[0-9A-F]{2}$", "Site": "^[a-z]+$"},
    serial_parameter="SerialNumber",
    defaults={"Site": "plant"},
)


def refused(path: Path) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        validate(path, SCHEMA)
    return info.value


def test_good_rows_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("SerialNumber,MacAddress,Site\nSN00000001,AA:BB:CC:DD:EE:01,\nSN00000002,AA:BB:CC:DD:EE:02,lab\n\n")
    assert validate(path, SCHEMA) == 2
    got = list(rows(path, SCHEMA))
    assert [r.serial for r in got] == ["SN00000001", "SN00000002"]
    assert got[0].parameters["Site"] == "plant"  # an empty cell takes the default
    assert got[1].parameters["Site"] == "lab"
    assert len(fingerprint(path)) == 64


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"\xef\xbb\xbfSerialNumber,MacAddress\r\nSN00000001,AA:BB:CC:DD:EE:01\r\n")
    assert validate(path, SCHEMA) == 1
    assert next(rows(path, SCHEMA)).serial == "SN00000001"


def test_latin1_is_one_error_naming_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes("SerialNumber,MacAddress\nSN00000001,AA:BB:CC:DD:EE:01\nSN00000002,café\n".encode("latin-1"))
    error = refused(path)
    assert [(e.line, "not UTF-8" in e.message) for e in error.errors] == [(3, True)]
    assert f"{path}:3: not UTF-8" in error.cause
    assert isinstance(error, UsageError)


def test_a_bad_header_is_one_error_on_line_1(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    body = "".join(f"SN0000000{i},AA:BB:CC:DD:EE:0{i},red\n" for i in range(5))
    path.write_text("SerialNumber,Colour,Colour\n" + body)
    error = refused(path)
    assert len(error.errors) == 1
    (only,) = error.errors
    assert only.line == 1
    assert "repeated column(s) Colour" in only.message
    assert "unknown column(s) Colour, Colour" in only.message
    assert "missing column(s) MacAddress" in only.message


def test_every_bad_row_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "SerialNumber,MacAddress\n"
        "SN43000001,AA:BB:CC:DD:EE:01\n"
        "sn-lower,AA:BB:CC:DD:EE:02\n"
        "SN43000001,AA:BB:CC:DD:EE:03\n"
        "SN43000004,not-a-mac\n"
        "SN43000005\n"
        "SN43000006,AA:BB:CC:DD:EE:06,x,y\n"
    )
    lines = {(e.line, e.message.split(" ")[0]) for e in refused(path).errors}
    assert lines == {(3, "SerialNumber"), (4, "serial"), (5, "MacAddress"), (6, "has"), (7, "has")}


def test_missing_empty_and_directory(tmp_path: Path) -> None:
    error = refused(tmp_path / "none.csv")
    assert f"{tmp_path / 'none.csv'}: no such file" in error.cause
    assert ":0:" not in error.cause
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "the manifest is empty" in refused(empty).cause
    header_only = tmp_path / "header.csv"
    header_only.write_text("SerialNumber,MacAddress\n")
    assert "has no rows" in refused(header_only).cause
    assert "is a directory" in refused(tmp_path).cause


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"SerialNumber": "SN00000001", "MacAddress": "AA:BB:CC:DD:EE:01", "key_store": "pkcs11"}\n'
        "not json\n"
        '{"SerialNumber": "SN00000003", "MacAddress": "AA:BB:CC:DD:EE:03", "Extra": "x"}\n'
        '["a list"]\n'
    )
    messages = {e.line: e.message for e in refused(path).errors}
    assert set(messages) == {2, 3, 4}
    assert "unknown column(s) Extra" in messages[3]
    path.write_text('{"SerialNumber": "SN00000001", "MacAddress": "AA:BB:CC:DD:EE:01", "key_store": "pkcs11"}\n')
    assert validate(path, SCHEMA) == 1
    assert next(rows(path, SCHEMA)).key_store == "pkcs11"
