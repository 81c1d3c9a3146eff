"""--baseline: a widened device policy shows up in words."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from policy_review.cli import main
from tests.conftest import Synth


def test_widened_policy_is_reported_against_the_baseline(synth: Synth, tmp_path: Path, capsys: object) -> None:
    changed = tmp_path / "changed"
    shutil.copytree(synth.outdir, changed)
    template = changed / "acme-dev-fleet-provisioning.template.json"
    data = json.loads(template.read_text())
    for resource in data["Resources"].values():
        if resource["Type"] == "AWS::IoT::Policy" and resource["Properties"]["PolicyName"] == "acme-dev-sensors-device":
            resource["Properties"]["PolicyDocument"]["Statement"].append(
                {
                    "Effect": "Allow",
                    "Action": "iot:Publish",
                    "Resource": "arn:aws:iot:eu-west-1:123456789012:topic/dt/sensors/*",
                }
            )
    template.write_text(json.dumps(data))
    code = main([str(changed), "--baseline", str(synth.outdir)])
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert code == 1  # the widened policy is also a finding
    assert "acme-dev-sensors-device: now allows iot:Publish on topic/dt/sensors/*" in out
    assert main([str(synth.outdir), "--baseline", str(synth.outdir)]) == 0
    assert "No permission changed." in capsys.readouterr().out  # type: ignore[attr-defined]
