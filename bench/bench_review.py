"""Policy review speed: statements/s over 1,000 policies with the simulation on every policy, and the
CDK validation plugin's share of this app's synth. Medians of 3 runs.

    .venv/bin/python bench/bench_review.py [--runs 3] [--policies 1000]

1. A generated cloud assembly with 1,000 IoT policies standing alone, in five shapes device
   policies take (per-device topics and shadow with a Deny, jobs, ``${iot:ClientId}`` with
   IsAttached, retained messages with a connect-attribute condition, a fleet-wide broadcast
   receiver), each with its own fleet prefix: read (``inventory.load``) and reviewed (every rule and
   the simulation of every policy: sessions, witness searches, evaluator checks) from scratch.
   Target: >= 10,000 statements/s. Policies that differ only in an opaque fleet name share one
   simulation (``policy_review.canonical``): each policy's facts are its own, renamed back; the
   bench prints how many distinct simulations ran and, for comparison, the rate with sharing off
   (every policy simulated on its own, one run).
2. This app synthesized with cdk-nag and the review plugin (``app.add_checks``), in a fresh process
   each run; the time the plugin's ``validate`` takes is measured inside the synth and set against
   the rest of the process. Target: the plugin adds <= 10 %.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policy_review import canonical, inventory, simulate  # noqa: E402
from policy_review.engine import review  # noqa: E402

A = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}"
T = "${iot:Connection.Thing.ThingName}"
ATTACHED = {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
TARGET_RATE, TARGET_SHARE = 10_000, 10.0


def allow(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def shapes(i: int) -> list[dict[str, Any]]:
    """Five shapes of device policy, with fleet ``f<i>``: 5, 4, 4, 4 and 3 statements."""
    f = f"f{i}"
    connect = allow("iot:Connect", f"{A}:client/{T}", Condition=ATTACHED)
    return [
        [
            connect,
            allow("iot:Publish", [f"{A}:topic/dt/{f}/{T}/*", f"{A}:topic/$aws/things/{T}/shadow/*"]),
            allow("iot:Subscribe", f"{A}:topicfilter/cmd/{f}/{T}/*"),
            allow("iot:Receive", f"{A}:topic/cmd/{f}/{T}/*"),
            {"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{A}:topic/dt/{f}/{T}/secret"},
        ],
        [
            connect,
            allow(["iot:Publish", "iot:Receive"], f"{A}:topic/$aws/things/{T}/jobs/*"),
            allow("iot:Subscribe", f"{A}:topicfilter/$aws/things/{T}/jobs/*"),
            allow(["iot:UpdateThingShadow", "iot:GetThingShadow"], f"{A}:thing/{T}"),
        ],
        [
            allow("iot:Connect", f"{A}:client/${{iot:ClientId}}", Condition=ATTACHED),
            allow("iot:Publish", f"{A}:topic/{f}/${{iot:ClientId}}/telemetry"),
            allow("iot:Subscribe", f"{A}:topicfilter/{f}/${{iot:ClientId}}/cmd"),
            allow("iot:Receive", f"{A}:topic/{f}/${{iot:ClientId}}/cmd"),
        ],
        [
            connect,
            allow(
                ["iot:Publish", "iot:RetainPublish"],
                f"{A}:topic/{f}/{T}/state",
                Condition={"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}},
            ),
            allow("iot:GetRetainedMessage", f"{A}:topic/{f}/{T}/state"),
            allow("iot:Receive", f"{A}:topic/{f}/{T}/state"),
        ],
        [
            connect,
            allow("iot:Subscribe", f"{A}:topicfilter/{f}/broadcast"),
            allow("iot:Receive", f"{A}:topic/{f}/broadcast"),
        ],
    ][i % 5]


def generated_assembly(directory: Path, policies: int, offset: int = 0) -> int:
    resources = {}
    statements = 0
    for i in range(offset, offset + policies):
        doc = {"Version": "2012-10-17", "Statement": shapes(i)}
        statements += len(doc["Statement"])
        resources[f"Policy{i}"] = {
            "Type": "AWS::IoT::Policy",
            "Properties": {"PolicyName": f"p{i}", "PolicyDocument": doc},
        }
    (directory / "Gen.template.json").write_text(json.dumps({"Resources": resources}))
    artifacts = {"Gen": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "Gen.template.json"}}}
    (directory / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return statements


SYNTH = """
import json, sys, time
started = time.perf_counter()
import aws_cdk as cdk, app, config
from policy_review.plugin import PolicyReviewPlugin
spent = [0.0]
validate = PolicyReviewPlugin.validate
def timed(self, context):
    began = time.perf_counter()
    try:
        return validate(self, context)
    finally:
        spent[0] += time.perf_counter() - began
PolicyReviewPlugin.validate = timed
a = cdk.App()
app.build(a, config.load())
app.add_checks(a)
a.synth()
print(json.dumps({"total": time.perf_counter() - started, "plugin": spent[0]}))
"""


def synth_once(outdir: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        "PYTHONPATH": str(ROOT),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    done = subprocess.run([sys.executable, "-c", SYNTH], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--no-synth", action="store_true", help="skip the plugin measurement")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rates, findings = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            directory = Path(tmp) / f"r{run}"
            directory.mkdir()
            # fresh fleet prefixes each run, and the process-wide memos emptied: each run starts cold
            statements = generated_assembly(directory, args.policies, offset=run * args.policies)
            simulate.clear_caches()
            started = time.perf_counter()
            findings = len(review(inventory.load(directory)))
            rates.append(statements / (time.perf_counter() - started))
        rate = statistics.median(rates)
        inv = inventory.load(directory)
        shapes = canonical.Canonicalizer(simulate.world_constants(inv))
        distinct = len({found[0] for h in inv.holders if (found := shapes.canonical(h)) is not None})
        simulate.clear_caches()
        started = time.perf_counter()
        review(inventory.load(directory), shared=False)
        alone = statements / (time.perf_counter() - started)
        print(
            f"review of {args.policies:,} policies ({statements:,} statements, simulation on every policy): "
            f"median {rate:,.0f} statements/s (runs {', '.join(f'{r:,.0f}' for r in rates)}; target >= "
            f"{TARGET_RATE:,}/s) -> {'PASS' if rate >= TARGET_RATE else 'FAIL'}; {findings} findings; "
            f"{distinct} distinct simulations; with sharing off {alone:,.0f} statements/s"
        )
        if args.no_synth:
            return 0
        synth_once(Path(tmp) / "warm")  # the jsii package cache
        runs = [synth_once(Path(tmp) / f"s{i}") for i in range(args.runs)]
    shares = [100 * r["plugin"] / (r["total"] - r["plugin"]) for r in runs]
    share = statistics.median(shares)
    print(
        f"synth of this app with cdk-nag and the review plugin: median {statistics.median(r['total'] for r in runs):.2f} s, "
        f"plugin {statistics.median(r['plugin'] for r in runs):.2f} s = adds {share:.1f}% (runs "
        f"{', '.join(f'{s:.1f}%' for s in shares)}; target <= {TARGET_SHARE:.0f}%) -> "
        f"{'PASS' if share <= TARGET_SHARE else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
