"""What the reliability campaigns share: a synthesized cdk.out, the double in this process (so a
campaign can restart it and turn its fault knobs), stations as real CLI processes, the invariants.

The double runs in the campaign's process on purpose: its knobs (``Knobs``, the hooks' delay, the
broker, ``drop_connections``) are plain attributes and calls, and a restart is ``stop`` then a new
``Double`` on the same state directory and the same MQTT port, as a restarted service comes back
at the same endpoint. The stations are separate ``python -m provisioning run`` processes, so a
SIGKILL is a real one.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from iot_emulator.double import Double  # noqa: E402
from iot_emulator.provisioning import DEFAULT_RATES, Knobs  # noqa: E402
from provisioning.journal import Device, DeviceState, Journal  # noqa: E402

ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT),
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "PROVISIONING_KEY_PASSPHRASE": "",
}
FLEET = "sensors"
CLAIM_POLICY = "acme-dev-sensors-claim"
THING_PREFIX = "sensor-"


def synth(work: Path) -> Path:
    """``app.py`` into ``work/cdk.out`` (the example config), once per campaign."""
    out = work / "cdk.out"
    if not (out / "manifest.json").exists():
        subprocess.run(
            [sys.executable, "app.py"], cwd=ROOT, env={**ENV, "CDK_OUTDIR": str(out)}, check=True, capture_output=True
        )
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (/proc), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LocalDouble:
    """The double in this process, restartable at the same MQTT port, with a permanent claim certificate."""

    def __init__(self, cdk_out: Path, work: Path, *, rates: dict[str, float | None] | None = None,
                 token_ttl: float = 3600.0) -> None:  # fmt: skip
        self.cdk_out, self.work = cdk_out, work
        self.state = work / "double-state"
        self.knobs = Knobs(token_ttl_seconds=token_ttl, rates=dict(DEFAULT_RATES if rates is None else rates))
        self.port = 0
        self.restarts = 0
        self.outputs_file = work / "outputs.json"
        self.double = self._start()
        self.claim_cert, self.claim_key = self._claim()

    def _start(self) -> Double:
        double = Double(self.cdk_out, self.state, region="eu-west-1", knobs=self.knobs, port=self.port,
                        alpn_port=None)  # fmt: skip
        endpoint = double.start()
        self.port = endpoint.port
        double.write_outputs(self.outputs_file)
        return double

    def _claim(self) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "claim")]))
            .sign(key, hashes.SHA256())
        )
        _, pem = self.double.add_certificate(csr.public_bytes(serialization.Encoding.PEM).decode(), [CLAIM_POLICY])
        cert, key_file = self.work / "claim.pem", self.work / "claim.key"
        cert.write_text(pem)
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_file.chmod(0o600)
        return cert, key_file

    @property
    def claim_ids(self) -> set[str]:
        """Claim certificates: the stacks' and the campaign's (a ``*-claim`` policy attached)."""
        registry = self.double.registry
        ids = set(self.double.claim_certificate_ids.values())
        for cert in registry.certificates():
            if any(p.endswith("-claim") for p in registry.policies_of(registry.cert_arn(cert.id))):
                ids.add(cert.id)
        return ids

    def restart(self) -> None:
        """Stop everything the double runs and start it again on the same state and MQTT port."""
        self.double.stop()
        self.double = self._start()
        self.restarts += 1

    def allow(self, serials: list[str]) -> None:
        table = self.double.outputs()["acme-dev-fleet-provisioning"]["AllowlistTableName"]
        for start in range(0, len(serials), 25):
            items = [
                {"PutRequest": {"Item": {"fleet": {"S": FLEET}, "serial": {"S": s}, "status": {"S": "ALLOWED"}}}}
                for s in serials[start : start + 25]
            ]
            self.double.dynamodb.batch_write_item(RequestItems={table: items})

    def stop(self) -> None:
        self.double.stop()


def write_manifest(path: Path, serials: list[str]) -> Path:
    path.write_text(
        "SerialNumber,MacAddress\n" + "".join(f"{s},AA:BB:CC:DD:EE:{i % 256:02X}\n" for i, s in enumerate(serials))
    )
    return path


@dataclass
class Station:
    """One factory station: ``iot-provision run`` as its own process, restartable on its journal."""

    double: LocalDouble
    work: Path
    manifest: Path
    workers: int = 8
    rate: float = 0.0
    name: str = "station"
    outputs_file: Path | None = None
    extra: tuple[str, ...] = ()
    runs: int = 0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.log = self.work / "station.log"

    def command(self, command: str = "run") -> list[str]:
        outputs = self.outputs_file or self.double.outputs_file
        return [
            sys.executable, "-m", "provisioning", command, str(self.manifest), "--outputs", str(outputs),
            "--fleet", FLEET, "--work-dir", str(self.work / "station"), "--claim-cert", str(self.double.claim_cert),
            "--claim-key", str(self.double.claim_key), "--plaintext-keys", "--workers", str(self.workers),
            "--rate", f"{self.rate:g}", "--station", self.name, *self.extra,
        ]  # fmt: skip

    def start(self, command: str = "run") -> subprocess.Popen[bytes]:
        self.runs += 1
        with self.log.open("ab") as log:
            log.write(f"--- {command} #{self.runs}\n".encode())
            return subprocess.Popen(self.command(command), env=ENV, stdout=log, stderr=subprocess.STDOUT)

    def run(self, command: str = "run") -> int:
        return self.start(command).wait()

    @property
    def journal_path(self) -> Path:
        return self.work / "station" / "journal.sqlite"

    def devices(self) -> list[Device]:
        if not self.journal_path.exists():
            return []
        journal = Journal(self.journal_path, read_only=True)
        try:
            return list(journal.devices())
        finally:
            journal.close()


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL, as a power cut does: no handler runs."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@dataclass
class Check:
    name: str
    violations: list[str]

    def line(self) -> str:
        mark = "ok" if not self.violations else f"VIOLATED x{len(self.violations)}"
        shown = "" if not self.violations else " e.g. " + "; ".join(self.violations[:3])
        return f"  [{mark}] {self.name}{shown}"


def sweep_at_expiry(double: LocalDouble) -> int:
    """What AWS does once the tokens' lifetime has passed: unattached certificates never activated go."""
    return len(double.double.registry.expire_unactivated(time.time() + double.knobs.token_ttl_seconds + 1))


@dataclass
class _Findings:
    outcome: list[str] = field(default_factory=list)
    exactly_once: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    matches: list[str] = field(default_factory=list)
    equal: list[str] = field(default_factory=list)


def _journals(stations: list[Station], found: _Findings) -> tuple[dict[str, Device], dict[str, Path]]:
    journal: dict[str, Device] = {}
    keys: dict[str, Path] = {}
    for station in stations:
        for d in station.devices():
            if d.serial in journal:
                found.exactly_once.append(f"{d.serial}: in two stations' journals")
            journal[d.serial] = d
            keys[d.serial] = station.work / "station" / "keys" / f"{d.serial}.key"
    return journal, keys


def _device(registry: Any, d: Device | None, serial: str, key_file: Path | None, found: _Findings) -> None:
    """One serial: verified with one ACTIVE certificate the journal and the key agree on, or failed with a cause."""
    if d is None:
        found.outcome.append(f"{serial}: not in any journal")
        return
    if d.state is DeviceState.FAILED:
        if not (d.cause or "").strip():
            found.outcome.append(f"{serial}: failed without a cause")
        return
    if d.state is not DeviceState.VERIFIED:
        found.outcome.append(f"{serial}: left in state {d.state.value}")
        return
    thing = d.thing_name or ""
    principals = registry.thing_principals(thing) if registry.thing(thing) else []
    if len(principals) != 1:
        found.exactly_once.append(f"{serial}: thing {thing!r} has {len(principals)} certificates")
        return
    cert_id = principals[0].rsplit("/", 1)[1]
    if cert_id != d.certificate_id:
        found.equal.append(f"{serial}: journal certificate {d.certificate_id} but the double attached {cert_id}")
    cert = registry.certificate(cert_id)
    if cert is None or cert.status != "ACTIVE":
        found.exactly_once.append(f"{serial}: certificate {cert_id} is {cert.status if cert else 'missing'}")
        return
    if (d.certificate_pem or "").strip() != cert.pem.strip():
        found.equal.append(f"{serial}: journal PEM differs from the double's")
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes() if key_file else b"", None)
    except (OSError, ValueError) as exc:
        found.matches.append(f"{serial}: stored key unreadable ({type(exc).__name__})")
        return
    if x509.load_pem_x509_certificate(cert.pem.encode()).public_key() != key.public_key():
        found.matches.append(f"{serial}: certificate {cert_id} is not for the stored key")


def _registry(
    double: LocalDouble, journal: dict[str, Device], serials: list[str], found: _Findings, *, cut_off: bool
) -> None:
    """The double's side: no thing the journals do not show, no orphan, no certificate on two things.

    ``cut_off``: the station was stopped mid-batch on purpose; a thing registered with the very
    certificate the journal holds for a device still under way is the next run's to verify.
    """
    registry = double.double.registry
    wanted = set(serials)
    verified_things = {d.thing_name for d in journal.values() if d.state is DeviceState.VERIFIED}
    for thing in registry.thing_names():
        ours = thing.startswith(THING_PREFIX) and thing.removeprefix(THING_PREFIX) in wanted
        if ours and thing not in verified_things:
            d = journal.get(thing.removeprefix(THING_PREFIX))
            principals = registry.thing_principals(thing)
            under_way = (
                cut_off
                and d is not None
                and d.state in (DeviceState.CERT_RECEIVED, DeviceState.REGISTERED)
                and [p.rsplit("/", 1)[1] for p in principals] == [d.certificate_id]
            )
            if not under_way:
                found.equal.append(f"the double has thing {thing} that no journal shows verified")
        if len(registry.thing_principals(thing)) > 1:
            found.duplicates.append(f"thing {thing} has {len(registry.thing_principals(thing))} certificates")
    claim_ids = double.claim_ids
    for cert in registry.certificates():
        if cert.id in claim_ids:
            continue
        things = registry.principal_things(registry.cert_arn(cert.id))
        if not things:
            found.orphans.append(f"certificate {cert.id} ({cert.status}) is attached to no thing")
        elif len(things) > 1:
            found.duplicates.append(f"certificate {cert.id} is attached to {len(things)} things")


def invariants(
    double: LocalDouble, stations: list[Station], serials: list[str], *, cut_off: bool = False
) -> list[Check]:
    """The campaign's invariants over the stations' journals, key stores and the double's registry."""
    found = _Findings()
    journal, keys = _journals(stations, found)
    for serial in serials:
        _device(double.double.registry, journal.get(serial), serial, keys.get(serial), found)
    _registry(double, journal, serials, found, cut_off=cut_off)
    return [
        Check("every serial provisioned and verified, or failed with a cause", found.outcome),
        Check("every serial provisioned exactly once (one thing, one ACTIVE certificate)", found.exactly_once),
        Check("no orphan certificate (after the token lifetime, as AWS deletes them)", found.orphans),
        Check("no duplicate certificate (a thing with two, or a certificate on two things)", found.duplicates),
        Check("every certificate matches the key the station stored", found.matches),
        Check("journal equals double (things and certificates, both ways)", found.equal),
    ]


def print_checks(checks: list[Check]) -> int:
    print("invariants:")
    for check in checks:
        print(check.line())
    total = sum(len(c.violations) for c in checks)
    print(f"violations: {total}")
    return total


class Sampler:
    """RSS, open files and threads of a process, every ``period`` seconds, into rows."""

    def __init__(self, pid: int, period: float) -> None:
        self.pid, self.period = pid, period
        self.rows: list[tuple[float, float, int, int]] = []
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def sample(self) -> tuple[float, float, int, int] | None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None
        values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss_mb = int(values["VmRSS"].split()[0]) / 1024
        threads = int(values["Threads"])
        return time.monotonic() - self._started, rss_mb, fds, threads

    def _loop(self) -> None:
        while not self._stop.is_set():
            row = self.sample()
            if row is not None:
                self.rows.append(row)
            self._stop.wait(self.period)

    def stop(self) -> list[tuple[float, float, int, int]]:
        self._stop.set()
        self._thread.join()
        return self.rows


def json_dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
