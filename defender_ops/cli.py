"""``iot-defender-ops`` (or ``python -m defender_ops``): operator commands for Device Defender.

Names come from the deployment outputs file, read before any AWS call, so a missing file is named
as such. Exit statuses (docs/cli.md): 0 done (``violations``: none active); 1 ``violations`` found
active ones; 2 usage or input error (outputs file, a thing or finding that does not exist, no
region); 3 AWS unreachable or refusing the credentials; 130 interrupted.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from contracts import cli as contract
from contracts.cli import CommandError, Environment
from contracts.exit_status import ExitStatus
from contracts.outputs import DOUBLE_SECTION
from defender_ops import operations as ops

PROG = "iot-defender-ops"
#: AWS error codes that mean the request named something that does not exist or is malformed.
INPUT_ERRORS = frozenset({"ResourceNotFoundException", "InvalidRequestException", "ValidationException"})


def parser(env: Environment) -> contract.ArgumentParser:
    p = contract.new_parser(PROG, "Operator commands for Device Defender (runbook: docs/runbook-defender.md).", env)
    p.add_argument("--outputs", type=Path, default=Path("deploy-outputs.json"), help="cdk deploy --outputs-file")
    p.add_argument("--stack", help="Defender stack name in the outputs file (when it holds several)")
    p.add_argument("--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION, or the double's)")
    sub = p.add_subcommands()
    q = sub.add_parser("quarantine", help="isolate a thing: add it to the quarantine group")
    q.add_argument("thing", help="thing name")
    r = sub.add_parser("release", help="remove a thing from the quarantine group")
    r.add_argument("thing", help="thing name")
    m = sub.add_parser("mitigate", help="start an audit mitigation task for one finding")
    m.add_argument("finding_id", help="the audit finding's ID")
    m.add_argument("--action", help="mitigation action type, e.g. UPDATE_DEVICE_CERTIFICATE (default: the check's)")
    v = sub.add_parser("violations", help="list active Detect violations (exit 1 when there are some)")
    v.add_argument("--profile", help="only this security profile")
    v.add_argument("--thing", help="only this thing")
    return p


def _outputs(args: argparse.Namespace) -> dict[str, Any]:
    outputs = contract.read_json_file(args.outputs, "outputs file")
    if not isinstance(outputs, dict):
        raise CommandError(f"{args.outputs} must hold the object cdk deploy --outputs-file writes")
    return outputs


def _default_client(region: str | None) -> Any:
    import boto3
    from botocore.exceptions import NoRegionError

    try:
        return boto3.client("iot", region_name=region)
    except NoRegionError:
        raise CommandError("no AWS region", fix="pass --region or set AWS_REGION") from None


def _violations(client: Any, args: argparse.Namespace, env: Environment) -> int:
    rows = list(ops.active_violations(client, profile=args.profile, thing=args.thing))
    for v in rows:
        fields = (
            v.get("thingName", "-"),
            v.get("securityProfileName", "-"),
            v.get("behavior", {}).get("name", "-"),
            v.get("violationStartTime", "-"),
        )
        env.out("\t".join(map(str, fields)) + "\n")
    env.out(f"{len(rows)} active violation(s)\n")
    return ExitStatus.FAILED if rows else ExitStatus.OK


def _aws_error(exc: Exception) -> CommandError:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code"))
        status = ExitStatus.USAGE if code in INPUT_ERRORS else ExitStatus.UNAVAILABLE
        return CommandError(f"AWS refused {exc.operation_name}: {code}: {error.get('Message')}", status)
    if isinstance(exc, NoCredentialsError):
        return CommandError(
            "no AWS credentials", ExitStatus.UNAVAILABLE, fix="configure the operator's AWS credentials"
        )
    if isinstance(exc, EndpointConnectionError):
        return CommandError(str(exc), ExitStatus.UNAVAILABLE, fix="check the network and --region")
    return CommandError(str(exc), ExitStatus.UNAVAILABLE)


def command(
    argv: Sequence[str], env: Environment, client_factory: Callable[[str | None], Any] = _default_client
) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    args = parser(env).parse_args(list(argv))
    try:
        names, region = None, args.region
        if args.command != "violations":
            outputs = _outputs(args)
            names = ops.names_from_outputs(outputs, args.stack)
            double = outputs.get(DOUBLE_SECTION)
            region = region or (double.get("Region") if isinstance(double, dict) else None)
        client = client_factory(region)
        if names is None:
            return _violations(client, args, env)
        if args.command == "quarantine":
            env.out(ops.quarantine(client, names, args.thing) + "\n")
        elif args.command == "release":
            env.out(ops.release(client, names, args.thing) + "\n")
        else:
            env.out(ops.mitigate_finding(client, names, args.finding_id, args.action) + "\n")
        return ExitStatus.OK
    except ops.OperationError as exc:
        raise CommandError(str(exc)) from None
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error(exc) from None


def run(
    argv: Sequence[str],
    *,
    client_factory: Callable[[str | None], Any] = _default_client,
    env: Environment | None = None,
) -> int:
    """In-process entry (tests, scripts): the CLI's contract with an injectable environment and client."""
    return contract.main(lambda a, e: command(a, e, client_factory), argv, env or Environment())


def _command_with_extra(argv: Sequence[str], env: Environment) -> int:
    contract.require_extra("boto3", "defender-ops", PROG)
    return command(argv, env)


def entry() -> None:
    """The ``iot-defender-ops`` console script (the ``defender-ops`` extra)."""
    contract.entry(_command_with_extra)
