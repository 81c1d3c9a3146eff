"""``python -m defender_ops``: argument parsing, configuration from the outputs file, exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

from defender_ops import operations as ops


class ExitStatus(IntEnum):
    OK = 0
    AWS_ERROR = 1
    USAGE = 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m defender_ops", description=__doc__)
    p.add_argument("--outputs", type=Path, default=Path("deploy-outputs.json"), help="cdk deploy --outputs-file")
    p.add_argument("--stack", help="Defender stack name in the outputs file (when it holds several)")
    p.add_argument("--region", help="AWS region (default: from the environment)")
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quarantine", help="isolate a thing: add it to the quarantine group")
    q.add_argument("thing")
    r = sub.add_parser("release", help="remove a thing from the quarantine group")
    r.add_argument("thing")
    m = sub.add_parser("mitigate", help="start an audit mitigation task for one finding")
    m.add_argument("finding_id")
    m.add_argument("--action", help="mitigation action type, e.g. UPDATE_DEVICE_CERTIFICATE")
    v = sub.add_parser("violations", help="list active Detect violations")
    v.add_argument("--profile")
    v.add_argument("--thing")
    return p


def _names(args: argparse.Namespace) -> ops.DefenderNames:
    try:
        outputs = json.loads(args.outputs.read_text())
    except OSError as exc:
        raise ops.OperationError(f"cannot read outputs file {args.outputs}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ops.OperationError(f"{args.outputs} is not JSON (line {exc.lineno}): {exc.msg}") from None
    if not isinstance(outputs, dict):
        raise ops.OperationError(f"{args.outputs} must hold the object cdk deploy --outputs-file writes")
    return ops.names_from_outputs(outputs, args.stack)


def _default_client(region: str | None) -> Any:
    import boto3

    return boto3.client("iot", region_name=region)


def run(
    argv: Sequence[str],
    *,
    client_factory: Callable[[str | None], Any] = _default_client,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return ExitStatus.OK if exc.code in (0, None) else ExitStatus.USAGE
    try:
        client = client_factory(args.region)
        if args.command == "violations":
            rows = list(ops.active_violations(client, profile=args.profile, thing=args.thing))
            for v in rows:
                fields = (
                    v.get("thingName", "-"),
                    v.get("securityProfileName", "-"),
                    v.get("behavior", {}).get("name", "-"),
                    v.get("violationStartTime", "-"),
                )
                out.write("\t".join(map(str, fields)) + "\n")
            out.write(f"{len(rows)} active violation(s)\n")
            return ExitStatus.OK
        names = _names(args)
        if args.command == "quarantine":
            out.write(ops.quarantine(client, names, args.thing) + "\n")
        elif args.command == "release":
            out.write(ops.release(client, names, args.thing) + "\n")
        else:
            out.write(ops.mitigate_finding(client, names, args.finding_id, args.action) + "\n")
        return ExitStatus.OK
    except ops.OperationError as exc:
        err.write(f"error: {exc}\n")
        return ExitStatus.USAGE
    except ClientError as exc:
        error = exc.response.get("Error", {})
        err.write(f"error: AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}\n")
        return ExitStatus.AWS_ERROR
    except BotoCoreError as exc:
        err.write(f"error: {exc}\n")
        return ExitStatus.AWS_ERROR
