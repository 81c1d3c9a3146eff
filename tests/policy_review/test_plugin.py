"""The review as a CDK validation plugin: a broad IoT policy fails the synth, like cdk-nag does."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iot as iot

from policy_review.plugin import PolicyReviewPlugin


def test_broad_policy_fails_synth_with_the_plugin(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Broad")
    iot.CfnPolicy(
        stack,
        "DevicePolicy",
        policy_name="broad",
        policy_document={"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]},
    )
    cdk.Validations.of(app).add_plugins(PolicyReviewPlugin())
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (ours,) = [r for r in report["pluginReports"] if r["pluginName"] == "IotPolicyReview"]
    assert ours["conclusion"] == "failure"
    rules = {v["ruleName"] for v in ours["violations"]}
    assert {"IOT-CONNECT-AS-OTHER", "IOT-CROSS-DEVICE-TOPICS", "IOT-CROSS-DEVICE-SHADOW"} <= rules
    constructs = [c for v in ours["violations"] for c in v["violatingConstructs"]]
    assert constructs[0]["constructPath"] == "Broad/DevicePolicy"
