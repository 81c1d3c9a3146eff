"""Identity lifecycle benchmarks against the local double (its own process, rate limits off).

    .venv/bin/python bench/bench_identity.py import [--rows 100000] [--runs 3]
    .venv/bin/python bench/bench_identity.py rotate [--devices 100] [--workers 8] [--runs 3]

``import``: ``iot-provision allowlist import`` of a CSV of fresh serials into the double's
allowlist (moto's DynamoDB, recorded to disk as the double does), as a user runs it (its own
process). Rows/s over the whole command (reading and validating the file, BatchGetItem of the
existing entries, BatchWriteItem of 25), and the command's own figure (the DynamoDB part).
``rotate``: devices provisioned by the CLI, each holding an MQTT 5 connection (awscrt); each
rotation is the signer's checks and CreateCertificateFromCsr + AttachPolicy +
AttachThingPrincipal, the device connecting with its new key and certificate and publishing
QoS 1, then the old certificate INACTIVE and detached, the allowlist updated. Rotations/s with
``--workers`` rotations in flight. Median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_factory import ENV, Double, manifest  # noqa: E402


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"


def bench_import(rows: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        double = Double(work, "--no-rate-limits")
        try:
            walls, own = [], []
            for run in range(runs):
                path = work / f"serials-{run}.csv"
                path.write_text("SerialNumber\n" + "".join(f"SNB{run}{i:09d}\n" for i in range(rows)))
                started = time.monotonic()
                done = subprocess.run(
                    [sys.executable, "-m", "provisioning", "allowlist", "import", str(path),
                     "--outputs", str(double.outputs_file), "--fleet", "sensors"],
                    env={**ENV, "AWS_ACCESS_KEY_ID": "b", "AWS_SECRET_ACCESS_KEY": "b"},
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                wall = time.monotonic() - started
                match = re.search(r"\((\d+) rows/s\)", done.stdout)
                walls.append(rows / wall)
                own.append(float(match.group(1)) if match else 0.0)
                print(f"  run {run + 1}: {rows / wall:.0f} rows/s over the command; {done.stdout.strip()}")
            pages = double.dynamodb.get_paginator("scan").paginate(TableName=double.table, Select="COUNT")
            count = sum(page["Count"] for page in pages)
            print(
                f"allowlist import, {rows} serials, median of {runs}: {statistics.median(walls):.0f} rows/s over the "
                f"command, {statistics.median(own):.0f} rows/s DynamoDB part ({count} items in the table; {machine()})"
            )
        finally:
            double.stop()


def bench_rotate(devices: int, workers: int, runs: int) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from provisioning import keys
    from provisioning import target as target_mod
    from provisioning.allowlist import Allowlist, dynamodb_client
    from provisioning.lifecycle import Lifecycle, iot_client
    from provisioning.mqtt_flow import Credentials, connect

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        double = Double(work, "--no-rate-limits")
        try:
            serials = [f"SNR{i:09d}" for i in range(devices)]
            double.allow(serials)
            station = work / "station"
            subprocess.run(
                [sys.executable, "-m", "provisioning", "run", str(manifest(work / "m.csv", serials)),
                 "--outputs", str(double.outputs_file), "--fleet", "sensors", "--work-dir", str(station),
                 "--claim-cert", str(double.claim_cert), "--claim-key", str(double.claim_key),
                 "--plaintext-keys", "--rate", "0", "--workers", "8"],
                env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            outputs = json.loads(double.outputs_file.read_text())
            values = outputs["acme-dev-fleet-provisioning"]
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "b")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "b")
            life = Lifecycle(
                Allowlist(dynamodb_client("eu-west-1", double.endpoint["AwsEndpointUrl"]), double.table, "sensors"),
                iot_client("eu-west-1", double.endpoint["ControlPlaneUrl"]),
                device_policy=values["FleetSensorsDevicePolicyName"],
            )
            target = target_mod.load(double.outputs_file)
            topic = target.fleet("sensors").check_topic
            state: dict[str, tuple[bytes, bytes, Any]] = {}

            def connect_device(serial: str) -> None:
                thing = f"sensor-{serial}"
                cert = (station / "bundles" / thing / "certificate.pem").read_bytes()
                key = (station / "keys" / f"{serial}.key").read_bytes()
                state[serial] = (cert, key, connect(target, thing, Credentials(cert, key)))

            def rotate(serial: str) -> None:
                from awscrt import mqtt5

                thing = f"sensor-{serial}"
                cert, _, client = state[serial]
                key = ec.generate_private_key(ec.SECP256R1())
                issued = life.start_rotation(serial, current_pem=cert.decode(), csr_pem=keys.build_csr(key, serial))
                new_cert, new_key = issued["certificatePem"].encode(), keys.pem_in_memory(key)
                new = connect(target, thing, Credentials(new_cert, new_key))
                packet = mqtt5.PublishPacket(topic=topic(thing) or "", payload=b"{}", qos=mqtt5.QoS.AT_LEAST_ONCE)
                new.publish(packet).result(10)
                life.finish_rotation(serial)
                client.stop()
                state[serial] = (new_cert, new_key, new)

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(connect_device, serials))
            rates = []
            for run in range(runs):
                started = time.monotonic()
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(rotate, serials))
                seconds = time.monotonic() - started
                rates.append(devices / seconds)
                left = [s for s in serials if len(life.active_certificates(f"sensor-{s}")) != 1]
                print(f"  run {run + 1}: {devices} rotations in {seconds:.1f} s; devices without exactly one "
                      f"active certificate: {len(left)}")  # fmt: skip
            for _, _, client in state.values():
                client.stop()
            print(
                f"rotation, {devices} connected devices, {workers} in flight, median of {runs}: "
                f"{statistics.median(rates):.1f} rotations/s ({machine()})"
            )
        finally:
            double.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    i = sub.add_parser("import", help="allowlist import rows/s")
    i.add_argument("--rows", type=int, default=100_000, help="serials per run")
    i.add_argument("--runs", type=int, default=3, help="runs (median)")
    r = sub.add_parser("rotate", help="rotations/s")
    r.add_argument("--devices", type=int, default=100, help="connected devices")
    r.add_argument("--workers", type=int, default=8, help="rotations in flight")
    r.add_argument("--runs", type=int, default=3, help="runs (median)")
    args = parser.parse_args()
    if args.what == "import":
        bench_import(args.rows, args.runs)
    else:
        bench_rotate(args.devices, args.workers, args.runs)


if __name__ == "__main__":
    main()
