"""RegisterThing round trips per second through the local double, rate limits off, N concurrent clients.

Each client is a paho MQTT 5 connection with a temporary claim certificate (CreateProvisioningClaim
through the double's control plane) that loops CreateCertificateFromCsr + RegisterThing. The
double runs as its own process (``python -m iot_emulator serve --no-rate-limits``); its CPU share
is the CPU time of that process and its children (hook workers, mosquitto, moto) over the wall
time of the measured window.

    .venv/bin/python bench/bench_double.py [--clients 16] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "acme-dev-sensors"
CSR_TOPIC = "$aws/certificates/create-from-csr/json"
REGISTER_TOPIC = f"$aws/provisioning-templates/{TEMPLATE}/provision/json"
CLK_TCK = os.sysconf("SC_CLK_TCK")


PARTS = (("moto_app", "moto"), ("moto.server", "moto"), ("hook_worker", "hook worker"), ("mosquitto", "mosquitto"))


def cpu_by_part(root_pid: int) -> dict[str, float]:
    """utime+stime of ``root_pid`` and its live descendants, by part (edge and services, moto, hook, broker)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        names[pid] = next((label for key, label in PARTS if key in command), "double (edge, services)")
    out: dict[str, float] = {}
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        name = names.get(pid, "double (edge, services)")
        out[name] = out.get(name, 0.0) + times.get(pid, 0.0)
        todo += [p for p, parent in parents.items() if parent == pid]
    return out


def cpu_seconds(root_pid: int) -> float:
    return sum(cpu_by_part(root_pid).values())


def csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


class Worker(threading.Thread):
    def __init__(
        self, index: int, endpoint: dict[str, str], claim_dir: Path, serials: list[str], stop: threading.Event
    ):
        super().__init__(daemon=True)
        self.serials, self.stop, self.done = serials, stop, 0
        self.errors: list[str] = []
        self.inbox: dict[str, Any] = {}
        self.cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{index}", protocol=mqtt.MQTTv5)
        self.client.tls_set(
            ca_certs=endpoint["CaFile"], certfile=str(claim_dir / "claim.pem"), keyfile=str(claim_dir / "claim.key")
        )
        self.client.on_message = self._message
        self.client.connect(endpoint["Endpoint"], int(endpoint["Port"]))
        self.client.loop_start()
        topics = [f"{t}/{x}" for t in (CSR_TOPIC, REGISTER_TOPIC) for x in ("accepted", "rejected")]
        self.client.subscribe([(t, 1) for t in topics])
        time.sleep(0.5)

    def _message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self.cond:
            self.inbox[msg.topic] = json.loads(msg.payload)
            self.cond.notify_all()

    def _call(self, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self.cond:
            self.inbox.clear()
        self.client.publish(topic, json.dumps(payload), qos=1)
        with self.cond:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                for suffix in ("accepted", "rejected"):
                    if f"{topic}/{suffix}" in self.inbox:
                        body: dict[str, Any] = self.inbox[f"{topic}/{suffix}"]
                        if suffix == "rejected":
                            raise RuntimeError(body)
                        return body
                self.cond.wait(0.05)
        raise TimeoutError(topic)

    def run(self) -> None:
        for serial in self.serials:
            if self.stop.is_set():
                break
            try:
                created = self._call(CSR_TOPIC, {"certificateSigningRequest": csr()})
                self._call(
                    REGISTER_TOPIC,
                    {
                        "certificateOwnershipToken": created["certificateOwnershipToken"],
                        "parameters": {"SerialNumber": serial, "MacAddress": "AA:BB:CC:DD:EE:FF"},
                    },
                )
                self.done += 1
            except Exception as exc:  # counted and reported, never fatal to the benchmark
                self.errors.append(repr(exc)[:200])
        self.client.disconnect()
        self.client.loop_stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    env = dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [sys.executable, "app.py"], cwd=ROOT, env={**env, "CDK_OUTDIR": str(work / "cdk.out")}, check=True
        )
        state = work / "state"
        double = subprocess.Popen(
            [sys.executable, "-m", "iot_emulator", "serve", "--cdk-out", str(work / "cdk.out"), "--state", str(state),
             "--no-rate-limits", "--region", "eu-west-1", "--port", "0", "--alpn-port", "-1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(300):
                if (state / "double.json").exists():
                    break
                time.sleep(0.2)
            outputs = json.loads((state / "outputs.json").read_text())
            endpoint = outputs["IotDouble"]
            creds = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "eu-west-1"}
            iot = boto3.client("iot", endpoint_url=endpoint["ControlPlaneUrl"], **creds)
            dynamodb = boto3.client("dynamodb", endpoint_url=endpoint["AwsEndpointUrl"], **creds)
            table = outputs["acme-dev-fleet-provisioning"]["AllowlistTableName"]
            per_client = 2000
            serials = [[f"B{c:03d}{i:07d}" for i in range(per_client)] for c in range(args.clients)]
            for group in serials:
                for serial in group[:400]:
                    dynamodb.put_item(
                        TableName=table,
                        Item={"fleet": {"S": "sensors"}, "serial": {"S": serial}, "status": {"S": "ALLOWED"}},
                    )
            claim = iot.create_provisioning_claim(templateName=TEMPLATE)
            (work / "claim.pem").write_text(claim["certificatePem"])
            (work / "claim.key").write_text(claim["keyPair"]["PrivateKey"])
            stop = threading.Event()
            workers = [Worker(i, endpoint, work, serials[i][:400], stop) for i in range(args.clients)]
            parts0, wall0 = cpu_by_part(double.pid), time.monotonic()
            for w in workers:
                w.start()
            time.sleep(args.seconds)
            stop.set()
            done_at_stop = sum(w.done for w in workers)
            parts1, wall1 = cpu_by_part(double.pid), time.monotonic()
            for w in workers:
                w.join(timeout=15)
        finally:
            double.terminate()
            double.wait(timeout=20)
    wall = wall1 - wall0
    cpu0, cpu1 = sum(parts0.values()), sum(parts1.values())
    errors = [e for w in workers for e in w.errors]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"clients: {args.clients}, window: {wall:.1f} s, rate limits: off")
    print(f"RegisterThing round trips (CSR + RegisterThing, hook included): {done_at_stop / wall:.1f} per second")
    print(f"double CPU: {cpu1 - cpu0:.1f} s over {wall:.1f} s = {100 * (cpu1 - cpu0) / wall:.0f}% of one core "
          f"({100 * (cpu1 - cpu0) / wall / (os.cpu_count() or 1):.0f}% of the machine)")  # fmt: skip
    devices = max(done_at_stop, 1)
    print(f"double CPU per provisioned device: {1000 * (cpu1 - cpu0) / devices:.1f} ms "
          f"({', '.join(f'{k} {1000 * (parts1.get(k, 0) - parts0.get(k, 0)) / devices:.1f}' for k in sorted(parts1))})")  # fmt: skip
    print(f"errors: {len(errors)}{' e.g. ' + errors[0] if errors else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
