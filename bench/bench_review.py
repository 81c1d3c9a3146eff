"""Policy review speed: statements/s over a generated cdk.out with 1,000 policies, and the plugin's
share of a synth of this app (median of 5, fresh processes).

    .venv/bin/python bench/bench_review.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policy_review import inventory  # noqa: E402
from policy_review.engine import review  # noqa: E402

A = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}"
T = "${iot:Connection.Thing.ThingName}"


def generated_assembly(directory: Path, policies: int) -> int:
    resources = {}
    statements = 0
    for i in range(policies):
        doc = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{A}:client/{T}",
                 "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}},
                {"Effect": "Allow", "Action": "iot:Publish", "Resource": [f"{A}:topic/dt/f{i}/{T}/*", f"{A}:topic/$aws/things/{T}/shadow/*"]},
                {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [f"{A}:topicfilter/cmd/f{i}/{T}/*"]},
                {"Effect": "Allow", "Action": "iot:Receive", "Resource": [f"{A}:topic/cmd/f{i}/{T}/*"]},
                {"Effect": "Deny", "Action": "iot:Publish", "Resource": [f"{A}:topic/dt/f{i}/{T}/secret"]},
            ],
        }  # fmt: skip
        statements += len(doc["Statement"])
        resources[f"Policy{i}"] = {
            "Type": "AWS::IoT::Policy",
            "Properties": {"PolicyName": f"p{i}", "PolicyDocument": doc},
        }
    (directory / "Gen.template.json").write_text(json.dumps({"Resources": resources}))
    (directory / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "Gen": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "Gen.template.json"}}
                }
            }
        )
    )
    return statements


def synth_seconds(script: str, outdir: Path) -> float:
    env = {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        "PYTHONPATH": str(ROOT),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


WITH = "import app, aws_cdk as cdk, config; a = cdk.App(); app.build(a, config.load()); app.add_checks(a); a.synth()"
WITHOUT = (
    "import app, aws_cdk as cdk, config, cdk_nag; a = cdk.App(); app.build(a, config.load()); "
    "cdk.Validations.of(a).add_plugins(cdk_nag.AwsSolutionsChecks(a)); a.synth()"
)


def main() -> int:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        statements = generated_assembly(Path(tmp), 1000)
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            findings = review(inventory.load(Path(tmp)))
            runs.append(time.perf_counter() - started)
        median = statistics.median(runs)
        print(f"review of 1,000 policies ({statements} statements, simulation included): median {median:.2f} s "
              f"= {statements / median:,.0f} statements/s (target >= 10,000/s); {len(findings)} findings")  # fmt: skip
        with_plugin, without = [], []
        for i in range(5):
            without.append(synth_seconds(WITHOUT, Path(tmp) / f"a{i}"))
            with_plugin.append(synth_seconds(WITH, Path(tmp) / f"b{i}"))
    a, b = statistics.median(without), statistics.median(with_plugin)
    print(f"synth with cdk-nag: median {a:.2f} s; with cdk-nag + review plugin: median {b:.2f} s; "
          f"plugin adds {100 * (b - a) / a:+.1f}% (target <= 10%)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
