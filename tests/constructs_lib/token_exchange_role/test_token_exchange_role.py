"""The token exchange role alone, under cdk-nag: per-core log streams and artifact prefixes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from constructs_lib.token_exchange_role import CREDENTIALS_THING_NAME, ArtifactGrant, TokenExchangeRole


def _synth(tmp_path: Path, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Tes")
    TokenExchangeRole(
        stack,
        "Tes",
        fleet_name="cores",
        max_session_duration_seconds=3600,
        artifacts=[ArtifactGrant("bkt", f"devices/{CREDENTIALS_THING_NAME}/")],
        **kwargs,
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    assembly = app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    return assembly.get_stack_by_name("Tes").template, report


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_per_core_log_streams_when_a_pattern_is_given(tmp_path: Path) -> None:
    template, report = _synth(tmp_path, log_stream_pattern=f"/*/thing/{CREDENTIALS_THING_NAME}")
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success", nag["violations"]
    write = next(s for s in _statements(template) if s["Sid"] == "WriteOwnLogStreams")
    assert write["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert json.dumps(write["Resource"]).endswith(':log-stream:/*/thing/${credentials-iot:ThingName}"]]}')


def test_without_a_pattern_any_stream_of_greengrass_log_groups(tmp_path: Path) -> None:
    template, report = _synth(tmp_path)
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success", nag["violations"]
    (logs,) = [s for s in _statements(template) if s["Sid"] == "WriteGreengrassLogs"]
    assert "log-stream:*" in json.dumps(logs["Resource"])
    reads = next(s for s in _statements(template) if s["Sid"] == "ReadComponentArtifacts")
    assert "bkt/devices/${credentials-iot:ThingName}/*" in json.dumps(reads["Resource"])
