"""Factory CLI benchmarks against the local double (the double runs as its own process).

    .venv/bin/python bench/bench_factory.py quota     [--devices 1000]   # (a) share of the RegisterThing quota
    .venv/bin/python bench/bench_factory.py speedup   [--devices 400]    # (b) vs one SDK-sample process per device
    .venv/bin/python bench/bench_factory.py memory                       # (c) peak RSS of 10k / 100k-row dry runs
    .venv/bin/python bench/bench_factory.py keystores [--devices 200]   # (d) devices/s per key store, 8 workers

(a) The double enforces the fact sheet's default quotas (RegisterThing and CreateCertificateFromCsr
10/s); the CLI runs with ``--rate 10``; devices/s over the whole batch as a share of 10/s.
(b) Rate limits off: the CLI (8 workers) against the same flow as AWS's SDK sample runs it, one
process per device: make key and CSR, connect with the claim certificate, CreateCertificateFromCsr,
RegisterThing, reconnect as the thing and publish, exit.
(c) ``run --dry-run`` validates every row and plans each device; peak RSS of the process.
(d) 8 workers, plain file keys beside encrypted file keys (PKCS#8, decrypted in memory for the TLS
connection) and PKCS#11 keys (SoftHSM, one login shared by the workers and awscrt): devices/s over
the whole batch with the double's limits off, and at the quota (the double at its default rates,
the CLI at ``--rate 10``); median of 3 runs, each a fresh work dir and fresh serials.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
SAMPLE = ROOT / "bench" / "sample_style_device.py"


class Double:
    def __init__(self, work: Path, *extra: str) -> None:
        subprocess.run(
            [sys.executable, "app.py"], cwd=ROOT, env={**ENV, "CDK_OUTDIR": str(work / "cdk.out")}, check=True
        )
        self.state = work / "state"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "iot_emulator", "serve", "--cdk-out", str(work / "cdk.out"), "--state", str(self.state),
             "--region", "eu-west-1", *extra],
            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(300):
            if (self.state / "double.json").exists():
                break
            time.sleep(0.2)
        self.outputs_file = self.state / "outputs.json"
        outputs = json.loads(self.outputs_file.read_text())
        self.endpoint = outputs["IotDouble"]
        creds = {"aws_access_key_id": "b", "aws_secret_access_key": "b", "region_name": "eu-west-1"}
        self.iot = boto3.client("iot", endpoint_url=self.endpoint["ControlPlaneUrl"], **creds)
        self.dynamodb = boto3.client("dynamodb", endpoint_url=self.endpoint["AwsEndpointUrl"], **creds)
        self.table = outputs["acme-dev-fleet-provisioning"]["AllowlistTableName"]
        claim = self.iot.create_provisioning_claim(templateName="acme-dev-sensors")
        self.claim_cert, self.claim_key = work / "claim.pem", work / "claim.key"
        self.claim_cert.write_text(claim["certificatePem"])
        self.claim_key.write_text(claim["keyPair"]["PrivateKey"])
        self.claim_key.chmod(0o600)

    def allow(self, serials: list[str]) -> None:
        for serial in serials:
            item = {"fleet": {"S": "sensors"}, "serial": {"S": serial}, "status": {"S": "ALLOWED"}}
            self.dynamodb.put_item(TableName=self.table, Item=item)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def manifest(path: Path, serials: list[str]) -> Path:
    path.write_text("SerialNumber,MacAddress\n" + "".join(f"{s},AA:BB:CC:DD:EE:FF\n" for s in serials))
    return path


def run_samples(double: Double, work: Path, serials: list[str]) -> float:
    """One SDK-sample-style process per device, one after the other (a sample's own way); seconds."""
    started = time.monotonic()
    for serial in serials:
        out = work / "sample" / serial
        out.mkdir(parents=True)
        subprocess.run(
            [sys.executable, str(SAMPLE), str(out), serial, double.endpoint["Endpoint"], double.endpoint["Port"],
             double.endpoint["CaFile"], str(double.claim_cert), str(double.claim_key)],
            env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    return time.monotonic() - started


def run_cli(double: Double, work: Path, path: Path, *extra: str, env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "provisioning", "run", str(path), "--outputs", str(double.outputs_file), "--fleet", "sensors",
         "--work-dir", str(work / "station"), "--claim-cert", str(double.claim_cert), "--claim-key", str(double.claim_key), *extra],
        env=env or {**ENV, "PROVISIONING_KEY_PASSPHRASE": ""}, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.monotonic() - started


def softhsm(work: Path) -> dict[str, str]:
    """A SoftHSM token of its own; its configuration goes into the CLI's environment."""
    tokens = work / "tokens"
    tokens.mkdir(parents=True)
    conf = work / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", "1234", "--so-pin", "5678"],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)}, check=True, capture_output=True,
    )  # fmt: skip
    return {"SOFTHSM2_CONF": str(conf), "PROVISIONING_PKCS11_PIN": "1234"}


STORES = {
    "plain file": ["--plaintext-keys"],
    "encrypted file": [],
    "PKCS#11 (SoftHSM)": [
        "--key-store",
        "pkcs11",
        "--pkcs11-module",
        "/usr/lib/softhsm/libsofthsm2.so",
        "--token-label",
        "bench",
    ],
}


def keystores(devices: int, runs: int = 3) -> None:
    if shutil.which("softhsm2-util") is None:
        print("(d) skipped: SoftHSM is not installed (make setup)")
        return
    for limits, double_args, cli_rate, count in (
        ("limits off", ("--no-rate-limits",), "0", devices),
        ("at the quota (10/s)", ("--token-ttl", "3600"), "10", max(devices // 2, 50)),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            double = Double(work, *double_args)
            try:
                secret = work / "passphrase"
                secret.write_text("a long random station passphrase, from a file\n")
                env = {**ENV, "PROVISIONING_KEY_PASSPHRASE_FILE": str(secret), **softhsm(work)}
                for name, extra in STORES.items():
                    rates = []
                    for n in range(runs):
                        tag = f"{list(STORES).index(name)}{n}{cli_rate}"
                        serials = [f"K{tag}{i:06d}" for i in range(count)]
                        double.allow(serials)
                        run_dir = work / f"run-{tag}"
                        run_dir.mkdir()
                        seconds = run_cli(double, run_dir, manifest(run_dir / "m.csv", serials), "--rate", cli_rate,
                                          "--workers", "8", *extra, env=env)  # fmt: skip
                        rates.append(count / seconds)
                    shown = ", ".join(f"{r:.1f}" for r in rates)
                    print(
                        f"(d) {limits:20s} {name:18s} 8 workers, {count} devices: median {statistics.median(rates):.1f} devices/s ({shown})"
                    )
            finally:
                double.stop()


def quota(devices: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        double = Double(work, "--token-ttl", "3600")  # default rates: 10/s per operation
        try:
            serials = [f"Q{i:09d}" for i in range(devices)]
            double.allow(serials)
            seconds = run_cli(
                double, work, manifest(work / "m.csv", serials), "--rate", "10", "--workers", "4", "--plaintext-keys"
            )
        finally:
            double.stop()
    rate = devices / seconds
    print(
        f"(a) {devices} devices in {seconds:.1f} s = {rate:.2f} devices/s = {100 * rate / 10:.1f}% of the 10/s quota (target >= 95%)"
    )


def speedup(devices: int, sample_devices: int = 15) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        double = Double(work, "--no-rate-limits")
        try:
            serials = [f"S{i:09d}" for i in range(devices)]
            samples = [f"P{i:09d}" for i in range(sample_devices)]
            double.allow(serials + samples)
            from bench_double import cpu_seconds

            double_cpu0, cli_cpu0 = cpu_seconds(double.proc.pid), _children_cpu()
            cli_seconds = run_cli(
                double, work, manifest(work / "m.csv", serials), "--rate", "0", "--workers", "8", "--plaintext-keys"
            )
            double_cpu, cli_cpu = cpu_seconds(double.proc.pid) - double_cpu0, _children_cpu() - cli_cpu0
            sample_seconds = run_samples(double, work, samples)
        finally:
            double.stop()
    cli_rate, sample_rate = devices / cli_seconds, sample_devices / sample_seconds
    print(f"(b) CLI, limits off, 8 workers: {devices} devices in {cli_seconds:.1f} s = {cli_rate:.1f} devices/s")
    print(
        f"    SDK-sample style, one process per device: {sample_devices} in {sample_seconds:.1f} s = {sample_rate:.2f} devices/s"
    )
    print(f"    speed-up {cli_rate / sample_rate:.0f}x (target >= 50x)")
    print(
        f"    CPU during the CLI run: CLI {cli_cpu:.1f} s, double {double_cpu:.1f} s over {cli_seconds:.1f} s wall "
        f"({100 * (cli_cpu + double_cpu) / cli_seconds / (os.cpu_count() or 1):.0f}% of the machine)"
    )


def memory() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        double = Double(work, "--no-rate-limits")
        try:
            for rows in (10_000, 100_000):
                path = manifest(work / f"m{rows}.csv", [f"M{i:09d}" for i in range(rows)])
                command = [
                    sys.executable, "-c",
                    "import resource, sys, runpy; sys.argv = ['provisioning'] + sys.argv[1:]; "
                    "exec('try:\\n runpy.run_module(\"provisioning\", run_name=\"__main__\")\\nexcept SystemExit:\\n pass'); "
                    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
                    "run", str(path), "--outputs", str(double.outputs_file), "--fleet", "sensors", "--dry-run", "--plaintext-keys",
                    "--work-dir", str(work / f"station{rows}"),
                    "--claim-cert", str(double.claim_cert), "--claim-key", str(double.claim_key),
                ]  # fmt: skip
                started = time.monotonic()
                result = subprocess.run(command, env=ENV, check=True, capture_output=True, text=True)
                peak_mb = int(result.stdout.strip().splitlines()[-1]) / 1024
                print(
                    f"(c) dry run of {rows:>7,} rows: peak RSS {peak_mb:.0f} MB, {time.monotonic() - started:.1f} s (target < 200 MB, flat)"
                )
        finally:
            double.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("quota", "speedup", "memory", "keystores", "all"))
    parser.add_argument("--devices", type=int)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.which in ("quota", "all"):
        quota(args.devices or 1000)
    if args.which in ("speedup", "all"):
        speedup(args.devices or 400)
    if args.which in ("memory", "all"):
        memory()
    if args.which in ("keystores", "all"):
        keystores(args.devices or 200)
    return 0


if __name__ == "__main__":
    sys.exit(main())
