"""The review on this project's own synth output, and its CLI gate."""

from __future__ import annotations

import json
from pathlib import Path

from policy_review import inventory
from policy_review.cli import main
from policy_review.engine import review
from policy_review.simulate import simulate
from tests.conftest import Synth


def test_our_stacks_pass_and_no_device_reaches_another(synth: Synth) -> None:
    inv = inventory.load(synth.outdir)
    device = [p for p in inv.policies if p.role == "device"]
    claim = [p for p in inv.policies if p.role == "claim"]
    # The cores' policy is the template's per-core document (each core gets its own).
    assert {p.name for p in device} == {"acme-dev-sensors-device", "acme-dev-gateways-device", "acme-dev-cores/policy"}
    assert {p.name for p in claim} == {"acme-dev-sensors-claim", "acme-dev-gateways-claim", "acme-dev-cores-claim"}
    assert simulate(inv) == [], "no cross-device reach, no claim reaching beyond provisioning"
    assert review(inv) == []
    holders = {(h.kind, h.name) for h in inv.holders}
    assert {
        ("template", "acme-dev-sensors"),
        ("template", "acme-dev-gateways"),
        ("template", "acme-dev-cores"),
    } <= holders
    assert any(kind == "certificate" for kind, _ in holders), "the claim certificate holds the claim policy"
    assert all(p.path.startswith("acme-dev-") for p in device), "findings map to construct paths"


def test_cli_writes_json_and_gates(synth: Synth, tmp_path: Path) -> None:
    out = tmp_path / "findings.json"
    assert main([str(synth.outdir), "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == {"findings": [], "suppressed": [], "unmatched_suppressions": []}
    bad = tmp_path / "bad.template.json"
    bad.write_text(
        json.dumps(
            {
                "Resources": {
                    "P": {
                        "Type": "AWS::IoT::Policy",
                        "Properties": {
                            "PolicyName": "p",
                            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]},
                        },
                    }
                }
            }
        )
    )
    assert main([str(bad), "--json", str(out)]) == 1
    finding = json.loads(out.read_text())["findings"][0]
    assert set(finding) >= {"rule", "severity", "resource", "path", "message"}
    assert main([str(bad), "--fail-on", "critical"]) == 1
    assert main([str(tmp_path / "missing")]) == 2
