"""The whole app: cfn-lint, cdk-nag report, no key material in cdk.out, and the CDK CLI path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Synth, example_data, write_config

CFN_LINT = Path(sys.executable).with_name("cfn-lint")
CDK = ROOT / "node_modules" / ".bin" / "cdk"


@pytest.mark.integration  # runs cfn-lint as a subprocess over the templates
def test_cfn_lint_reports_no_error_on_any_template(synth: Synth) -> None:
    templates = sorted(synth.outdir.glob("*.template.json"))
    assert len(templates) == len(synth.stacks)
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", *map(str, templates)],
        cwd=ROOT,  # picks up .cfnlintrc.yaml, where each ignored check has its reason
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)[:3000]


def test_no_private_key_anywhere_in_cdk_out(synth: Synth) -> None:
    offenders = []
    for path in synth.outdir.rglob("*"):
        if path.is_file() and b"PRIVATE KEY" in path.read_bytes():
            offenders.append(str(path))
    assert offenders == []
    # the claim CSR did reach the template, so this test looked at a template that has claim material
    assert "BEGIN CERTIFICATE REQUEST" in json.dumps(synth.templates)


def test_cdk_nag_passes_and_every_acknowledgment_is_granular_with_a_reason(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    assert nag["suppressedViolations"], "the acknowledgments are exercised"
    for suppressed in nag["suppressedViolations"]:
        assert "[" in suppressed["acknowledgedId"], f"not granular: {suppressed['acknowledgedId']}"
        assert len(suppressed["reason"]) >= 40


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", CDK_DISABLE_CLI_TELEMETRY="1")
    return env


@pytest.mark.integration
@pytest.mark.skipif(not CDK.exists(), reason="CDK CLI not installed (make setup runs npm ci)")
def test_cdk_cli_synth_of_the_example_writes_one_template_per_stack(tmp_path: Path) -> None:
    """The README path: cdk.json runs the app with the venv; no claim CSR -> no certificate."""
    out = tmp_path / "cdk.out"
    result = subprocess.run(
        [str(CDK), "synth", "--all", "--quiet", "--output", str(out)],
        cwd=ROOT,
        env=_cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    templates = sorted(t.name for t in out.glob("*.template.json"))
    assert templates == ["acme-dev-device-defender.template.json", "acme-dev-fleet-provisioning.template.json"]
    template = json.loads((out / "acme-dev-fleet-provisioning.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert "AWS::IoT::Certificate" not in types
    assert "FleetSensorsClaimCertificateId" not in template["Outputs"]


@pytest.mark.integration
@pytest.mark.skipif(not CDK.exists(), reason="CDK CLI not installed (make setup runs npm ci)")
def test_bad_config_through_the_cli_gives_the_message_not_a_traceback(tmp_path: Path) -> None:
    data = example_data()
    data["fleets"][0]["thing_type"] = "toaster"
    path = write_config(tmp_path, data)
    result = subprocess.run(
        [str(CDK), "synth", "--all", "--quiet", "-c", f"fleet_config={path}", "--output", str(tmp_path / "o")],
        cwd=ROOT,
        env=_cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert f"{path}:" in result.stderr
    assert "fleets[0].thing_type: 'toaster'" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_taggable_resource_carries_the_project_tags(synth: Synth) -> None:
    tagged = 0
    for template in synth.templates.values():
        for logical_id, resource in template["Resources"].items():
            tags = resource.get("Properties", {}).get("Tags")
            if tags is None:
                continue
            tagged += 1
            pairs = {t["Key"]: t["Value"] for t in tags} if isinstance(tags, list) else dict(tags)
            assert pairs.get("project") == "iot-fleet-toolkit", logical_id
            assert pairs.get("stage") == "dev", logical_id
            assert pairs.get("owner") == "platform-team", logical_id
    assert tagged > 20
