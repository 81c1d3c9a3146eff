"""AWS's own x509 credentials client (awscrt) against a double on port 443, in a network namespace of its own.

``AwsCredentialsProvider.new_x509(endpoint, thing_name, role_alias, tls_ctx)`` takes no port: it
calls ``https://<endpoint>:443/role-aliases/<alias>/credentials``. Tests cannot hold the machine's
port 443 (other test runs may), so ``isolated()`` runs this module in a new network namespace
(``unshare --net``, with ``--map-root-user`` when not root: no privileges needed where user
namespaces are allowed) with only its loopback up; there the double takes 443 and ``localhost``
resolves as usual. The double's CA is given to awscrt's TLS context, so no trust store changes.

    python -m tests.iot_emulator.x509_probe --cdk-out DIR --state DIR --scenario fixture|cli [--work DIR]

prints one JSON object: label -> {"ok": true, "accessKeyId": ...} or {"ok": false, "error": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iot_emulator.double import Double
from iot_emulator.provisioning import Knobs

UNSHARE = shutil.which("unshare")
IP = shutil.which("ip") or "/usr/sbin/ip"


@dataclass(frozen=True)
class Probe:
    label: str
    cert_file: Path
    key_file: Path
    thing_name: str
    role_alias: str


def isolated(argv: list[str], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``argv`` in a new network namespace with loopback up (root: ``unshare -n``; else ``unshare -rn``)."""
    if UNSHARE is None:
        raise RuntimeError("unshare (util-linux) is not installed")
    flags = ["--net"] if os.geteuid() == 0 else ["--net", "--map-root-user"]
    script = f'{IP} link set lo up && exec "$@"'
    return subprocess.run(
        [UNSHARE, *flags, "sh", "-c", script, "sh", *argv],
        capture_output=True, text=True, timeout=timeout, check=False, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip


def can_isolate() -> bool:
    try:
        return isolated(["true"], timeout=30).returncode == 0
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        return False


def get_credentials(double: Double, probe: Probe) -> dict[str, Any]:
    from awscrt import auth, io

    options = io.TlsContextOptions.create_client_with_mtls_from_path(str(probe.cert_file), str(probe.key_file))
    options.override_default_trust_store_from_path(None, str(double.endpoint.ca_file))
    provider = auth.AwsCredentialsProvider.new_x509(
        endpoint=double.endpoint.host,
        thing_name=probe.thing_name,
        role_alias=probe.role_alias,
        tls_ctx=io.ClientTlsContext(options),
    )
    try:
        credentials = provider.get_credentials().result(timeout=60)
    except Exception as exc:  # awscrt raises AwsCrtError for a refusal
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "accessKeyId": credentials.access_key_id, "expiration": str(credentials.expiration)}


def fixture_scenario(double: Double, work: Path) -> list[Probe]:
    """The edge fixture assembly (tests/iot_emulator/edge_assembly.py): a core and a sensor."""
    from tests.iot_emulator import edge_assembly
    from tests.iot_emulator.helpers import identity

    probes = []
    for label, policy in (("core", "edge-core"), ("sensor", "edge-sensor")):
        ident = identity(work, f"x509-{label}")
        certificate_id, pem = double.add_certificate(ident.csr, [policy])
        cert_file = work / f"x509-{label}.pem"
        cert_file.write_text(pem)
        double.add_thing(f"x509-{label}", certificate_id=certificate_id)
        probes.append(Probe(label, cert_file, ident.key_file, f"x509-{label}", edge_assembly.ALIAS))
    return probes


def _cli(*args: str) -> None:
    """The factory CLI as a user runs it (its own process)."""
    env = {
        **os.environ, "AWS_ACCESS_KEY_ID": "factory", "AWS_SECRET_ACCESS_KEY": "factory",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "provisioning", *args], capture_output=True, text=True, env=env, check=False,
        cwd=Path(__file__).resolve().parents[2], timeout=240,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"iot-provision {args[0]} exited {done.returncode}: {done.stdout}{done.stderr}")


def cli_scenario(double: Double, work: Path) -> list[Probe]:
    """The example app's synth: a core of fleet ``cores`` and a sensor, both provisioned by the factory CLI
    (trusted user); the core's config.yaml says what the nucleus would call, and awscrt calls it."""
    import yaml

    outputs = work / "outputs.json"
    core_serial, sensor_serial = "GC00000042", "SNX0000042"
    double.allow_serial("cores", core_serial)
    double.allow_serial("sensors", sensor_serial)
    (work / "cores.csv").write_text(f"SerialNumber\n{core_serial}\n")
    (work / "sensors.csv").write_text(f"SerialNumber,MacAddress\n{sensor_serial},AA:BB:CC:DD:EE:42\n")
    common = ("--outputs", str(outputs), "--trusted-user", "--plaintext-keys", "--rate", "0")
    _cli("run", str(work / "cores.csv"), "--fleet", "cores", "--work-dir", str(work / "cores"), *common)
    _cli("run", str(work / "sensors.csv"), "--fleet", "sensors", "--work-dir", str(work / "sensors"), *common)
    (config_file,) = (work / "cores" / "bundles").glob("*/greengrass/config.yaml")
    config = yaml.safe_load(config_file.read_text())
    nucleus = config["services"]["aws.greengrass.Nucleus"]["configuration"]
    device_root = work / "device"  # what the config's rootpath stands for on the device
    key = device_root / "private.key"
    _cli("export-key", "--work-dir", str(work / "cores"), "--device", core_serial, "--out", str(key),
         "--plaintext-keys", "--move")  # fmt: skip
    if config["system"]["privateKeyPath"] != f"{config['system']['rootpath']}/private.key":
        raise RuntimeError(f"config.yaml names another key: {config['system']['privateKeyPath']}")
    if nucleus["iotCredEndpoint"] != double.endpoint.host:
        raise RuntimeError(f"config.yaml names another credentials endpoint: {nucleus['iotCredEndpoint']}")
    (work / "config.json").write_text(json.dumps(config))
    (sensor_bundle,) = (work / "sensors" / "bundles").glob("*/device.json")
    sensor = json.loads(sensor_bundle.read_text())
    return [
        Probe("core", config_file.parents[1] / "certificate.pem", key, config["system"]["thingName"],
              nucleus["iotRoleAlias"]),
        Probe("sensor", sensor_bundle.parent / "certificate.pem",
              (sensor_bundle.parent / sensor["key"]["file"]).resolve(), sensor["thingName"], nucleus["iotRoleAlias"]),
    ]  # fmt: skip


SCENARIOS: dict[str, Callable[[Double, Path], list[Probe]]] = {"fixture": fixture_scenario, "cli": cli_scenario}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.iot_emulator.x509_probe")
    parser.add_argument("--cdk-out", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    args = parser.parse_args(argv)
    double = Double(args.cdk_out, args.state, region="eu-west-1", knobs=Knobs(rates={}), port=0, alpn_port=443)
    double.start()
    try:
        if double.endpoint.alpn_port != 443:
            print(json.dumps({"error": f"port 443 not bound: {double.notes}"}))
            return 1
        args.work.mkdir(parents=True, exist_ok=True)
        double.write_outputs(args.work / "outputs.json")
        probes = SCENARIOS[args.scenario](double, args.work)
        print(json.dumps({p.label: get_credentials(double, p) for p in probes}))
    finally:
        double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
