"""Manifests `make fuzz` found crashing the reader (csv.Error out of validate); each is now a ManifestError."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning import manifest

SCHEMA = manifest.Schema(
    patterns={"SerialNumber": r"[A-Z0-9-]{4,32}", "MacAddress": r".*"}, serial_parameter="SerialNumber", defaults={}
)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"SerialNumber,MacAddress\n,\r0\n", ":2: is not readable CSV"),  # a lone CR inside a row
        (b"SerialNumber,MacAddress\r0\nAB12,x\n", ":1: the header is not readable CSV"),  # ... inside the header
    ],
)
def test_a_lone_carriage_return_is_a_manifest_error(tmp_path: Path, data: bytes, where: str) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    with pytest.raises(manifest.ManifestError) as refused:
        manifest.validate(path, SCHEMA)
    assert where in refused.value.cause


def test_crlf_lines_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"SerialNumber,MacAddress\r\nAB12,x\r\n")
    assert manifest.validate(path, SCHEMA) == 1
    assert [r.serial for r in manifest.rows(path, SCHEMA)] == ["AB12"]
