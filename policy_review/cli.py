"""``python -m policy_review CDK_OUT_OR_TEMPLATE [...]``: review, report, gate, answer questions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cloud_assembly import AssemblyError
from policy_review import diff, inventory, query, reports, suppressions
from policy_review.engine import review
from policy_review.model import Finding, Inventory, Severity


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policy_review", description="IoT-aware policy review of cdk synth output"
    )
    parser.add_argument("targets", nargs="+", type=Path, help="cdk.out directories or CloudFormation templates")
    parser.add_argument("--json", type=Path, help="write the findings as JSON")
    parser.add_argument("--markdown", type=Path, help="write a Markdown report")
    parser.add_argument("--html", type=Path, help="write a self-contained HTML report")
    parser.add_argument("--sarif", type=Path, help="write SARIF 2.1.0 (code-scanning upload)")
    parser.add_argument("--suppressions", type=Path, help="YAML/JSON list of {rule, resource, reason}")
    parser.add_argument("--fail-on", choices=[s.name.lower() for s in Severity], default="high")
    parser.add_argument("--baseline", type=Path, help="another cdk.out: list permissions added, removed, changed")
    parser.add_argument(
        "--can", nargs=3, metavar=("THING", "ACTION", "RESOURCE"),
        help="answer one question (exit 0 allow, 1 deny, 2 an unknown action or malformed resource)",
    )  # fmt: skip
    parser.add_argument("--policy", help="with --can: ask only the holder of this policy (name or logical ID)")
    args = parser.parse_args(argv)
    inv = Inventory()
    for target in args.targets:
        if not target.exists():
            print(f"error: {target} does not exist (run make demo or cdk synth first)", file=sys.stderr)
            return 2
        try:
            inv.extend(inventory.load(target))
        except AssemblyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.can:
        try:
            return query.ask(inv, *args.can, policy=args.policy)
        except query.QueryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    findings: list[Finding] = review(inv)
    suppressed: list[suppressions.Suppressed] = []
    unmatched: list[suppressions.Suppression] = []
    try:
        acknowledged = suppressions.in_source(inv.metadata)
        if args.suppressions:
            acknowledged += suppressions.load(args.suppressions)
        findings, suppressed, unmatched = suppressions.apply(findings, acknowledged)
    except suppressions.SuppressionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = reports.markdown(inv, findings, suppressed, unmatched)
    if args.baseline:
        if not args.baseline.exists():
            print(f"error: baseline {args.baseline} does not exist", file=sys.stderr)
            return 2
        try:
            lines = list(diff.changes(inventory.load(args.baseline), inv))
        except AssemblyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        text += (
            "\n## Changes against the baseline\n\n"
            + ("\n".join(f"- {line}" for line in lines) or "No permission changed.")
            + "\n"
        )
    sys.stdout.write(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(reports.as_json(findings, suppressed, unmatched))
    if args.html:
        args.html.write_text(reports.html_page(inv, findings, suppressed, unmatched))
    if args.sarif:
        args.sarif.write_text(reports.sarif(findings, suppressed, unmatched))
    threshold = Severity[args.fail_on.upper()]
    return 1 if any(f.severity >= threshold for f in findings) else 0
