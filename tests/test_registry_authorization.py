"""Registry-based authorization end to end on the local double, as a station runs it: a gateway's site
comes from its allowlist entry (never from the device), and decides whether the gateway may connect."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from contracts.exit_status import ExitStatus
from tests.provisioning.conftest import cli

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]


def _allow(double: Any, serial: str, site: str | None) -> None:
    item: dict[str, Any] = {"fleet": {"S": "gateways"}, "serial": {"S": serial}, "status": {"S": "ALLOWED"}}
    if site is not None:
        item["parameters"] = {"M": {"SiteCode": {"S": site}}}
    (table,) = double.assembly.tables.values()
    double.dynamodb.put_item(TableName=table.name, Item=item)


def test_the_site_is_the_allowlists_and_decides_the_connect(
    double: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = tmp_path / "outputs.json"
    double.write_outputs(outputs)
    # GW..91: no stored site (the default pla01), though the device claims zzz99; GW..92: stored pla02;
    # GW..93: stored plz09, a valid site code that the gateways' policy does not allow.
    _allow(double, "GW0000000091", None)
    _allow(double, "GW0000000092", "pla02")
    _allow(double, "GW0000000093", "plz09")
    manifest = tmp_path / "gateways.csv"
    manifest.write_text("SerialNumber,SiteCode\nGW0000000091,zzz99\nGW0000000092,zzz99\nGW0000000093,zzz99\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "operator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator")
    work = tmp_path / "work"
    result = cli(
        "run", str(manifest), "--outputs", str(outputs), "--fleet", "gateways", "--trusted-user",
        "--work-dir", str(work), "--workers", "1", "--rate", "0", "--plaintext-keys",
    )  # fmt: skip
    assert result.status == ExitStatus.FAILED, result.text
    assert "2 provisioned and verified" in result.out, result.text
    things = {json.loads(p.read_text())["thingName"] for p in (work / "bundles").glob("*/device.json")}
    assert {"gw-pla01-GW0000000091", "gw-pla02-GW0000000092"} <= things
    assert not any("zzz99" in t for t in things), "the device's own site claim is never used"
    # The third was provisioned with the allowlist's site but may not connect: its registry says plz09.
    assert double.registry.thing_principals("gw-plz09-GW0000000093"), "provisioned"
    assert "failed GW0000000093: could not connect" in result.text
    assert "as gw-plz09-GW0000000093" in result.text
    assert "NOT_AUTHORIZED" in result.text, "refused by the attribute condition, not by anything else"
