"""``python -m policy_review CDK_OUT_OR_TEMPLATE [...]``: review, report, gate."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from policy_review import inventory
from policy_review.engine import review
from policy_review.model import Finding, Severity


def markdown(findings: list[Finding], policies: int) -> str:
    lines = [f"# Policy review: {policies} policies, {len(findings)} finding(s)", ""]
    if not findings:
        lines.append("No finding. No device can reach another device's topics, shadow or jobs.")
    for f in findings:
        lines += [f"- **{f.severity.name}** `{f.rule}` {f.resource} ({f.path}): {f.message}", f"  - fix: {f.fix}"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policy_review", description="IoT-aware policy review of cdk synth output"
    )
    parser.add_argument("targets", nargs="+", type=Path, help="cdk.out directories or CloudFormation templates")
    parser.add_argument("--json", type=Path, help="write the findings as JSON")
    parser.add_argument("--markdown", type=Path, help="write a Markdown report")
    parser.add_argument("--fail-on", choices=[s.name.lower() for s in Severity], default="high")
    args = parser.parse_args(argv)
    findings: list[Finding] = []
    count = 0
    for target in args.targets:
        if not target.exists():
            print(f"error: {target} does not exist (run make demo or cdk synth first)", file=sys.stderr)
            return 2
        inv = inventory.load(target)
        count += len(inv.policies)
        findings += review(inv)
    report = markdown(findings, count)
    sys.stdout.write(report)
    if args.markdown:
        args.markdown.write_text(report)
    if args.json:
        args.json.write_text(json.dumps({"findings": [f.as_json() for f in findings]}, indent=2) + "\n")
    threshold = Severity[args.fail_on.upper()]
    return 1 if any(f.severity >= threshold for f in findings) else 0
