"""``python -m policy_review CDK_OUT_OR_TEMPLATE [...]``: review, report, gate, answer questions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from iot_semantics.policy_eval import Context, evaluate
from policy_review import diff, inventory, reports, suppressions
from policy_review.engine import review
from policy_review.model import Finding, Inventory, Severity
from policy_review.rules.base import arn_prefix, resources_of, statements


def can(inv: Inventory, thing: str, action: str, resource: str) -> list[str]:
    """What each device policy decides for ``thing`` (client ID = thing name, certificate attached).

    ``resource`` is a full ARN or its last part (``topic/dt/x``): the policy's own ARN prefix is used.
    """
    answers = []
    context = Context(client_id=thing, thing_name=thing, is_attached=True)
    for policy in inv.policies:
        if policy.kind != "iot" or policy.role != "device":
            continue
        prefix = next((p for s in statements(policy) for r in resources_of(s) if (p := arn_prefix(r))), None)
        full = resource if resource.startswith("arn:") or prefix is None else f"{prefix}:{resource}"
        decision = evaluate([policy.document], action, full, context)
        answers.append(f"{policy.name}: {decision.effect.value}")
    return answers


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
    parser.add_argument("--can", nargs=3, metavar=("THING", "ACTION", "RESOURCE"), help="answer one question")
    args = parser.parse_args(argv)
    inv = Inventory()
    for target in args.targets:
        if not target.exists():
            print(f"error: {target} does not exist (run make demo or cdk synth first)", file=sys.stderr)
            return 2
        loaded = inventory.load(target)
        inv.policies += loaded.policies
        inv.templates += loaded.templates
        inv.permissions += loaded.permissions
    if args.can:
        thing, action, resource = args.can
        for line in can(inv, thing, action, resource):
            print(line)
        return 0
    findings: list[Finding] = review(inv)
    suppressed: list[suppressions.Suppressed] = []
    if args.suppressions:
        try:
            findings, suppressed = suppressions.apply(findings, suppressions.load(args.suppressions))
        except suppressions.SuppressionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    text = reports.markdown(inv, findings, suppressed)
    if args.baseline:
        if not args.baseline.exists():
            print(f"error: baseline {args.baseline} does not exist", file=sys.stderr)
            return 2
        lines = list(diff.changes(inventory.load(args.baseline), inv))
        text += (
            "\n## Changes against the baseline\n\n"
            + ("\n".join(f"- {line}" for line in lines) or "No permission changed.")
            + "\n"
        )
    sys.stdout.write(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(reports.as_json(findings, suppressed))
    if args.html:
        args.html.write_text(reports.html_page(inv, findings, suppressed))
    if args.sarif:
        args.sarif.write_text(reports.sarif(findings))
    threshold = Severity[args.fail_on.upper()]
    return 1 if any(f.severity >= threshold for f in findings) else 0
