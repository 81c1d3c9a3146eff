"""``iot-double up|down|status|serve`` (or ``python -m iot_emulator``): run the double from a cdk.out.

    iot-double up --cdk-out cdk.out        # background; prints the endpoint
    iot-double status
    iot-double down
    iot-double serve ...                   # foreground (what "up" runs)

Exit statuses (docs/cli.md): 0 done; 2 a bad argument or a cdk.out the double cannot serve;
3 the double is not running (``status``) or cannot start (mosquitto missing, no port); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from contracts import cli as contract
from contracts.cli import CommandError, Environment
from contracts.exit_status import ExitStatus

if TYPE_CHECKING:
    from iot_emulator.provisioning import Knobs

PROG = "iot-double"
STATE_FILE = "double.json"
START_SECONDS = 90
#: The fact sheet's default quotas; kept in ``iot_emulator.provisioning.DEFAULT_RATES`` (shown in --help).
RATE_HELP = "per-operation rate limit, repeatable (e.g. RegisterThing=10; 0 = off); default: the AWS quotas"


def parser(env: Environment) -> contract.ArgumentParser:
    p = contract.new_parser(PROG, "The local AWS IoT double: serves a cdk.out on this machine.", env)
    sub = p.add_subcommands()
    for name, text in (
        ("serve", "run the double in the foreground until Ctrl-C or SIGTERM"),
        ("up", "start the double in the background and print its endpoint"),
    ):
        s = sub.add_parser(name, help=text)
        s.add_argument("--cdk-out", type=Path, default=Path("cdk.out"), help="the cloud assembly to serve")
        s.add_argument("--state", type=Path, default=Path(".iot-double"), help="the double's state directory")
        s.add_argument("--outputs-file", type=Path, help="where to write the outputs (default: <state>/outputs.json)")
        s.add_argument("--region", default="us-east-1", help="region of the ARNs")
        s.add_argument("--account", default="123456789012", help="account of the ARNs")
        s.add_argument("--no-rate-limits", action="store_true", help="serve as fast as possible")
        s.add_argument("--rate", action="append", default=[], metavar="OPERATION=PER_SECOND", help=RATE_HELP)
        s.add_argument("--token-ttl", type=float, default=3600.0, help="ownership token lifetime, seconds")
        s.add_argument("--latency", type=float, default=0.0, help="added to every API request, seconds")
        s.add_argument("--hook-delay", type=float, default=0.0, help="added before every hook call, seconds")
        s.add_argument("--port", type=int, default=8883, help="MQTT port (mutual TLS), 0: any free port")
        s.add_argument(
            "--alpn-port",
            type=int,
            default=443,
            help="AWS's 443: MQTT on ALPN x-amzn-mqtt-ca and the credentials provider, 0: any free, -1: off",
        )
        s.add_argument(
            "--mqtt",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="an MQTT contract setting (docs/emulator.md)",
        )
    for name, text in (("down", "stop the double started by up"), ("status", "is the double running, and where")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--state", type=Path, default=Path(".iot-double"), help="the double's state directory")
    return p


def knobs_from(args: argparse.Namespace) -> Knobs:
    from iot_emulator.provisioning import DEFAULT_RATES, Knobs

    rates: dict[str, float | None] = {} if args.no_rate_limits else dict(DEFAULT_RATES)
    for spec in args.rate:
        op, _, value = spec.partition("=")
        try:
            rates[op] = float(value) or None
        except ValueError:
            raise CommandError(f"--rate {spec!r}: expected OPERATION=PER_SECOND, e.g. RegisterThing=10") from None
    return Knobs(token_ttl_seconds=args.token_ttl, rates=rates, latency_seconds=args.latency)


def serve(args: argparse.Namespace, env: Environment) -> int:
    from iot_emulator.contract import MqttContract
    from iot_emulator.double import Double

    contract.check_cdk_out(args.cdk_out)
    try:
        mqtt = MqttContract().with_values(**dict(v.partition("=")[::2] for v in args.mqtt))
    except ValueError as exc:
        raise CommandError(f"--mqtt: {exc}") from None
    double = Double(
        args.cdk_out,
        args.state,
        account=args.account,
        region=args.region,
        knobs=knobs_from(args),
        port=args.port,
        alpn_port=None if args.alpn_port < 0 else args.alpn_port,
        contract=mqtt,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        endpoint = double.start()
        for hook in double.hooks.values():
            hook.extra_delay = args.hook_delay
        outputs_file = args.outputs_file or args.state / "outputs.json"
        double.write_outputs(outputs_file)
        info = {
            "pid": os.getpid(),
            "endpoint": endpoint.host,
            "port": endpoint.port,
            "alpnPort": endpoint.alpn_port,
            "caFile": str(endpoint.ca_file),
            "controlPlaneUrl": double.outputs()["IotDouble"]["ControlPlaneUrl"],
            "outputsFile": str(outputs_file),
        }
        (args.state / STATE_FILE).write_text(json.dumps(info, indent=2))
        for note in double.notes:
            env.out(f"note: {note}\n")
        env.out(f"IoT double serving {endpoint.host}:{endpoint.port}; outputs in {outputs_file}\n")
        stop.wait()
        return ExitStatus.OK
    finally:
        (args.state / STATE_FILE).unlink(missing_ok=True)
        double.stop()


def up(args: argparse.Namespace, env: Environment, argv: Sequence[str]) -> int:
    contract.check_cdk_out(args.cdk_out)
    args.state.mkdir(parents=True, exist_ok=True)
    state = args.state / STATE_FILE
    if _running(state) is not None:
        env.out(f"already running: {state.read_text()}\n")
        return ExitStatus.OK
    state.unlink(missing_ok=True)  # left by a double that died
    log_path = args.state / "double.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - this module, the user's own arguments
            [sys.executable, "-m", "iot_emulator", "serve", *argv[1:]], stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if state.exists():
            env.out(state.read_text() + "\n")
            return ExitStatus.OK
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-5:]
            raise CommandError("the double did not start:\n  " + "\n  ".join(tail), ExitStatus.UNAVAILABLE)
        time.sleep(0.2)
    proc.terminate()
    raise CommandError(f"the double did not start within {START_SECONDS} s; see {log_path}", ExitStatus.UNAVAILABLE)


def _running(state: Path) -> dict[str, object] | None:
    if not state.exists():
        return None
    try:
        info: dict[str, object] = json.loads(state.read_text())
        os.kill(int(str(info["pid"])), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def down(args: argparse.Namespace, env: Environment) -> int:
    state = args.state / STATE_FILE
    info = _running(state)
    if info is None:
        env.out("not running\n")
        state.unlink(missing_ok=True)
        return ExitStatus.OK
    pid = int(str(info["pid"]))
    os.kill(pid, signal.SIGTERM)
    for _ in range(150):
        try:
            os.kill(pid, 0)
        except OSError:
            env.out("stopped\n")
            return ExitStatus.OK
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    state.unlink(missing_ok=True)
    env.out("killed (did not stop within 15 s)\n")
    return ExitStatus.OK


def status(args: argparse.Namespace, env: Environment) -> int:
    info = _running(args.state / STATE_FILE)
    if info is None:
        env.out("not running\n")
        return ExitStatus.UNAVAILABLE
    env.out(json.dumps(info, indent=2) + "\n")
    return ExitStatus.OK


def command(argv: Sequence[str], env: Environment) -> int:
    from cloud_assembly import AssemblyError
    from iot_emulator.errors import BackendError, DoubleError

    argv = list(argv)
    args = parser(env).parse_args(argv)
    commands: dict[str, Callable[[], int]] = {
        "serve": lambda: serve(args, env),
        "up": lambda: up(args, env, argv),
        "down": lambda: down(args, env),
        "status": lambda: status(args, env),
    }
    try:
        return commands[args.command]()
    except AssemblyError as exc:  # the cdk.out: the user's input
        raise CommandError(str(exc)) from None
    except (BackendError, DoubleError) as exc:  # mosquitto or moto would not start: the environment
        raise CommandError(str(exc), ExitStatus.UNAVAILABLE) from None


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """In-process entry (tests, scripts): the CLI's contract with an injectable environment."""
    return contract.main(command, sys.argv[1:] if argv is None else argv, env or Environment())


def _command_with_extra(argv: Sequence[str], env: Environment) -> int:
    contract.require_extra("moto", "double", PROG)
    return command(argv, env)


def entry() -> None:
    """The ``iot-double`` console script (the ``double`` extra)."""
    contract.entry(_command_with_extra)
