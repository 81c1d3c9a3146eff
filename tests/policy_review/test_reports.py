"""HTML, SARIF, JSON, suppressions and --can."""

from __future__ import annotations

import json
from pathlib import Path

from policy_review.cli import main
from tests.conftest import Synth

BROAD = {
    "Resources": {
        "Broad": {
            "Type": "AWS::IoT::Policy",
            "Properties": {
                "PolicyName": "broad",
                "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]},
            },
        }
    }
}


def test_reports_for_a_bad_template(tmp_path: Path) -> None:
    template = tmp_path / "bad.template.json"
    template.write_text(json.dumps(BROAD))
    out = {kind: tmp_path / f"r.{kind}" for kind in ("html", "sarif", "json")}
    assert (
        main([str(template), "--html", str(out["html"]), "--sarif", str(out["sarif"]), "--json", str(out["json"])]) == 1
    )
    page = out["html"].read_text()
    assert page.startswith("<!doctype html>")
    assert "IOT-OVERLY-PERMISSIVE" in page
    assert "<h2>IoT policy broad" in page  # the policy as a readable table
    assert "<script" not in page  # self-contained and static
    sarif = json.loads(out["sarif"].read_text())
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"IOT-OVERLY-PERMISSIVE", "IAM-SERVICE-STAR"}
    assert results[0]["locations"][0]["logicalLocations"][0]["name"] == "Broad"


def test_suppressions_need_a_reason_and_are_listed(tmp_path: Path) -> None:
    template = tmp_path / "bad.template.json"
    template.write_text(json.dumps(BROAD))
    good = tmp_path / "suppressions.yaml"
    good.write_text(
        "suppressions:\n"
        + "".join(
            f"  - {{rule: {rule}, resource: Broad, reason: lab policy of a bench rig that never leaves the lab}}\n"
            for rule in ("IOT-OVERLY-PERMISSIVE", "IAM-SERVICE-STAR", "IOT-CROSS-DEVICE")
        )
    )
    report = tmp_path / "r.json"
    assert main([str(template), "--suppressions", str(good), "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["findings"] == []
    assert {s["rule"] for s in data["suppressed"]} == {"IOT-OVERLY-PERMISSIVE", "IAM-SERVICE-STAR"}
    lazy = tmp_path / "lazy.yaml"
    lazy.write_text("suppressions:\n  - {rule: IOT-OVERLY-PERMISSIVE, resource: Broad, reason: ok}\n")
    assert main([str(template), "--suppressions", str(lazy)]) == 2


def test_can_answers_for_our_device_policies(synth: Synth, capsys: object) -> None:
    assert main([str(synth.outdir), "--can", "sensor-A", "iot:Publish", "topic/dt/sensors/sensor-A/x"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "acme-dev-sensors-device: Allow" in out
    assert main([str(synth.outdir), "--can", "sensor-A", "iot:Publish", "topic/dt/sensors/sensor-B/x"]) == 1
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "acme-dev-sensors-device: ImplicitDeny" in out
