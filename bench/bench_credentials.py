"""IoT credentials provider requests per second through the local double, N concurrent clients.

Each client is a thread holding one mutual-TLS HTTP/1.1 keep-alive connection to the double's
port-443-style listener (no ALPN ``x-amzn-mqtt-ca``: the credentials provider), sending
``GET /role-aliases/<alias>/credentials`` with ``x-amzn-iot-thingname`` as the Greengrass nucleus
does; every answer is checked to be 200 with credentials. The double runs as its own process
(``python -m iot_emulator serve``) on the example app's synth (or ``--cdk-out``); each request is
authorized with the shared policy evaluator and minted by moto's STS (AssumeRole). Several windows
are measured; the median is the figure.

    .venv/bin/python bench/bench_credentials.py [--clients 16] [--seconds 10] [--runs 5]
        [--cdk-out DIR --role-alias NAME]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts import outputs as contract  # noqa: E402 - after the path set-up

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root: int) -> float:
    """utime+stime of ``root`` and its live descendants (the double, moto, mosquitto)."""
    parents, times = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += [p for p, parent in parents.items() if parent == pid]
    return total


class Client(threading.Thread):
    def __init__(self, endpoint: dict[str, str], cert: Path, key: Path, thing: str, alias: str) -> None:
        super().__init__(daemon=True)
        context = ssl.create_default_context(cafile=endpoint["CaFile"])
        context.load_cert_chain(str(cert), str(key))
        self.conn = http.client.HTTPSConnection(
            endpoint["CredentialProviderEndpoint"], int(endpoint["CredentialProviderPort"]), context=context, timeout=30
        )
        self.path, self.headers = f"/role-aliases/{alias}/credentials", {"x-amzn-iot-thingname": thing}
        self.done = 0
        self.errors: list[str] = []
        self.counting = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.conn.request("GET", self.path, headers=self.headers)
                response = self.conn.getresponse()
                body = json.loads(response.read())
                if response.status != 200 or "accessKeyId" not in body.get("credentials", {}):
                    raise RuntimeError(f"{response.status} {body}")
                if self.counting.is_set():
                    self.done += 1
            except Exception as exc:  # counted and reported, never fatal to the benchmark
                self.errors.append(repr(exc)[:200])
                self.conn.close()
        self.conn.close()


def role_alias_of(outputs: dict[str, Any]) -> str | None:
    values = next((v for v in outputs.values() if isinstance(v, dict) and contract.FLEET_NAMES in v), {})
    for fleet in contract.read_fleets(values).values() if values else []:
        if fleet.role_alias_name:
            return fleet.role_alias_name
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cdk-out", type=Path, help="serve this cloud assembly (default: synthesize app.py)")
    parser.add_argument("--role-alias", help="the role alias (default: the first Greengrass core fleet's)")
    args = parser.parse_args()
    env = dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cdk_out = args.cdk_out
        if cdk_out is None:
            cdk_out = work / "cdk.out"
            subprocess.run([sys.executable, "app.py"], cwd=ROOT, env={**env, "CDK_OUTDIR": str(cdk_out)}, check=True)
        state = work / "state"
        double = subprocess.Popen(
            [sys.executable, "-m", "iot_emulator", "serve", "--cdk-out", str(cdk_out), "--state", str(state),
             "--no-rate-limits", "--region", "eu-west-1", "--port", "0", "--alpn-port", "0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        )  # fmt: skip
        try:
            for _ in range(300):
                if (state / "double.json").exists():
                    break
                time.sleep(0.2)
            outputs = json.loads((state / "outputs.json").read_text())
            endpoint = outputs["IotDouble"]
            alias = args.role_alias or role_alias_of(outputs)
            if alias is None:
                print("no role alias in the synth: pass --cdk-out and --role-alias", file=sys.stderr)
                return 2
            creds = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "eu-west-1"}
            iot = boto3.client("iot", endpoint_url=endpoint["ControlPlaneUrl"], **creds)
            prefix = f"arn:aws:iot:eu-west-1:{outputs.get('IotDouble', {}).get('Account', '123456789012')}"
            iot.create_policy(policyName="bench-credentials", policyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate",
                               "Resource": f"{prefix}:rolealias/{alias}"}],
            }))  # fmt: skip
            clients = []
            for i in range(args.clients):
                created = iot.create_keys_and_certificate(setAsActive=True)
                iot.attach_policy(policyName="bench-credentials", target=created["certificateArn"])
                thing = f"bench-core-{i}"
                iot.create_thing(thingName=thing)
                iot.attach_thing_principal(thingName=thing, principal=created["certificateArn"])
                cert, key = work / f"{thing}.pem", work / f"{thing}.key"
                cert.write_text(created["certificatePem"])
                key.write_text(created["keyPair"]["PrivateKey"])
                key.chmod(0o600)
                clients.append(Client(endpoint, cert, key, thing, alias))
            for c in clients:
                c.start()
            time.sleep(1.0)  # connections up, warm
            rates, cpus = [], []
            for _ in range(args.runs):
                before = sum(c.done for c in clients)
                cpu0, wall0 = cpu_seconds(double.pid), time.monotonic()
                for c in clients:
                    c.counting.set()
                time.sleep(args.seconds)
                for c in clients:
                    c.counting.clear()
                cpu1, wall1 = cpu_seconds(double.pid), time.monotonic()
                rates.append((sum(c.done for c in clients) - before) / (wall1 - wall0))
                cpus.append((cpu1 - cpu0) / (wall1 - wall0))
            for c in clients:
                c.stop.set()
            for c in clients:
                c.join(timeout=15)
        finally:
            double.terminate()
            double.wait(timeout=20)
    errors = [e for c in clients for e in c.errors]
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")  # fmt: skip
    print(f"clients: {args.clients} (keep-alive mutual-TLS connections), windows: {args.runs} x {args.seconds:g} s")
    print(f"credentials requests per second: median {statistics.median(rates):.1f} "
          f"(runs: {', '.join(f'{r:.1f}' for r in rates)})")  # fmt: skip
    print(f"double CPU (with moto): median {100 * statistics.median(cpus):.0f}% of one core")
    print(f"errors: {len(errors)}{' e.g. ' + errors[0] if errors else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
