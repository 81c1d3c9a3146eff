"""The review on this project's own synth output, and its CLI gate."""

from __future__ import annotations

import json
import shutil
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


def _cores_variant(synth: Synth, tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the synth whose cores template's per-core policy has ``old`` replaced by ``new``."""
    out = tmp_path / "cdk.out"
    shutil.copytree(synth.outdir, out)
    (path,) = [p for p in out.glob("*.template.json") if "fleet-provisioning" in p.name]
    template = json.loads(path.read_text())
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IoT::ProvisioningTemplate" and props["TemplateName"] == "acme-dev-cores":
            parts = props["TemplateBody"]["Fn::Join"][1]
            props["TemplateBody"]["Fn::Join"][1] = [p.replace(old, new) if isinstance(p, str) else p for p in parts]
    path.write_text(json.dumps(template))
    return out


def test_cores_are_judged_side_by_side_with_prefix_related_cores(synth: Synth, tmp_path: Path) -> None:
    """The simulation's cores are core-pla01-1 and core-pla01-10: the per-core policy keeps them apart, and
    the same policy with AWS's documented '<thing>*' client IDs would not."""
    inv = inventory.load(synth.outdir)
    (cores,) = [h for h in inv.holders if h.kind == "template" and h.name == "acme-dev-cores"]
    assert simulate(inv) == []
    widened = inventory.load(_cores_variant(synth, tmp_path, "#*", "*"))
    rules = {f.rule for f in review(widened) if f.resource.startswith("acme-dev-cores") or "cores" in f.message}
    assert "IOT-CONNECT-AS-OTHER" in rules, rules
    assert cores.name == "acme-dev-cores"
