"""``iot-policy-review CDK_OUT_OR_TEMPLATE [...]`` (or ``python -m policy_review``): review, report, gate, ask.

Exit statuses (docs/cli.md): 0 no finding at or above ``--fail-on`` (``--can``: a holder of IoT
policies allows it); 1 findings at or above it (``--can``: none allows it); 2 a target that is not a cdk.out
or a template, unreadable suppressions or report paths, a ``--can`` question that cannot be asked
(unknown action, malformed resource: ``policy_review.query``); 130 interrupted.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from contracts import cli as contract
from contracts.cli import CommandError, Environment
from contracts.exit_status import ExitStatus
from policy_review.model import Inventory, Severity

PROG = "iot-policy-review"


def parser(env: Environment) -> contract.ArgumentParser:
    p = contract.new_parser(PROG, "IoT-aware policy review of cdk synth output.", env)
    p.add_argument("targets", nargs="+", type=Path, help="cdk.out directories or CloudFormation templates (JSON)")
    p.add_argument("--json", type=Path, help="write the findings as JSON")
    p.add_argument("--markdown", type=Path, help="write a Markdown report")
    p.add_argument("--html", type=Path, help="write a self-contained HTML report")
    p.add_argument("--sarif", type=Path, help="write SARIF 2.1.0 (code-scanning upload)")
    p.add_argument("--suppressions", type=Path, help="YAML/JSON list of {rule, resource, reason}")
    p.add_argument(
        "--fail-on", choices=[s.name.lower() for s in Severity], default="high", help="lowest severity that fails"
    )
    p.add_argument("--baseline", type=Path, help="another cdk.out: list permissions added, removed, changed")
    p.add_argument(
        "--can",
        nargs=3,
        metavar=("THING", "ACTION", "RESOURCE"),
        help="answer one question, then stop (exit 0 allow, 1 deny, 2 an unknown action or malformed resource)",
    )
    p.add_argument("--policy", help="with --can: ask only the holder of this policy (name or logical ID)")
    return p


def check_target(path: Path) -> None:
    """A cdk.out (with its manifest.json) or one template file; anything else is one clear usage error."""
    if path.is_dir() or not path.exists():
        contract.check_cdk_out(path)
        return
    data = contract.read_json_file(path, "template")
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise CommandError(f"{path} is not a CloudFormation template (no Resources)")


def load(path: Path) -> Inventory:
    from cloud_assembly import AssemblyError
    from policy_review import inventory
    from policy_review.errors import ReviewError

    check_target(path)
    try:
        return inventory.load(path)
    except (AssemblyError, ReviewError) as exc:  # the reader names the file and what is wrong
        raise CommandError(str(exc)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CommandError(
            f"cannot read {path} as a cloud assembly or template ({type(exc).__name__}: {exc})"
        ) from None


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None


def _report(args: argparse.Namespace, inv: Inventory, env: Environment) -> int:
    from policy_review import diff, reports, suppressions
    from policy_review.engine import review

    findings = review(inv)
    try:
        acknowledged = suppressions.in_source(inv.metadata)
        if args.suppressions:
            acknowledged += suppressions.load(args.suppressions)
        findings, suppressed, unmatched = suppressions.apply(findings, acknowledged)
    except suppressions.SuppressionError as exc:
        raise CommandError(str(exc)) from None
    text = reports.markdown(inv, findings, suppressed, unmatched)
    if args.baseline:
        lines = list(diff.changes(load(args.baseline), inv))
        text += (
            "\n## Changes against the baseline\n\n"
            + ("\n".join(f"- {line}" for line in lines) or "No permission changed.")
            + "\n"
        )
    env.out(text)
    outputs: dict[str, Callable[[], str]] = {
        "markdown": lambda: text,
        "json": lambda: reports.as_json(findings, suppressed, unmatched),
        "html": lambda: reports.html_page(inv, findings, suppressed, unmatched),
        "sarif": lambda: reports.sarif(findings, suppressed, unmatched),
    }
    for name, render in outputs.items():
        if (path := getattr(args, name)) is not None:
            _write(path, render())
    threshold = Severity[args.fail_on.upper()]
    return ExitStatus.FAILED if any(f.severity >= threshold for f in findings) else ExitStatus.OK


def command(argv: Sequence[str], env: Environment) -> int:
    args = parser(env).parse_args(list(argv))
    inv = Inventory()
    for target in args.targets:
        inv.extend(load(target))
    if args.can:
        from policy_review import query

        try:
            allowed = query.ask(inv, *args.can, policy=args.policy, out=lambda line: env.out(line + "\n"))
        except query.QueryError as exc:
            raise CommandError(str(exc)) from None
        return ExitStatus.OK if allowed == 0 else ExitStatus.FAILED
    return _report(args, inv, env)


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """In-process entry (tests, scripts): the CLI's contract with an injectable environment."""
    import sys

    return contract.main(command, sys.argv[1:] if argv is None else argv, env or Environment())


def _command_with_extra(argv: Sequence[str], env: Environment) -> int:
    contract.require_extra("yaml", "policy-review", PROG)
    return command(argv, env)


def entry() -> None:
    """The ``iot-policy-review`` console script (the ``policy-review`` extra)."""
    contract.entry(_command_with_extra)
