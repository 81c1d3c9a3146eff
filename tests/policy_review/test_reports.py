"""HTML, SARIF (suppressions included), JSON and Markdown, through the CLI a user runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from policy_review.cli import main

BROAD_DOC = {"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}


def broad(metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "Type": "AWS::IoT::Policy",
        "Properties": {"PolicyName": "broad", "PolicyDocument": BROAD_DOC},
    }
    if metadata:
        resource["Metadata"] = metadata
    return {"Resources": {"Broad": resource}}


def write(tmp: Path, template: dict[str, Any]) -> Path:
    path = tmp / "bad.template.json"
    path.write_text(json.dumps(template))
    return path


def test_reports_for_a_bad_template(tmp_path: Path) -> None:
    template = write(tmp_path, broad())
    out = {kind: tmp_path / f"r.{kind}" for kind in ("html", "sarif", "json", "md")}
    args = [
        str(template),
        "--html",
        str(out["html"]),
        "--sarif",
        str(out["sarif"]),
        "--json",
        str(out["json"]),
        "--markdown",
        str(out["md"]),
    ]
    assert main(args) == 1
    page = out["html"].read_text()
    assert page.startswith("<!doctype html>")
    assert "<script" not in page
    assert "IOT-CROSS-DEVICE-SHADOW" in page
    assert "<h2>IoT policy broad" in page
    sarif = json.loads(out["sarif"].read_text())
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["IOT-CROSS-DEVICE-SHADOW"]["properties"]["seeAlso"]
    results = run["results"]
    assert {r["ruleId"] for r in results} >= {"IOT-CROSS-DEVICE-SHADOW", "IOT-CONNECT-AS-OTHER"}
    first = results[0]
    assert first["locations"][0]["logicalLocations"][0]["name"] == "Broad"
    assert first["properties"]["findingId"].startswith(first["ruleId"] + "[")
    assert "suppressions" not in first
    data = json.loads(out["json"].read_text())
    assert data["findings"][0]["witness"]["kind"]
    assert len({(f["rule"], f["resource"], f["id"]) for f in data["findings"]}) == len(data["findings"]), (
        "no duplicates"
    )
    assert "`IOT-" in out["md"].read_text()


def test_suppressions_by_logical_id_policy_name_or_path_land_in_sarif(tmp_path: Path) -> None:
    template = write(tmp_path, broad())
    reason = "lab policy of a bench rig that never leaves the lab"
    path = tmp_path / "suppressions.yaml"
    path.write_text(
        "suppressions:\n"
        + "".join(
            f"  - {{rule: {rule}, resource: {resource}, reason: {reason}}}\n"
            for rule, resource in (
                ("IOT-CONNECT-AS-OTHER", "Broad"),
                ("IOT-CROSS-DEVICE-SHADOW", "broad"),
                ("IOT-CROSS-DEVICE-JOBS", "Broad"),
                ("IAM-ADMIN", "Broad"),
            )
        )
    )
    sarif_path, json_path = tmp_path / "r.sarif", tmp_path / "r.json"
    main([str(template), "--suppressions", str(path), "--sarif", str(sarif_path), "--json", str(json_path)])
    data = json.loads(json_path.read_text())
    assert {s["rule"] for s in data["suppressed"]} == {
        "IOT-CONNECT-AS-OTHER",
        "IOT-CROSS-DEVICE-SHADOW",
        "IOT-CROSS-DEVICE-JOBS",
    }
    assert data["unmatched_suppressions"] == [
        {"rule": "IAM-ADMIN", "resource": "Broad", "origin": f"{path}#3", "kind": "external"}
    ], "an IoT policy is no IAM policy: the stale suppression is reported"
    run = json.loads(sarif_path.read_text())["runs"][0]
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert {r["ruleId"] for r in suppressed} == {s["rule"] for s in data["suppressed"]}
    assert suppressed[0]["suppressions"] == [{"kind": "external", "status": "accepted", "justification": reason}]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert "IAM-ADMIN" in notes[0]["message"]["text"]


def test_in_source_acknowledgements_from_template_metadata(tmp_path: Path) -> None:
    reason = "a lab policy, kept for the bench rig only"
    metadata = {"iot-policy-review": {"acknowledge": [{"rule": "IOT-CONNECT-AS-OTHER", "reason": reason}]}}
    template = write(tmp_path, broad(metadata))
    sarif_path = tmp_path / "r.sarif"
    main([str(template), "--sarif", str(sarif_path)])
    results = json.loads(sarif_path.read_text())["runs"][0]["results"]
    (acknowledged,) = [r for r in results if "suppressions" in r]
    assert acknowledged["ruleId"] == "IOT-CONNECT-AS-OTHER"
    assert acknowledged["suppressions"][0]["kind"] == "inSource"


def test_a_granular_id_suppresses_one_finding(tmp_path: Path) -> None:
    template = write(tmp_path, broad())
    json_path = tmp_path / "r.json"
    main([str(template), "--json", str(json_path)])
    first = json.loads(json_path.read_text())["findings"][0]
    path = tmp_path / "s.json"
    path.write_text(json.dumps([{"rule": first["id"], "resource": first["path"], "reason": "x" * 30}]))
    main([str(template), "--suppressions", str(path), "--json", str(json_path)])
    data = json.loads(json_path.read_text())
    assert [s["id"] for s in data["suppressed"]] == [first["id"]]
    assert first["id"] not in [f["id"] for f in data["findings"]]


def test_bad_suppressions_and_bad_targets_are_usage_errors(tmp_path: Path) -> None:
    template = write(tmp_path, broad())
    lazy = tmp_path / "lazy.yaml"
    lazy.write_text("suppressions:\n  - {rule: IOT-CONNECT-AS-OTHER, resource: Broad, reason: ok}\n")
    assert main([str(template), "--suppressions", str(lazy)]) == 2
    odd = write(tmp_path, broad({"iot-policy-review": {"acknowledge": "all of it"}}))
    assert main([str(odd)]) == 2
    assert main([str(tmp_path / "missing")]) == 2
    notemplate = tmp_path / "n.template.json"
    notemplate.write_text("[]")
    assert main([str(notemplate)]) == 2
