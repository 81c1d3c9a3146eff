"""``python -m iot_emulator up|down|status|serve``: run the double from a cdk.out.

python -m iot_emulator up --cdk-out cdk.out        # background; prints the endpoint
python -m iot_emulator status
python -m iot_emulator down
python -m iot_emulator serve ...                   # foreground (what "up" runs)
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
from collections.abc import Sequence
from pathlib import Path

from iot_emulator.assembly import AssemblyError
from iot_emulator.broker import BrokerError
from iot_emulator.provisioning import DEFAULT_RATES, Knobs

STATE_FILE = "double.json"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m iot_emulator", description="Local AWS IoT double")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("serve", "up"):
        s = sub.add_parser(name, help="run the double (up: in the background)")
        s.add_argument("--cdk-out", type=Path, default=Path("cdk.out"))
        s.add_argument("--state", type=Path, default=Path(".iot-double"))
        s.add_argument("--outputs-file", type=Path, help="default: <state>/outputs.json")
        s.add_argument("--region", default="us-east-1")
        s.add_argument("--account", default="123456789012")
        s.add_argument("--no-rate-limits", action="store_true", help="serve as fast as possible")
        s.add_argument("--rate", action="append", default=[], metavar="OPERATION=PER_SECOND")
        s.add_argument("--token-ttl", type=float, default=3600.0, help="ownership token lifetime, seconds")
        s.add_argument("--latency", type=float, default=0.0, help="added to every API request, seconds")
        s.add_argument("--hook-delay", type=float, default=0.0, help="added before every hook call, seconds")
        s.add_argument("--port", type=int, default=8883, help="MQTT port (mutual TLS), 0: any free port")
        s.add_argument(
            "--alpn-port", type=int, default=443, help="MQTT on ALPN x-amzn-mqtt-ca (AWS's 443), 0: any free, -1: off"
        )
        s.add_argument("--mqtt", action="append", default=[], metavar="NAME=VALUE", help="MQTT contract setting")
    for name in ("down", "status"):
        s = sub.add_parser(name)
        s.add_argument("--state", type=Path, default=Path(".iot-double"))
    return p


def knobs_from(args: argparse.Namespace) -> Knobs:
    rates: dict[str, float | None] = {} if args.no_rate_limits else dict(DEFAULT_RATES)
    for spec in args.rate:
        op, _, value = spec.partition("=")
        try:
            rates[op] = float(value) or None
        except ValueError:
            raise SystemExit(f"--rate {spec!r}: expected OPERATION=PER_SECOND, e.g. RegisterThing=10") from None
    return Knobs(token_ttl_seconds=args.token_ttl, rates=rates, latency_seconds=args.latency)


def serve(args: argparse.Namespace) -> int:
    from iot_emulator.contract import MqttContract
    from iot_emulator.double import Double

    try:
        contract = MqttContract().with_values(**dict(v.partition("=")[::2] for v in args.mqtt))
    except ValueError as exc:
        raise SystemExit(f"--mqtt: {exc}") from None
    double = Double(
        args.cdk_out,
        args.state,
        account=args.account,
        region=args.region,
        knobs=knobs_from(args),
        port=args.port,
        alpn_port=None if args.alpn_port < 0 else args.alpn_port,
        contract=contract,
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
            print(f"note: {note}", flush=True)
        print(f"IoT double serving {endpoint.host}:{endpoint.port}; outputs in {outputs_file}", flush=True)
        stop.wait()
        return 0
    finally:
        (args.state / STATE_FILE).unlink(missing_ok=True)
        double.stop()


def up(args: argparse.Namespace, argv: Sequence[str]) -> int:
    args.state.mkdir(parents=True, exist_ok=True)
    state = args.state / STATE_FILE
    if state.exists():
        print(f"already running: {state.read_text()}")
        return 0
    log = (args.state / "double.log").open("ab")
    proc = subprocess.Popen(  # noqa: S603 - this module, the user's own arguments
        [sys.executable, "-m", "iot_emulator", "serve", *argv[1:]], stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if state.exists():
            print(state.read_text())
            return 0
        if proc.poll() is not None:
            tail = (args.state / "double.log").read_text(errors="replace").splitlines()[-5:]
            print("the double did not start:\n  " + "\n  ".join(tail), file=sys.stderr)
            return 1
        time.sleep(0.2)
    proc.terminate()
    print("the double did not start within 90 s; see " + str(args.state / "double.log"), file=sys.stderr)
    return 1


def _running(state: Path) -> dict[str, object] | None:
    if not state.exists():
        return None
    info: dict[str, object] = json.loads(state.read_text())
    try:
        os.kill(int(str(info["pid"])), 0)
    except (OSError, ValueError):
        return None
    return info


def down(args: argparse.Namespace) -> int:
    state = args.state / STATE_FILE
    info = _running(state)
    if info is None:
        print("not running")
        state.unlink(missing_ok=True)
        return 0
    pid = int(str(info["pid"]))
    os.kill(pid, signal.SIGTERM)
    for _ in range(150):
        try:
            os.kill(pid, 0)
        except OSError:
            print("stopped")
            return 0
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    state.unlink(missing_ok=True)
    print("killed (did not stop within 15 s)")
    return 0


def status(args: argparse.Namespace) -> int:
    info = _running(args.state / STATE_FILE)
    if info is None:
        print("not running")
        return 3
    print(json.dumps(info, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "up":
            return up(args, argv)
        if args.command == "down":
            return down(args)
        return status(args)
    except (AssemblyError, BrokerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
