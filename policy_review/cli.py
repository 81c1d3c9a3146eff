"""``iot-policy-review CDK_OUT_OR_TEMPLATE [...]`` (or ``python -m policy_review``): review, report, gate, ask.

Exit statuses (docs/cli.md): 0 no finding at or above ``--fail-on`` (``--can``: a device policy
allows it); 1 findings at or above it (``--can``: no device policy allows it); 2 a target that is not a cdk.out
or a template, unreadable suppressions or report paths; 130 interrupted.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from contracts import cli as contract
from contracts.cli import CommandError, Environment
from contracts.exit_status import ExitStatus
from iot_semantics.policy_eval import Context, evaluate
from policy_review.model import Inventory, Severity
from policy_review.rules.base import arn_prefix, resources_of, statements

PROG = "iot-policy-review"


def can(inv: Inventory, thing: str, action: str, resource: str) -> list[tuple[str, str]]:
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
        answers.append((policy.name, decision.effect.value))
    return answers


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
    p.add_argument("--can", nargs=3, metavar=("THING", "ACTION", "RESOURCE"), help="answer one question, then stop")
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
    suppressed: list[suppressions.Suppressed] = []
    if args.suppressions:
        try:
            findings, suppressed = suppressions.apply(findings, suppressions.load(args.suppressions))
        except suppressions.SuppressionError as exc:
            raise CommandError(str(exc)) from None
    text = reports.markdown(inv, findings, suppressed)
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
        "json": lambda: reports.as_json(findings, suppressed),
        "html": lambda: reports.html_page(inv, findings, suppressed),
        "sarif": lambda: reports.sarif(findings),
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
        loaded = load(target)
        inv.policies += loaded.policies
        inv.templates += loaded.templates
        inv.permissions += loaded.permissions
    if args.can:
        answers = can(inv, *args.can)
        for name, effect in answers:
            env.out(f"{name}: {effect}\n")
        if not answers:
            env.err("no device policy in the targets\n")
        return ExitStatus.OK if any(effect == "Allow" for _, effect in answers) else ExitStatus.FAILED
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
